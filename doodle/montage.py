"""Pictures made of pictures: maps, outputs and styles side by side, for people to compare.

Panels are ``(H, W, 3)`` RGB arrays, ``uint8`` 0..255 or float 0..1; the result
is ``float32`` 0..1 with white gaps, ready for :func:`doodle.images.save_rgb`.
"""

from __future__ import annotations

import numpy as np

from doodle.images import resize_rgb

#: White pixels between panels.
GAP = 4


def side_by_side(panels: list[np.ndarray], gap: int = GAP) -> np.ndarray:
    """Panels of one height, left to right, with white gaps.

    Parameters
    ----------
    panels : list of ndarray, shape (H, W_i, 3)
    gap : int
        Width of the white gap in pixels.

    Returns
    -------
    ndarray, float32, shape (H, sum(W_i) + gap * (n - 1), 3)

    Examples
    --------
    >>> side_by_side([np.zeros((2, 3, 3), np.uint8), np.zeros((2, 1, 3))], gap=2).shape
    (2, 6, 3)
    """
    heights = {p.shape[0] for p in panels}
    if len(heights) != 1:
        raise ValueError(f"side-by-side panels need one height, got {sorted(heights)}; resize them first")
    white = np.ones((panels[0].shape[0], gap, 3), np.float32)
    row = [_as_float(panels[0])]
    for panel in panels[1:]:
        row += [white, _as_float(panel)]
    return np.concatenate(row, axis=1)


def stack_rows(rows: list[np.ndarray], gap: int = GAP) -> np.ndarray:
    """Rows top to bottom, left-aligned, narrower rows padded with white.

    Examples
    --------
    >>> stack_rows([np.zeros((2, 3, 3)), np.zeros((1, 5, 3))], gap=1).shape
    (4, 5, 3)
    """
    width = max(r.shape[1] for r in rows)
    white = np.ones((gap, width, 3), np.float32)
    parts = []
    for row in rows:
        parts += [np.pad(_as_float(row), ((0, 0), (0, width - row.shape[1]), (0, 0)), constant_values=1.0), white]
    return np.concatenate(parts[:-1], axis=0)


def _as_float(image: np.ndarray) -> np.ndarray:
    return image.astype(np.float32) / 255 if image.dtype == np.uint8 else image.astype(np.float32)


def at_height(image: np.ndarray, height: int) -> np.ndarray:
    """``image`` (H, W, 3) resized (Lanczos) to ``height`` rows, keeping its aspect ratio.

    Examples
    --------
    >>> at_height(np.zeros((4, 10, 3), np.uint8), 2).shape
    (2, 5, 3)
    """
    h, w = image.shape[:2]
    return resize_rgb(image, (height, max(1, round(w * height / h))))
