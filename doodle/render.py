"""Rendering doodles with a trained generator: one forward pass per image."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Iterator, NamedTuple

import numpy as np
import torch

from doodle.checkpoint import generator_from_checkpoint, load_checkpoint
from doodle.device import resolve_device
from doodle.generator import MaskGenerator
from doodle.images import save_rgb
from doodle.palette import Palette
from doodle.precision import autocast, resolve_precision
from doodle.semantic import load_target_map, one_hot


#: Map files a folder given to ``doodle render --map`` may hold.
MAP_SUFFIXES = (".png", ".jpg", ".jpeg")


class Rendered(NamedTuple):
    """One image written by :func:`render_file`."""

    path: Path
    seed: int
    seconds: float  #: wall time of the forward pass alone


def render_labels(
    model: MaskGenerator,
    labels: np.ndarray,
    seed: int = 0,
    precision: str = "auto",
) -> torch.Tensor:
    """Render a label map with a generator.

    Parameters
    ----------
    model : MaskGenerator
        Trained generator (put it in eval mode; see
        :func:`doodle.checkpoint.generator_from_checkpoint`).
    labels : np.ndarray
        ``uint8`` ``(H, W)`` region indices in ``0 .. model.k - 1``.
    seed : int
        Noise seed: the same seed gives the same image, others give variations.
    precision : {"auto", "fp32", "bf16"}
        ``auto`` uses bf16 autocast where the hardware runs it natively (about
        2x faster on such CPUs; invisible after quantization to 8 bits).

    Returns
    -------
    torch.Tensor
        ``float32`` ``(1, 3, H, W)`` RGB in [0, 1], on the model's device.

    Examples
    --------
    >>> from doodle.generator import DoodleGenerator
    >>> g = DoodleGenerator(k=2, scales=2, width=4).eval()
    >>> render_labels(g, np.zeros((5, 9), np.uint8), precision="fp32").shape
    torch.Size([1, 3, 5, 9])
    """
    if getattr(model, "image_channels", 0):
        raise ValueError("this generator stylizes photos (trained with --content), it does not paint doodles; "
                         "use `doodle stylize --content PHOTO`")
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f"expected a label map of shape (H, W), got shape {labels.shape}")
    if labels.size and int(labels.max()) >= model.k:
        raise ValueError(
            f"label map uses region {int(labels.max())} but the generator knows {model.k} regions (0..{model.k - 1})"
        )
    device = next(model.parameters()).device
    resolved = resolve_precision(precision, device)
    masks = one_hot(labels, model.k).to(device)
    with torch.inference_mode(), autocast(resolved, device):
        return model(masks, noise_seed=seed).float()


def render_file(
    model: MaskGenerator,
    palette: Palette | np.ndarray,
    map_path: str | os.PathLike,
    out_path: str | os.PathLike,
    size: int | None = None,
    seed: int = 0,
    variations: int = 1,
    precision: str = "auto",
) -> list[Rendered]:
    """Render one semantic map file to PNG(s).

    Parameters
    ----------
    model : MaskGenerator
        Trained generator, in eval mode.
    palette : Palette or np.ndarray
        The checkpoint's regions (or ``uint8`` ``(K, 3)`` colours); each map
        colour goes to the region of the nearest style-map colour, merged ones
        included, and colours far from all of them are refused.
    map_path : path-like
        The doodle: an RGB image painted with the palette colours.
    out_path : path-like
        Output PNG. With ``variations > 1`` the files are
        ``<stem>_v0.png, <stem>_v1.png, ...`` next to it.
    size : int, optional
        Longest side of the output in pixels; default: the map's own size.
    seed : int
        Noise seed of the first image; variation ``i`` uses ``seed + i``.
    variations : int
        Number of images to render.
    precision : {"auto", "fp32", "bf16"}
        See :func:`render_labels`.

    Returns
    -------
    list of Rendered
        What was written, with the time of each forward pass.
    """
    if variations < 1:
        raise ValueError(f"variations must be at least 1, got {variations}")
    # Snapping happens before the (nearest) resize, so borders stay crisp and
    # no in-between colours are invented.
    labels = load_target_map(map_path, palette, size=size)
    out_path = Path(out_path)
    if variations == 1:
        targets = [out_path]
    else:
        targets = [out_path.with_name(f"{out_path.stem}_v{i}{out_path.suffix}") for i in range(variations)]
    written = []
    for i, target in enumerate(targets):
        start = time.perf_counter()
        image = render_labels(model, labels, seed=seed + i, precision=precision)
        seconds = time.perf_counter() - start
        save_rgb(target, image)
        written.append(Rendered(target, seed + i, seconds))
    return written


def plan_outputs(map_path: Path, out: Path) -> list[tuple[Path, Path]]:
    """Pair each map to render with its output PNG.

    A directory of maps (``*.png``, ``*.jpg``, ``*.jpeg``) goes to the directory
    ``out`` as ``out/<stem>.png``; a single map goes to ``out``, or to
    ``out/<stem>.png`` if ``out`` is an existing directory.

    Examples
    --------
    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> _ = (d / "a.png").write_bytes(b""); _ = (d / "b.jpg").write_bytes(b"")
    >>> [(src.name, dst.as_posix()) for src, dst in plan_outputs(d, Path("out"))]
    [('a.png', 'out/a.png'), ('b.jpg', 'out/b.png')]
    """
    if not map_path.exists():
        raise FileNotFoundError(f"map not found: {map_path}")
    if map_path.is_dir():
        maps = sorted(p for p in map_path.iterdir() if p.is_file() and p.suffix.lower() in MAP_SUFFIXES)
        if not maps:
            raise ValueError(f"no {', '.join('*' + s for s in MAP_SUFFIXES)} maps in {map_path}")
        if out.exists() and not out.is_dir():
            raise ValueError(f"--map is a directory, so -o must be a directory too, but {out} is a file")
        stems = [p.stem for p in maps]
        clashes = sorted({s for s in stems if stems.count(s) > 1})
        if clashes:
            raise ValueError(f"maps {', '.join(clashes)} exist with several extensions in {map_path}; keep one of each")
        return [(p, out / f"{p.stem}.png") for p in maps]
    if out.is_dir():
        return [(map_path, out / f"{map_path.stem}.png")]
    return [(map_path, out)]


def render_files(
    checkpoint: str | os.PathLike,
    map_path: str | os.PathLike,
    out: str | os.PathLike,
    size: int | None = None,
    seed: int = 0,
    variations: int = 1,
    precision: str = "auto",
    device: str = "auto",
) -> Iterator[Rendered]:
    """``doodle render``: render a map file, or a folder of them, with a checkpoint's generator.

    Every output path is planned (and bad paths refused) before the model is
    loaded; images are yielded as they are written. See :func:`plan_outputs`
    and :func:`render_file` for the parameters; ``device`` as
    :func:`doodle.device.resolve_device` (a checkpoint from any device loads).
    """
    jobs = plan_outputs(Path(map_path), Path(out))
    target = resolve_device(device)
    model, palette = generator_from_checkpoint(load_checkpoint(checkpoint))
    model.to(target)
    for source, target in jobs:
        yield from render_file(model, palette, source, target, size=size, seed=seed, variations=variations,
                               precision=precision)
