"""Label smoothing filters over a square window (numba).

Both filters keep per-column label counts of the rows in the window and slide
them across each row, so the cost is ``O(K)`` per pixel whatever the window
size. The window is clipped at the image border (no padding labels invented).
"""

from __future__ import annotations

import numba
import numpy as np

FILTERS = ("majority", "median", "none")


@numba.njit(cache=True)
def _window_filter(labels: np.ndarray, k: int, radius: int, median: bool) -> np.ndarray:
    h, w = labels.shape
    out = np.empty_like(labels)
    col = np.zeros((w, k), dtype=np.int32)
    win = np.zeros(k, dtype=np.int32)
    for y in range(min(radius, h - 1) + 1):
        for x in range(w):
            col[x, labels[y, x]] += 1
    for y in range(h):
        if y > 0:
            add = y + radius
            drop = y - radius - 1
            if add < h:
                for x in range(w):
                    col[x, labels[add, x]] += 1
            if drop >= 0:
                for x in range(w):
                    col[x, labels[drop, x]] -= 1
        rows = min(y + radius, h - 1) - max(y - radius, 0) + 1
        win[:] = 0
        for x in range(min(radius, w - 1) + 1):
            for c in range(k):
                win[c] += col[x, c]
        for x in range(w):
            if x > 0:
                add = x + radius
                drop = x - radius - 1
                # One fused loop in the interior (the common case) halves the loop overhead.
                if add < w and drop >= 0:
                    for c in range(k):
                        win[c] += col[add, c] - col[drop, c]
                elif add < w:
                    for c in range(k):
                        win[c] += col[add, c]
                elif drop >= 0:
                    for c in range(k):
                        win[c] -= col[drop, c]
            area = (min(x + radius, w - 1) - max(x - radius, 0) + 1) * rows
            if median:
                # The 2016 behaviour: the median label id of the window.
                half = (area + 1) // 2
                acc = 0
                best = 0
                for c in range(k):
                    acc += win[c]
                    if acc >= half:
                        best = c
                        break
            else:
                # Ties keep the centre label when it is among the most frequent,
                # otherwise the lowest tied label, so the result is deterministic.
                best = labels[y, x]
                most = win[best]
                # A strict majority is the mode: most pixels skip the scan.
                if 2 * most <= area:
                    for c in range(k):
                        if win[c] > most:
                            most = win[c]
                            best = c
            out[y, x] = best
    return out


def _check(labels: np.ndarray, size: int) -> int:
    if labels.ndim != 2 or labels.dtype != np.uint8:
        raise ValueError(f"labels must be a 2-D uint8 array, got {labels.ndim}-D {labels.dtype}")
    if size < 1 or size % 2 == 0:
        raise ValueError(f"filter size must be an odd integer >= 1, got {size}")
    return int(labels.max()) + 1 if labels.size else 1


def majority_filter(labels: np.ndarray, size: int) -> np.ndarray:
    """Replace each label by the most frequent label of its ``size x size`` window.

    Unlike a median of label ids, the result is always a label present in the
    window, so no spurious region appears on the border of two others.

    Parameters
    ----------
    labels : numpy.ndarray
        uint8, shape ``(height, width)``.
    size : int
        Odd window side in pixels; the window is clipped at the image border.

    Returns
    -------
    numpy.ndarray
        uint8, shape ``(height, width)``.

    Examples
    --------
    >>> a = np.array([[0, 0, 0], [0, 2, 0], [1, 1, 1]], dtype=np.uint8)
    >>> majority_filter(a, 3)[1].tolist()
    [0, 0, 0]
    """
    k = _check(labels, size)
    return _window_filter(np.ascontiguousarray(labels), k, size // 2, False)


def median_filter(labels: np.ndarray, size: int) -> np.ndarray:
    """Median label id of each ``size x size`` window (the 2016 reference smoothing).

    Kept for comparison: where regions 0 and 2 meet, a minority label 1 in the
    window wins, because 1 sorts between them.

    Parameters
    ----------
    labels : numpy.ndarray
        uint8, shape ``(height, width)``.
    size : int
        Odd window side in pixels; the window is clipped at the image border.

    Returns
    -------
    numpy.ndarray
        uint8, shape ``(height, width)``.
    """
    k = _check(labels, size)
    return _window_filter(np.ascontiguousarray(labels), k, size // 2, True)


def smooth_labels(labels: np.ndarray, kind: str, size: int) -> np.ndarray:
    """Apply the filter named ``kind`` (``"majority"``, ``"median"`` or ``"none"``)."""
    if kind == "majority":
        return majority_filter(labels, size)
    if kind == "median":
        return median_filter(labels, size)
    if kind == "none":
        return labels
    raise ValueError(f"filter must be one of {', '.join(FILTERS)}, got {kind!r}")
