"""The styles a doodle server paints with: one trained generator per run folder, loaded once at start.

Every file is read here, at start-up, from paths the operator gave (the
checkpoint, and the style image and map its config names); requests only pick
a style by its id among these.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from doodle.generators.base import MaskGenerator
from doodle.images import fit_size, load_rgb, resize_labels
from doodle.maps.palette import Palette, snap_to_palette
from doodle.serve.imagebytes import encode_map_png, encode_png
from doodle.serve.swatches import colour_swatch, palette_strip, region_swatches, thumbnail
from doodle.training.checkpoint import generator_from_checkpoint, load_checkpoint
from maskgen.errors import USER_ERRORS, one_line

#: Longest side of the painting's map the page can start from: its default canvas width.
PAINTING_MAP_SIDE = 512


@dataclass(eq=False)
class ServedStyle:
    """A trained generator ready to render, with what the page shows of it.

    Attributes
    ----------
    id : str
        Name in the API: the run folder's name.
    model : MaskGenerator
        In eval mode, on the serving device.
    palette : Palette
        The style's regions (colours of maps).
    step : int
        Training steps of the checkpoint.
    loss_net : str
        Id of the loss network it was trained with.
    mask : dict
        The run's maskgen settings (``roughness`` ...), for random maps that look
        like the ones it was trained on.
    thumbnail : bytes
        PNG of the style painting (or of its colours when the painting is gone).
    swatches : tuple of bytes
        One PNG per region: the painting's texture there, or the region colour.
    painting_map : bytes
        PNG of the map the style was trained with (a hand-made one, or
        ``doodle map``'s), in the exact region colours, longest side
        :data:`PAINTING_MAP_SIDE`: the page can start a doodle from it. Empty
        when the run has no readable style map.
    """

    id: str
    model: MaskGenerator
    palette: Palette
    step: int
    loss_net: str
    mask: dict = field(default_factory=dict)
    thumbnail: bytes = b""
    swatches: tuple[bytes, ...] = ()
    painting_map: bytes = b""

    @property
    def k(self) -> int:
        """Number of regions."""
        return self.palette.k

    def describe(self, url_prefix: str) -> dict:
        """The style as ``GET /api/styles`` lists it; image URLs start with ``url_prefix``."""
        return {
            "id": self.id,
            "k": self.k,
            "palette": self.palette.colours.astype(int).tolist(),
            "members": self.palette.tolists(),
            "step": self.step,
            "loss_net": self.loss_net,
            "thumbnail": f"{url_prefix}/thumbnail.png",
            "swatches": [f"{url_prefix}/swatches/{i}.png" for i in range(self.k)],
            "painting_map": f"{url_prefix}/painting-map.png" if self.painting_map else None,
        }


def load_served_style(
    checkpoint: str | os.PathLike,
    style_id: str | None = None,
    device: torch.device | str = "cpu",
    log: Callable[[str], object] = print,
) -> ServedStyle:
    """Load a checkpoint's generator and cut its thumbnail and swatches.

    Parameters
    ----------
    checkpoint : path-like
        ``RUN/checkpoint.pt`` (read with ``weights_only=True``).
    style_id : str or None
        Its id in the API; default: the run folder's name.
    device : torch.device or str
        Where the generator renders.
    log : callable
        Receives a one-line note when the style painting cannot be read (the
        page then shows region colours instead of textures).

    Raises
    ------
    FileNotFoundError, ValueError
        The checkpoint is missing or unreadable (see :func:`doodle.training.checkpoint.load_checkpoint`).
    """
    checkpoint = Path(checkpoint)
    ckpt = load_checkpoint(checkpoint)
    model, palette = generator_from_checkpoint(ckpt)
    if getattr(model, "image_channels", 0):
        raise ValueError(f"checkpoint {checkpoint} stylizes photos (trained with --content), it does not paint "
                         f"doodles; serve a checkpoint of `doodle train` without --content")
    config = ckpt["config"]
    style_id = style_id or checkpoint.resolve().parent.name or "style"
    pictures = _style_pictures(config, palette, log=lambda msg: log(f"note: style {style_id}: {msg}"))
    painting_map = b""
    if pictures is None:
        thumb, swatches = palette_strip(palette.colours), [None] * palette.k
    else:
        image, labels = pictures
        thumb, swatches = thumbnail(image), region_swatches(image, labels, palette.k)
        if palette.k > 1:
            painting_map = encode_map_png(resize_labels(labels, fit_size(*labels.shape, PAINTING_MAP_SIDE)), palette)
    return ServedStyle(
        id=style_id,
        model=model.to(device),
        palette=palette,
        step=int(ckpt["step"]),
        loss_net=str(ckpt.get("loss_net", "unknown")),
        mask=dict(config.get("mask") or {}),
        thumbnail=encode_png(thumb),
        swatches=tuple(
            encode_png(colour_swatch(palette.colours[i]) if s is None else s) for i, s in enumerate(swatches)
        ),
        painting_map=painting_map,
    )


def _style_pictures(config: dict, palette: Palette, log: Callable[[str], object]) -> tuple[np.ndarray, np.ndarray] | None:
    """The style image and its labels in the checkpoint's regions, or None (said through ``log``)."""
    try:
        image = load_rgb(config["style"])
        style_map = load_rgb(config["style_map"])
        labels = resize_labels(snap_to_palette(style_map, palette), image.shape[:2])
    except KeyError:
        log("its config names no style image; swatches show the region colours")
        return None
    except USER_ERRORS as exc:
        log(f"{one_line(exc)}; swatches show the region colours")
        return None
    return image, labels


def find_runs(runs: str | os.PathLike) -> list[Path]:
    """The checkpoints of a folder of runs: ``RUNS/*/checkpoint.pt``, and ``RUNS/checkpoint.pt`` itself.

    Raises
    ------
    FileNotFoundError
        ``runs`` is not a directory.
    ValueError
        It holds no checkpoint.
    """
    runs = Path(runs)
    if not runs.is_dir():
        raise FileNotFoundError(f"runs folder not found: {runs}")
    found = sorted(p for p in runs.glob("*/checkpoint.pt") if p.is_file())
    if (runs / "checkpoint.pt").is_file():
        found.insert(0, runs / "checkpoint.pt")
    if not found:
        raise ValueError(f"no RUN/checkpoint.pt in {runs}; pass the folder that holds your `doodle train --out` runs")
    return found


def load_styles(
    checkpoint: str | os.PathLike | None = None,
    runs: str | os.PathLike | None = None,
    device: torch.device | str = "cpu",
    log: Callable[[str], object] = print,
) -> list[ServedStyle]:
    """The styles to serve: one checkpoint, or every run in a folder.

    With ``runs``, a run whose checkpoint cannot be loaded is skipped with a
    note; it is an error only when none loads. Ids are the run folders' names.

    Raises
    ------
    ValueError
        Neither or both of ``checkpoint`` and ``runs``, or no loadable run.
    """
    if (checkpoint is None) == (runs is None):
        raise ValueError("give either a checkpoint or a runs folder (--checkpoint CK or --runs DIR)")
    if checkpoint is not None:
        return [load_served_style(checkpoint, device=device, log=log)]
    styles, problems = [], []
    for path in find_runs(runs):
        style_id = path.parent.name if path.parent != Path(runs) else Path(runs).resolve().name
        try:
            styles.append(load_served_style(path, style_id=style_id, device=device, log=log))
        except USER_ERRORS as exc:
            problems.append(f"{path}: {one_line(exc)}")
            log(f"note: skipping {path}: {one_line(exc)}")
    if not styles:
        raise ValueError(f"no loadable checkpoint in {runs}: {'; '.join(problems)}")
    return styles
