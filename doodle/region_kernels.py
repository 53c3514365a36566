"""Numba kernels for per-region passes over pixel-major features.

The region norm of a one-hot mask needs, per image, region and channel, sums
over the region's pixels, and then one scale and shift per region applied to
every pixel. As matmuls with the (B, K, P) mask these cost a temporary for
``x * x`` and a (B, P, 2C) table spread to the pixels; here each is one pass
over the features, the channel loop innermost and contiguous (pixel-major
features are what a channels-last tensor is in memory).

Each kernel parallelizes over images and pixel chunks; every chunk writes only
its own partial sums or output rows.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

#: Pixel chunks per image for the parallel sums (partial sums are combined in float64).
CHUNKS = 16


@njit(cache=True, parallel=True)
def region_sums(x, y, labels, k):
    """Per-region sums of ``x`` and of ``x * y``.

    Parameters
    ----------
    x, y : ndarray, float32, shape (B, P, C)
        Pixel-major features (C contiguous).
    labels : ndarray, int32, shape (B, P)
        Region of every pixel, in ``0 .. k-1``.
    k : int
        Number of regions.

    Returns
    -------
    sum_x, sum_xy : ndarray, float64, shape (B, K, C)

    Examples
    --------
    >>> x = np.array([[[1.0], [2.0], [5.0]]], np.float32)
    >>> s, s2 = region_sums(x, x, np.array([[0, 0, 1]], np.int32), 2)
    >>> s[0, :, 0], s2[0, :, 0]
    (array([3., 5.]), array([ 5., 25.]))
    """
    b_count, p_count, c_count = x.shape
    step = (p_count + CHUNKS - 1) // CHUNKS
    part_x = np.zeros((b_count, CHUNKS, k, c_count), np.float32)
    part_xy = np.zeros((b_count, CHUNKS, k, c_count), np.float32)
    for job in prange(b_count * CHUNKS):
        b = job // CHUNKS
        chunk = job % CHUNKS
        acc_x = part_x[b, chunk]
        acc_xy = part_xy[b, chunk]
        for p in range(chunk * step, min(p_count, (chunk + 1) * step)):
            region = labels[b, p]
            for c in range(c_count):
                acc_x[region, c] += x[b, p, c]
                acc_xy[region, c] += x[b, p, c] * y[b, p, c]
    sum_x = np.zeros((b_count, k, c_count))
    sum_xy = np.zeros((b_count, k, c_count))
    for chunk in range(CHUNKS):
        sum_x += part_x[:, chunk]
        sum_xy += part_xy[:, chunk]
    return sum_x, sum_xy


@njit(cache=True, parallel=True)
def region_affine(u, v, labels, coef_u, coef_v, const, out):
    """``out = u * coef_u[region] + v * coef_v[region] + const[region]`` at every pixel.

    Parameters
    ----------
    u, v : ndarray, float32, shape (B, P, C)
        Pixel-major inputs (may be the same array).
    labels : ndarray, int32, shape (B, P)
    coef_u, coef_v, const : ndarray, float32, shape (B, K, C)
        Per-image, per-region coefficients.
    out : ndarray, float32, shape (B, P, C)
        Written in place.

    Examples
    --------
    >>> u = np.array([[[1.0], [2.0], [5.0]]], np.float32)
    >>> out = np.empty_like(u)
    >>> region_affine(u, u, np.array([[0, 0, 1]], np.int32), np.array([[[2.0], [3.0]]], np.float32),
    ...               np.zeros((1, 2, 1), np.float32), np.array([[[0.0], [1.0]]], np.float32), out)
    >>> out[0, :, 0]
    array([ 2.,  4., 16.], dtype=float32)
    """
    b_count, p_count, c_count = u.shape
    for job in prange(b_count * p_count):
        b = job // p_count
        p = job % p_count
        region = labels[b, p]
        for c in range(c_count):
            out[b, p, c] = u[b, p, c] * coef_u[b, region, c] + v[b, p, c] * coef_v[b, region, c] + const[b, region, c]
