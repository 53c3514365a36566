"""Training checkpoints: one dict in one file, written atomically, read safely.

A checkpoint (nanoGPT style) is a plain dict::

    format          "doodle-checkpoint"
    format_version  1
    model           generator state_dict
    optimizer       optimizer state_dict
    step            int, optimizer steps taken
    config          JSON-able training config; config["generator"] holds the
                    generator arch and constructor kwargs (doodle.generators.registry)
    palette         list of [r, g, b] ints, one per region
    palette_members one list of [r, g, b] per region: every style-map colour
                    merged into it, its palette colour first (absent in
                    checkpoints written before merging; they have one each)
    loss_net        str id of the loss network (a resume against another one is refused)
    scaler          GradScaler state_dict of fp16 runs (absent otherwise): its
                    loss scale, so that a resumed fp16 run steps exactly as an
                    uninterrupted one
    version         doodle package version that wrote it
    elapsed_s       seconds of training up to this step (absent in older
                    checkpoints): where a resumed --minutes run is on its
                    learning-rate schedule, whatever its log holds

No RNG state is stored: every random draw of training is a function of
``(seed, step, rank)``, so the step alone resumes the exact stream.

It is read with ``torch.load(weights_only=True)``, so a checkpoint from an
untrusted source cannot run code; everything in it must therefore be tensors,
numbers, strings, lists, dicts or None.
"""

from __future__ import annotations

import copy
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from doodle.generators.base import MaskGenerator
from doodle.generators.registry import build_generator
from doodle.maps.palette import Palette, as_palette
from maskgen.fileio import atomic_path

CHECKPOINT_FORMAT = "doodle-checkpoint"
CHECKPOINT_VERSION = 1
REQUIRED_KEYS = ("model", "step", "config", "palette")
# Wrappers prepend these to parameter names (DistributedDataParallel,
# torch.compile); a state dict saved through one must still load.
_WRAPPER_PREFIXES = ("module.", "_orig_mod.")


