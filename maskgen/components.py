"""Connected components per label (numba, 4-connectivity).

Smooth masks have few horizontal runs per row, so the components are found by
union-find over runs rather than over pixels.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, inline="always")
def _find(parent: np.ndarray, i: int) -> int:
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


@numba.njit(cache=True)
def _count_components(labels: np.ndarray, k: int) -> np.ndarray:
    h, w = labels.shape
    cap = h * w
    start = np.empty(cap, dtype=np.int32)
    stop = np.empty(cap, dtype=np.int32)
    lab = np.empty(cap, dtype=np.uint8)
    parent = np.empty(cap, dtype=np.int32)
    n = 0
    prev_lo = 0
    prev_hi = 0
    for y in range(h):
        row_lo = n
        x = 0
        while x < w:
            v = labels[y, x]
            x1 = x + 1
            while x1 < w and labels[y, x1] == v:
                x1 += 1
            start[n] = x
            stop[n] = x1
            lab[n] = v
            parent[n] = n
            n += 1
            x = x1
        # Merge with same-label runs of the previous row that overlap in x.
        j = prev_lo
        for i in range(row_lo, n):
            while j < prev_hi and stop[j] <= start[i]:
                j += 1
            jj = j
            while jj < prev_hi and start[jj] < stop[i]:
                if lab[jj] == lab[i]:
                    a = _find(parent, i)
                    b = _find(parent, jj)
                    if a != b:
                        parent[a] = b
                jj += 1
        prev_lo = row_lo
        prev_hi = n
    counts = np.zeros(k, dtype=np.int64)
    for i in range(n):
        if parent[i] == i:
            counts[lab[i]] += 1
    return counts


def count_components(labels: np.ndarray, k: int) -> np.ndarray:
    """Number of 4-connected components of each label.

    Parameters
    ----------
    labels : numpy.ndarray
        uint8, shape ``(height, width)``, values < ``k``.
    k : int
        Number of labels.

    Returns
    -------
    numpy.ndarray
        int64, shape ``(k,)``; 0 for a label that does not occur.

    Examples
    --------
    >>> count_components(np.array([[0, 1, 0], [0, 0, 1]], dtype=np.uint8), 2).tolist()
    [2, 2]
    """
    if labels.ndim != 2 or labels.dtype != np.uint8:
        raise ValueError(f"labels must be a 2-D uint8 array, got {labels.ndim}-D {labels.dtype}")
    if labels.size and int(labels.max()) >= k:
        raise ValueError(f"labels go up to {int(labels.max())}, not below k={k}")
    return _count_components(np.ascontiguousarray(labels), k)
