"""Painting photos with a trained photo stylizer (Johnson et al. 2016): one forward pass per photo."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from doodle.checkpoint import generator_from_checkpoint, load_checkpoint
from doodle.device import resolve_device
from doodle.generator import MaskGenerator
from doodle.images import fit_size, resize_labels, resize_rgb, save_rgb, to_tensor
from doodle.photodata import photo_and_labels, photo_map
from doodle.precision import autocast, resolve_precision
from doodle.render import Rendered, plan_outputs
from doodle.semantic import one_hot


def check_stylizer(model: MaskGenerator, what: str = "this generator") -> None:
    """Refuse a doodle generator where a photo stylizer is needed, saying which command it is for."""
    if getattr(model, "image_channels", 0) != 3:
        raise ValueError(f"{what} paints doodles, not photos (trained without --content); "
                         f"use `doodle render --map`, or train with `doodle train --content PHOTOS`")


def stylize_photo(model: MaskGenerator, photo: np.ndarray, labels: np.ndarray | None = None,
                  precision: str = "auto") -> torch.Tensor:
    """Paint one photo with a photo stylizer.

    Parameters
    ----------
    model : MaskGenerator
        A generator trained with ``--content`` (``image_channels=3``), in eval mode.
    photo : ndarray, uint8, shape (H, W, 3)
        Any size.
    labels : ndarray, uint8, shape (H, W), optional
        The photo's regions (indices of the style's palette); default: all region 0.
    precision : {"auto", "fp32", "bf16"}

    Returns
    -------
    Tensor, float32, shape (1, 3, H, W)
        RGB in [0, 1], on the model's device.

    Examples
    --------
    >>> from doodle.resnet_generator import ResnetGenerator
    >>> g = ResnetGenerator(k=1, width=4, blocks=1, noise_channels=0, image_channels=3).eval()
    >>> stylize_photo(g, np.zeros((5, 9, 3), np.uint8), precision="fp32").shape
    torch.Size([1, 3, 5, 9])
    """
    check_stylizer(model)
    if photo.ndim != 3 or photo.shape[2] != 3 or photo.dtype != np.uint8:
        raise ValueError(f"expected a uint8 photo of shape (H, W, 3), got {photo.dtype} {photo.shape}")
    if labels is None:
        labels = np.zeros(photo.shape[:2], np.uint8)
    if labels.shape != photo.shape[:2]:
        raise ValueError(f"map is {labels.shape[1]}x{labels.shape[0]} but photo is {photo.shape[1]}x{photo.shape[0]}")
    if labels.size and int(labels.max()) >= model.k:
        raise ValueError(f"map uses region {int(labels.max())} but the stylizer knows {model.k} regions")
    device = next(model.parameters()).device
    image = to_tensor(photo).to(device)
    with torch.inference_mode(), autocast(resolve_precision(precision, device), device):
        return model(one_hot(labels, model.k).to(device), image=image).float()


def stylize_files(
    checkpoint: str | os.PathLike,
    content: str | os.PathLike,
    out: str | os.PathLike,
    content_map: str | os.PathLike | None = None,
    size: int | None = None,
    precision: str = "auto",
    device: str = "auto",
) -> Iterator[Rendered]:
    """``doodle stylize``: paint a photo, or a folder of photos, with a checkpoint's stylizer.

    Parameters
    ----------
    checkpoint : path-like
        ``RUN/checkpoint.pt`` of ``doodle train --content``.
    content : path-like
        A photo, or a folder of them (``*.png``, ``*.jpg``, ``*.jpeg``).
    out : path-like
        Output PNG (one photo) or folder (``out/<stem>.png`` per photo; see
        :func:`doodle.render.plan_outputs`).
    content_map : path-like, optional
        The photo's semantic map, painted with the style map's colours (for a
        folder of photos: a folder of maps with the photos' names); only for
        stylizers trained with ``--content-maps``.
    size : int, optional
        Longest side of the output in pixels; default: the photo's own size.
    precision, device : str
        As for :func:`doodle.render.render_files`.

    Yields
    ------
    Rendered
        Each image written, with the time of its forward pass.
    """
    jobs = plan_outputs(Path(content), Path(out))
    model, palette = generator_from_checkpoint(load_checkpoint(checkpoint))
    check_stylizer(model, f"checkpoint {checkpoint}")
    maps = None
    if content_map is not None:
        content_map = Path(content_map)
        if model.k == 1:
            raise ValueError(f"checkpoint {checkpoint} was trained without maps (one region); leave out --content-map")
        if Path(content).is_dir() != content_map.is_dir():
            raise ValueError("give a map file for a photo, or a folder of maps for a folder of photos")
        maps = [photo_map(source, content_map) if content_map.is_dir() else content_map for source, _ in jobs]
    elif model.k > 1:
        raise ValueError(f"checkpoint {checkpoint} paints {model.k} regions: give the photo's map (--content-map)")
    model.to(resolve_device(device))
    for i, (source, target) in enumerate(jobs):
        photo, labels = photo_and_labels(source, None if maps is None else maps[i], palette)
        if size is not None:
            shape = fit_size(*photo.shape[:2], size)
            photo, labels = resize_rgb(photo, shape), resize_labels(labels, shape)
        start = time.perf_counter()
        image = stylize_photo(model, photo, labels, precision=precision)
        seconds = time.perf_counter() - start
        save_rgb(target, image)
        yield Rendered(target, 0, seconds)