def save_checkpoint(path: str | os.PathLike, ckpt: dict[str, Any]) -> None:
    """Write a checkpoint atomically (temp file in the same directory, fsync, rename).

    ``format`` and ``format_version`` are filled in; the palette is stored as
    plain ints so that :func:`load_checkpoint` can read it with
    ``weights_only=True``.

    Parameters
    ----------
    path : path-like
        Destination, conventionally ``RUN/checkpoint.pt``. Its directory must exist.
    ckpt : dict
        At least ``model``, ``step``, ``config`` and ``palette`` (see the module
        docstring for all keys).

    Raises
    ------
    ValueError
        If a required key is missing.
    """
    missing = [key for key in REQUIRED_KEYS if key not in ckpt]
    if missing:
        raise ValueError(f"checkpoint dict lacks {', '.join(missing)}; it needs {', '.join(REQUIRED_KEYS)}")
    data = dict(ckpt)
    data["format"] = CHECKPOINT_FORMAT
    data["format_version"] = CHECKPOINT_VERSION
    palette = as_palette(ckpt["palette"])
    data["palette"] = palette.colours.astype(int).tolist()
    data["palette_members"] = palette.tolists()
    with atomic_path(path, suffix=".pt") as tmp:
        torch.save(data, tmp)


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`, on the CPU.

    Parameters
    ----------
    path : path-like
        ``RUN/checkpoint.pt``.

    Returns
    -------
    dict
        The checkpoint dict (tensors on the CPU).

    Raises
    ------
    FileNotFoundError
        ``checkpoint not found: PATH``.
    ValueError
        One line each for: a corrupt, truncated or non-torch file; a torch file
        that is not a doodle checkpoint; another format version; missing keys.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch reports bad files with many exception types
        raise ValueError(
            f"{path} is not a readable doodle checkpoint ({type(exc).__name__}: {_load_error_detail(exc)}); "
            f"it is corrupt, truncated or not from `doodle train`: retrain or copy it again"
        ) from None
    if not isinstance(ckpt, dict) or "format" not in ckpt:
        raise ValueError(
            f"{path} is not a doodle checkpoint (no 'format' key); "
            f"pass the RUN/checkpoint.pt written by `doodle train`"
        )
    if ckpt["format"] != CHECKPOINT_FORMAT:
        raise ValueError(
            f"{path} is not a doodle checkpoint (format {ckpt['format']!r}); "
            f"pass the RUN/checkpoint.pt written by `doodle train`"
        )
    if ckpt.get("format_version") != CHECKPOINT_VERSION:
        raise ValueError(
            f"{path} has format version {ckpt.get('format_version')}; this doodle reads version "
            f"{CHECKPOINT_VERSION}; retrain or use doodle {ckpt.get('version', '(the version that wrote it)')}"
        )
    missing = [key for key in REQUIRED_KEYS if key not in ckpt]
    if missing:
        raise ValueError(f"{path} is an incomplete doodle checkpoint (no {', '.join(missing)}); retrain")
    return ckpt


def _load_error_detail(exc: BaseException) -> str:
    # torch's messages run to paragraphs and, for weights_only refusals, advise
    # loading unsafely; keep only the actual cause, e.g. "Unsupported global:
    # GLOBAL numpy.random.default_rng ..." or "failed finding central directory".
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))
    marker = "WeightsUnpickler error:"
    if marker in text:
        text = text.split(marker, 1)[1]
    paragraphs = [part for part in re.split(r"\n\s*\n", text) if part.strip()]
    words = " ".join(paragraphs[0].split()) if paragraphs else ""
    sentence = words.split(". ")[0].rstrip(".")
    return (sentence[:160] + "...") if len(sentence) > 160 else (sentence or "empty or truncated file")


def generator_from_checkpoint(ckpt: dict[str, Any]) -> tuple[MaskGenerator, Palette]:
    """Rebuild the trained generator and its palette from a loaded checkpoint.

    Parameters
    ----------
    ckpt : dict
        Output of :func:`load_checkpoint`.

    Returns
    -------
    model : MaskGenerator
        Of the checkpoint's architecture, in eval mode, on the CPU.
    palette : Palette
        The style's regions: the colour of region ``i`` in maps, with the
        colours merged into it.

    Raises
    ------
    ValueError
        If the generator config, weights and palette do not fit together.
    """
    config = ckpt["config"]
    if not isinstance(config, dict) or not isinstance(config.get("generator"), dict):
        raise ValueError("checkpoint config has no 'generator' settings; it was not written by `doodle train`")
    generator_config = dict(config["generator"])
    generator_config.setdefault("k", config.get("k"))
    if generator_config["k"] is None:
        raise ValueError("checkpoint config gives no region count 'k'; it was not written by `doodle train`")
    model = build_generator(generator_config)
    state = copy.copy(ckpt["model"])  # shallow: keep the caller's dict and its _metadata intact
    for prefix in _WRAPPER_PREFIXES:
        torch.nn.modules.utils.consume_prefix_in_state_dict_if_present(state, prefix)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        detail = " ".join(str(exc).split())
        detail = detail if len(detail) <= 200 else detail[:200] + "..."
        raise ValueError(f"checkpoint weights do not match its generator config: {detail}") from None
    return model.eval(), checkpoint_palette(ckpt, model.k)


def checkpoint_palette(ckpt: dict[str, Any], k: int | None = None) -> Palette:
    """The style's regions stored in a loaded checkpoint.

    Checkpoints written before merged colours were stored (no
    ``palette_members``) give one colour per region.

    Parameters
    ----------
    ckpt : dict
        Output of :func:`load_checkpoint`.
    k : int or None
        Number of regions the palette must have (the generator's).

    Raises
    ------
    ValueError
        The palette is not ``k`` RGB colours, or its members do not match it.
    """
    palette = np.asarray(ckpt["palette"], dtype=np.int64)
    k = len(palette) if k is None else k
    if palette.shape != (k, 3) or ((palette < 0) | (palette > 255)).any():
        raise ValueError(f"checkpoint palette {palette.tolist()} is not {k} RGB colours in 0..255; retrain")
    members = ckpt.get("palette_members", palette[:, None].tolist())
    try:
        regions = Palette(members)
        valid = regions.k == k and np.array_equal(regions.colours, palette)
    except (ValueError, TypeError):
        valid = False
    if not valid:
        raise ValueError(f"checkpoint palette members {members} do not match its palette {palette.tolist()}; retrain")
    return regions
