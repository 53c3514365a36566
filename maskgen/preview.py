"""Grid images of masks in palette colours, and the masks a preview shows."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from maskgen.dataset import read_dataset
from maskgen.fileio import atomic_write_bytes
from maskgen.layout import HEADER_NAME
from maskgen.mask import MaskParams, make_mask
from maskgen.palette import PALETTE

#: The preview source that means "draw masks from the given parameters".
PARAMS_SOURCE = "params"

GAP = 2
GAP_COLOUR = (40, 40, 40)


def mask_grid(masks: Sequence[np.ndarray], cols: int = 8) -> np.ndarray:
    """Tile label images into one RGB grid with a dark 2-pixel gap.

    Parameters
    ----------
    masks : sequence of numpy.ndarray
        uint8 label images, all of shape ``(height, width)``.
    cols : int
        Masks per row, >= 1.

    Returns
    -------
    numpy.ndarray
        uint8, shape ``(rows * (height + 2) + 2, cols * (width + 2) + 2, 3)``.

    Examples
    --------
    >>> mask_grid([np.zeros((4, 5), np.uint8)] * 3, cols=2).shape
    (14, 16, 3)
    """
    if not masks:
        raise ValueError("no masks to preview")
    if cols < 1:
        raise ValueError(f"cols must be >= 1, got {cols}")
    h, w = masks[0].shape
    cols = min(cols, len(masks))
    rows = -(-len(masks) // cols)
    grid = np.empty((rows * (h + GAP) + GAP, cols * (w + GAP) + GAP, 3), dtype=np.uint8)
    grid[:] = GAP_COLOUR
    for i, m in enumerate(masks):
        if m.shape != (h, w):
            raise ValueError(f"mask {i} has shape {m.shape}, expected {(h, w)}")
        y, x = GAP + (i // cols) * (h + GAP), GAP + (i % cols) * (w + GAP)
        grid[y : y + h, x : x + w] = PALETTE[m]
    return grid


def write_grid(masks: Sequence[np.ndarray], path: str | os.PathLike, cols: int = 8) -> None:
    """Write :func:`mask_grid` of ``masks`` to ``path`` as an RGB PNG (atomically)."""
    buf = io.BytesIO()
    Image.fromarray(mask_grid(masks, cols)).save(buf, format="PNG")
    atomic_write_bytes(path, buf.getvalue())


def preview_masks(
    source: str | os.PathLike, count: int, params: MaskParams | None = None, seed: int = 0
) -> list[np.ndarray]:
    """Label images of the first ``count`` masks of ``source``.

    Parameters
    ----------
    source : str or path-like
        A dataset directory (its masks, possibly fewer than ``count`` in a
        partial dataset); a JSON file of :class:`MaskParams` fields, or a
        ``dataset.json`` / any JSON object with ``"params"`` (and ``"seed"``)
        keys; or the word ``"params"`` to draw masks from ``params``.
    count : int
        Masks wanted, > 0.
    params : MaskParams or None
        Parameters for the source ``"params"`` (ignored for other sources).
    seed : int
        Seed for drawn masks, unless the JSON file names its own.

    Returns
    -------
    list of numpy.ndarray
        uint8 label images, each of shape ``(height, width)``.

    Raises
    ------
    ValueError
        For ``count <= 0``, a missing ``params`` or an unreadable parameter file.
    FileNotFoundError
        If ``source`` is neither a directory, a file nor the word ``"params"``.

    Examples
    --------
    >>> masks = preview_masks("params", 2, MaskParams(width=24, height=16, regions=(3, 3), filter_size=3))
    >>> len(masks), masks[0].shape
    (2, (16, 24))
    """
    if isinstance(count, bool) or not isinstance(count, int) or count <= 0:
        raise ValueError(f"count must be a positive integer, got {count!r}")
    path = Path(source)
    if path.is_dir():
        ds = read_dataset(path, allow_partial=True)
        return [ds[i] for i in range(min(count, len(ds)))]
    if str(source) == PARAMS_SOURCE:
        if params is None:
            raise ValueError(f"the source {PARAMS_SOURCE!r} needs mask parameters")
    elif path.is_file():
        params, seed = _read_params_file(path, seed)
    else:
        raise FileNotFoundError(f"{source}: no such dataset directory or parameter file (or use the word {PARAMS_SOURCE})")
    return [make_mask(params, seed, i).labels for i in range(count)]


def _read_params_file(path: Path, seed: int) -> tuple[MaskParams, int]:
    # A dataset.json (or any object with "params") carries its own seed; a bare
    # object of MaskParams fields does not.
    hint = "give a dataset directory, a dataset.json or a JSON object of mask parameters"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path} is not valid JSON ({exc.__class__.__name__}); {hint}") from None
    if path.name == HEADER_NAME or (isinstance(data, dict) and "params" in data):
        if not isinstance(data, dict) or not isinstance(data.get("params"), dict):
            raise ValueError(f"{path} has no \"params\" object; {hint}")
        return MaskParams.from_dict(data["params"]), data.get("seed", seed)
    if not isinstance(data, dict):
        raise ValueError(f"{path} holds no JSON object; {hint}")
    return MaskParams.from_dict(data), seed
