"""Rendering doodles with a trained generator: one forward pass per image."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable, Iterator, NamedTuple

import numpy as np
import torch

from doodle.device import resolve_device
from doodle.generators.base import MaskGenerator
from doodle.images import IMAGE_SUFFIXES, fit_size, image_size, list_images, save_rgb
from doodle.lossnet.memory import GIB, available_memory
from doodle.maps.palette import Palette
from doodle.maps.semantic import load_target_map, one_hot
from doodle.precision import autocast, resolve_precision
from doodle.training.checkpoint import generator_from_checkpoint, load_checkpoint


class Rendered(NamedTuple):
    """One image written by :func:`render_file` or :func:`doodle.painting.stylize.stylize_files`."""

    path: Path
    seed: int
    seconds: float  #: wall time of the forward pass alone


#: Paints one input file of :func:`paint_files` to its output path: ``(source, target) -> images written``.
Painter = Callable[[Path, Path], list[Rendered]]


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
        :func:`doodle.training.checkpoint.generator_from_checkpoint`).
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
    >>> from doodle.generators.texture import DoodleGenerator
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
    return run_generator(model, labels, precision, "generator", noise_seed=seed)


def run_generator(model: MaskGenerator, labels: np.ndarray, precision: str, what: str,
                  **inputs: object) -> torch.Tensor:
    """One inference pass of a generator on a label map, refusing labels it does not know.

    Parameters
    ----------
    model : MaskGenerator
        In eval mode.
    labels : np.ndarray
        ``uint8`` ``(H, W)`` region indices.
    precision : {"auto", "fp32", "bf16"}
        See :func:`render_labels`.
    what : str
        What the model is, for messages.
    **inputs
        The model's other inputs (``noise_seed``, ``image``: tensors are moved to its device).

    Returns
    -------
    torch.Tensor
        ``float32`` ``(1, 3, H, W)`` RGB in [0, 1], on the model's device.
    """
    if labels.size and int(labels.max()) >= model.k:
        raise ValueError(
            f"label map uses region {int(labels.max())} but the {what} knows {model.k} regions (0..{model.k - 1})"
        )
    device = next(model.parameters()).device
    inputs = {name: x.to(device) if isinstance(x, torch.Tensor) else x for name, x in inputs.items()}
    with torch.inference_mode(), autocast(resolve_precision(precision, device), device):
        return model(one_hot(labels, model.k).to(device), **inputs).float()


def estimate_render_bytes(model: MaskGenerator, height: int, width: int) -> int:
    """Bytes one inference pass of ``model`` holds at once at ``height x width`` pixels, at least.

    The float32 input (one-hot regions, noise, photo) and output at full
    resolution, and two feature maps of the model's full-resolution width
    (``width`` channels: a resnet keeps its stem's output as a skip while it
    paints the next); deeper, coarser features add less than these.

    Examples
    --------
    >>> from doodle.generators.texture import DoodleGenerator
    >>> estimate_render_bytes(DoodleGenerator(k=3, scales=2, width=4), 10, 10)  # 4 B x 100 px x (3+4+0+8+3)
    7200
    """
    channels = (model.k + model.noise_channels + getattr(model, "image_channels", 0)
                + 2 * getattr(model, "width", 0) + 3)
    return 4 * height * width * channels


def free_bytes(device: torch.device) -> int:
    """Bytes a render on ``device`` can still take: host memory, or the GPU's free memory and torch's cache on it.

    Blocks torch cached after the previous image of a folder count as free:
    the caching allocator hands them out again, though the driver reports them used.
    """
    if device.type == "cuda":
        return (torch.cuda.mem_get_info(device)[0] + torch.cuda.memory_reserved(device)
                - torch.cuda.memory_allocated(device))
    return available_memory()


def check_render_fits(model: MaskGenerator, height: int, width: int, what: str) -> None:
    """Refuse, before any pixel is resized, a render that cannot fit in the memory of the model's device.

    An absurd ``--size`` would otherwise end in a traceback from the allocator,
    or in the kernel's OOM killer after minutes of swapping.

    Parameters
    ----------
    model : MaskGenerator
        On the device it will render on.
    height, width : int
        Output size in pixels.
    what : str
        The job, starting the message (``"rendering map.png"``).

    Raises
    ------
    MemoryError
        One line with the need, what is free, and to use a smaller ``--size``.
    """
    free = free_bytes(next(model.parameters()).device)
    need = estimate_render_bytes(model, height, width)
    if need > free:
        raise MemoryError(f"{what} at {width}x{height} pixels needs at least {need / GIB:.1f} GiB but only "
                          f"{free / GIB:.1f} GiB is free; use a smaller --size")


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
    # Checked from the file's header, before the map is resized to the output size.
    check_render_fits(model, *fit_size(*image_size(map_path), size), f"rendering {map_path}")
    # Snapping happens before the (nearest) resize, so borders stay crisp and
    # no in-between colours are invented.
    labels = load_target_map(map_path, palette, size=size)
    out_path = Path(out_path)
    if variations == 1:
        targets = [out_path]
    else:
        targets = [out_path.with_name(f"{out_path.stem}_v{i}{out_path.suffix}") for i in range(variations)]
    return [write_timed(target, seed + i, lambda: render_labels(model, labels, seed=seed + i, precision=precision))
            for i, target in enumerate(targets)]


def write_timed(path: Path, seed: int, forward: Callable[[], torch.Tensor]) -> Rendered:
    """Run ``forward`` (a forward pass, timed alone) and save its image to ``path`` atomically.

    Examples
    --------
    >>> import tempfile
    >>> out = Path(tempfile.mkdtemp()) / "black.png"
    >>> write_timed(out, 0, lambda: torch.zeros(1, 3, 2, 2)).path.exists()
    True
    """
    start = time.perf_counter()
    try:
        image = forward()
    except RuntimeError as exc:
        # What check_render_fits lets through can still fail to allocate (the
        # estimate is a lower bound): torch says so with a RuntimeError, CPU and CUDA.
        if "allocate" not in str(exc):
            raise
        raise MemoryError(f"painting {path.name} ran out of memory; use a smaller --size") from None
    seconds = time.perf_counter() - start
    save_rgb(path, image)
    return Rendered(path, seed, seconds)


def plan_outputs(source: Path, out: Path, what: str = "map", option: str = "--map") -> list[tuple[Path, Path]]:
    """Pair each image to paint with its output PNG.

    A folder of images (:data:`doodle.images.IMAGE_SUFFIXES`) goes to the
    folder ``out`` as ``out/<stem>.png``; a single image goes to ``out``, or to
    ``out/<stem>.png`` if ``out`` is an existing directory.

    Parameters
    ----------
    source : Path
        An image, or a folder of them.
    out : Path
        Output PNG or folder.
    what, option : str
        What the images are and the command's option for them, for messages.

    Returns
    -------
    list of (Path, Path)
        ``(source, output)`` pairs, sorted by source name.

    Examples
    --------
    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> _ = (d / "a.png").write_bytes(b""); _ = (d / "b.jpg").write_bytes(b"")
    >>> [(src.name, dst.as_posix()) for src, dst in plan_outputs(d, Path("out"))]
    [('a.png', 'out/a.png'), ('b.jpg', 'out/b.png')]
    """
    if not source.exists():
        raise FileNotFoundError(f"{what} not found: {source}")
    if source.is_dir():
        images = list_images(source)
        if not images:
            raise ValueError(f"no {what}s in {source} (looked for {', '.join(IMAGE_SUFFIXES)} files)")
        if out.exists() and not out.is_dir():
            raise ValueError(f"{option} is a directory, so -o must be a directory too, but {out} is a file")
        stems = [p.stem for p in images]
        clashes = sorted({s for s in stems if stems.count(s) > 1})
        if clashes:
            raise ValueError(f"{what}s {', '.join(clashes)} exist with several extensions in {source}; "
                             f"keep one of each")
        return [(p, out / f"{p.stem}.png") for p in images]
    if out.is_dir():
        return [(source, out / f"{source.stem}.png")]
    return [(source, out)]


def paint_files(
    checkpoint: str | os.PathLike,
    source: str | os.PathLike,
    out: str | os.PathLike,
    prepare: Callable[[MaskGenerator, Palette, list[tuple[Path, Path]]], Painter],
    device: str = "auto",
    what: str = "map",
    option: str = "--map",
) -> Iterator[Rendered]:
    """The pipeline of ``doodle render`` and ``doodle stylize``: an image or a folder in, PNGs out.

    Every output path is planned (and bad paths refused) before the checkpoint
    is loaded, and the checkpoint is checked against the jobs before the first
    image is painted, so a mistake fails in seconds, not halfway through a folder.

    Parameters
    ----------
    checkpoint : path-like
        ``RUN/checkpoint.pt``; one saved on any device loads.
    source, out : path-like
        As :func:`plan_outputs`.
    prepare : callable
        ``prepare(model, palette, jobs)`` with the generator (in eval mode, still
        on the CPU) and the ``(source, output)`` pairs: refuses a checkpoint that
        does not suit the jobs and returns the :data:`Painter` of one job.
    device : str
        As :func:`doodle.device.resolve_device`.
    what, option : str
        As :func:`plan_outputs`.

    Yields
    ------
    Rendered
        Each image as it is written.
    """
    jobs = plan_outputs(Path(source), Path(out), what=what, option=option)
    place = resolve_device(device)
    model, palette = generator_from_checkpoint(load_checkpoint(checkpoint))
    paint = prepare(model, palette, jobs)
    model.to(place)
    for image, target in jobs:
        yield from paint(image, target)


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

    See :func:`paint_files` for the pipeline and :func:`render_file` for the
    parameters; images are yielded as they are written.
    """
    def prepare(model: MaskGenerator, palette: Palette, jobs: list[tuple[Path, Path]]) -> Painter:
        return lambda source, target: render_file(model, palette, source, target, size=size, seed=seed,
                                                  variations=variations, precision=precision)

    return paint_files(checkpoint, map_path, out, prepare, device=device)
