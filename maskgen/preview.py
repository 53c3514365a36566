"""Grid images of masks in palette colours."""

from __future__ import annotations

import io
import os
from collections.abc import Sequence

import numpy as np
from PIL import Image

from maskgen.fileio import atomic_write_bytes
from maskgen.palette import PALETTE

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
