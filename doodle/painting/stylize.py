"""Painting photos with a trained photo stylizer (Johnson et al. 2016): one forward pass per photo."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from doodle.generators.base import MaskGenerator
from doodle.images import fit_size, image_size, resize_labels, resize_rgb, to_tensor
from doodle.maps.palette import Palette
from doodle.painting.render import Painter, Rendered, check_render_fits, paint_files, run_generator, write_timed
from doodle.training.photodata import photo_and_labels, photo_map


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
    >>> from doodle.generators.resnet import ResnetGenerator
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
    return run_generator(model, labels, precision, "stylizer", image=to_tensor(photo))


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

    The pipeline is :func:`doodle.painting.render.paint_files`.

    Parameters
    ----------
    checkpoint : path-like
        ``RUN/checkpoint.pt`` of ``doodle train --content``.
    content : path-like
        A photo, or a folder of them (:data:`doodle.images.IMAGE_SUFFIXES`).
    out : path-like
        Output PNG (one photo) or folder (``out/<stem>.png`` per photo; see
        :func:`doodle.painting.render.plan_outputs`).
    content_map : path-like, optional
        The photo's semantic map, painted with the style map's colours (for a
        folder of photos: a folder of maps with the photos' names); only for
        stylizers trained with ``--content-maps``.
    size : int, optional
        Longest side of the output in pixels; default: the photo's own size.
    precision, device : str
        As for :func:`doodle.painting.render.render_files`.

    Yields
    ------
    Rendered
        Each image written, with the time of its forward pass.
    """
    def prepare(model: MaskGenerator, palette: Palette, jobs: list[tuple[Path, Path]]) -> Painter:
        check_stylizer(model, f"checkpoint {checkpoint}")
        maps: dict[Path, Path] = {}
        if content_map is not None:
            map_path = Path(content_map)
            if model.k == 1:
                raise ValueError(f"checkpoint {checkpoint} was trained without maps (one region); "
                                 f"leave out --content-map")
            if Path(content).is_dir() != map_path.is_dir():
                raise ValueError("give a map file for a photo, or a folder of maps for a folder of photos")
            maps = {source: photo_map(source, map_path) if map_path.is_dir() else map_path for source, _ in jobs}
        elif model.k > 1:
            raise ValueError(f"checkpoint {checkpoint} paints {model.k} regions: give the photo's map (--content-map)")

        def paint(source: Path, target: Path) -> list[Rendered]:
            check_render_fits(model, *fit_size(*image_size(source), size), f"stylizing {source}")
            photo, labels = photo_and_labels(source, maps.get(source), palette)
            if size is not None:
                shape = fit_size(*photo.shape[:2], size)
                photo, labels = resize_rgb(photo, shape), resize_labels(labels, shape)
            return [write_timed(target, 0, lambda: stylize_photo(model, photo, labels, precision=precision))]

        return paint

    return paint_files(checkpoint, content, out, prepare, device=device, what="photo", option="--content")
