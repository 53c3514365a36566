"""Numba kernels for the region instance norm over pixel-major features.

The norm (:class:`doodle.generators.region_norm.RegionInstanceNorm`) needs, per image,
region and channel, mask-weighted sums over the pixels, and then at every pixel
a mean, variance, scale and shift mixed from the regions by the mask. As
matmuls with the (B, K, P) mask these cost several (B, P, C) temporaries; here
each is one pass over the features, the channel loop innermost and contiguous
(pixel-major features are what a channels-last tensor is in memory).

Masks are one-hot at most pixels (soft only near borders at coarse scales), so
every kernel looks up one region's parameters at a one-hot pixel and mixes the
regions' only where the mask is soft.

Arrays: features ``(B, P, C)``, float32 or bfloat16 (passed as their int16
bits, since numpy has no bfloat16: under autocast the generator's features are
bf16, and converting them to float32 and back around every norm cost more than
the norm), masks ``(B, K, P)`` float32 summing to 1 at every pixel, and a
float32 per-region table ``(B, K, 4, C)`` of mean, variance, weight and bias.
The arithmetic is float32; bf16 outputs are rounded to nearest even, as
PyTorch rounds. Each kernel parallelizes over images and pixel chunks; every
chunk writes only its own partial sums or output rows.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange, types
from numba.extending import overload

#: Pixel chunks per image (partial sums are combined in float64).
CHUNKS = 16


@njit(cache=True)
def bf16_bits_to_float(bits):
    """float32 value of bfloat16 bits held in an int16 (exact).

    Examples
    --------
    >>> float(bf16_bits_to_float(np.int16(0x3FC0)))
    1.5
    """
    return np.uint32(np.uint32(np.uint16(bits)) << 16).view(np.float32)


@njit(cache=True)
def float_to_bf16_bits(value):
    """bfloat16 bits (as an int16) of a float32, rounded to nearest, ties to even, as PyTorch does.

    NaN is not special-cased: a norm that met a NaN is lost anyway.

    Examples
    --------
    >>> hex(float_to_bf16_bits(np.float32(1.5)))
    '0x3fc0'
    """
    bits = np.float32(value).view(np.uint32)
    rounded = np.uint32(bits + np.uint32(0x7FFF) + ((bits >> 16) & np.uint32(1)))
    return np.uint16(rounded >> 16).view(np.int16)


def as_float(value):
    """float32 value of an element of a float32 or of a bfloat16 (int16 bits) array."""
    return bf16_bits_to_float(value) if np.asarray(value).dtype == np.int16 else np.float32(value)


def stored_as(value, out):
    """float32 ``value`` as an element of ``out``: itself, or bf16 bits for an int16 array."""
    return float_to_bf16_bits(value) if out.dtype == np.int16 else np.float32(value)


# The kernels call as_float and stored_as on every element; these are their
# compiled forms, chosen by type when a kernel is compiled.
@overload(as_float)
def _as_float(value):
    if value == types.int16:
        return lambda value: bf16_bits_to_float(value)
    return lambda value: np.float32(value)


@overload(stored_as)
def _stored_as(value, out):
    if out.dtype == types.int16:
        return lambda value, out: float_to_bf16_bits(value)
    return lambda value, out: np.float32(value)


@njit(cache=True)
def _one_region(masks, b, p):
    """The region of pixel ``p`` if the mask is one-hot there, else -1."""
    found = -1
    for k in range(masks.shape[1]):
        m = masks[b, k, p]
        if m == 1.0:
            found = k
        elif m != 0.0:
            return -1
    return found


@njit(cache=True)
def _mixed_params(masks, table, b, p, eps, scratch):
    """Fill ``scratch`` (4, C) with the mean, 1/std, weight and bias at a soft pixel.

    Mask-weighted mixes of the regions' means, variances, weights and biases,
    with 1/std taken of the mixed variance.
    """
    scratch[:] = 0.0
    for k in range(masks.shape[1]):
        m = masks[b, k, p]
        if m != 0.0:
            for row in range(4):
                for c in range(scratch.shape[1]):
                    scratch[row, c] += m * table[b, k, row, c]
    for c in range(scratch.shape[1]):
        scratch[1, c] = 1.0 / np.sqrt(scratch[1, c] + eps)


@njit(cache=True)
def _rstd(table, eps):
    """(B, K, C) ``1 / sqrt(var + eps)`` of every region."""
    return (1.0 / np.sqrt(table[:, :, 1] + eps)).astype(np.float32)


@njit(cache=True)
def _combine(part):
    """(B, CHUNKS, S, K, C) float32 partial sums -> (B, S, K, C) float64."""
    total = np.zeros(part.shape[:1] + part.shape[2:])
    for chunk in range(part.shape[1]):
        total += part[:, chunk]
    return total


@njit(cache=True)
def _chunk(job, p_count):
    """Image and pixel range ``[start, stop)`` of parallel job ``job`` (``CHUNKS`` jobs per image)."""
    step = (p_count + CHUNKS - 1) // CHUNKS
    chunk = job % CHUNKS
    return job // CHUNKS, chunk * step, min(p_count, (chunk + 1) * step)


@njit(cache=True, parallel=True)
def region_moments(x, masks):
    """Mask-weighted sums of ``x`` and ``x * x`` per region.

    Parameters
    ----------
    x : ndarray, float32 or int16 (bf16 bits), shape (B, P, C)
    masks : ndarray, float32, shape (B, K, P)

    Returns
    -------
    ndarray, float64, shape (B, 2, K, C)
        ``sum_p m[b, k, p] * x[b, p, c]`` and the same of ``x * x``.

    Examples
    --------
    >>> x = np.array([[[1.0], [2.0], [5.0]]], np.float32)
    >>> masks = np.array([[[1.0, 1.0, 0.5], [0.0, 0.0, 0.5]]], np.float32)
    >>> region_moments(x, masks)[0, :, :, 0]
    array([[ 5.5,  2.5],
           [17.5, 12.5]])
    """
    b_count, p_count, c_count = x.shape
    k_count = masks.shape[1]
    part = np.zeros((b_count, CHUNKS, 2, k_count, c_count), np.float32)
    for job in prange(b_count * CHUNKS):
        b, start, stop = _chunk(job, p_count)
        acc = part[b, job % CHUNKS]
        for p in range(start, stop):
            for k in range(k_count):
                m = masks[b, k, p]
                if m != 0.0:
                    for c in range(c_count):
                        v = as_float(x[b, p, c])
                        acc[0, k, c] += m * v
                        acc[1, k, c] += m * v * v
    return _combine(part)


@njit(cache=True, parallel=True)
def region_norm_forward(x, masks, table, eps, out):
    """``out = (x - mean) / sqrt(var + eps) * weight + bias`` with per-pixel mixed parameters.

    Parameters
    ----------
    x : ndarray, float32 or int16 (bf16 bits), shape (B, P, C)
    masks : ndarray, float32, shape (B, K, P)
    table : ndarray, float32, shape (B, K, 4, C)
        Per region: mean, variance, weight, bias.
    eps : float
    out : ndarray, float32 or int16 (bf16 bits), shape (B, P, C)
        Written in place.

    Examples
    --------
    >>> x = np.array([[[1.0], [3.0], [9.0]]], np.float32)
    >>> masks = np.array([[[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]]], np.float32)
    >>> table = np.array([[[[2.0], [1.0], [1.0], [0.0]], [[9.0], [4.0], [1.0], [5.0]]]], np.float32)
    >>> out = np.empty_like(x)
    >>> region_norm_forward(x, masks, table, 0.0, out)
    >>> out[0, :, 0]
    array([-1.,  1.,  5.], dtype=float32)
    """
    b_count, p_count, c_count = x.shape
    rstd = _rstd(table, eps)
    for job in prange(b_count * CHUNKS):
        b, start, stop = _chunk(job, p_count)
        mixed = np.empty((4, c_count), np.float32)
        for p in range(start, stop):
            k = _one_region(masks, b, p)
            if k >= 0:
                for c in range(c_count):
                    y = (as_float(x[b, p, c]) - table[b, k, 0, c]) * (rstd[b, k, c] * table[b, k, 2, c]) \
                        + table[b, k, 3, c]
                    out[b, p, c] = stored_as(y, out)
            else:
                _mixed_params(masks, table, b, p, eps, mixed)
                for c in range(c_count):
                    y = (as_float(x[b, p, c]) - mixed[0, c]) * (mixed[1, c] * mixed[2, c]) + mixed[3, c]
                    out[b, p, c] = stored_as(y, out)


@njit(cache=True, parallel=True)
def region_norm_backward_sums(grad, x, masks, table, eps):
    """Per-region sums the norm's backward needs.

    With ``xhat = (x - mean) * r`` and ``r = 1 / sqrt(var + eps)`` at each pixel
    (mixed parameters as in :func:`region_norm_forward`) and ``g`` the upstream
    gradient, returns the mask-weighted sums over pixels of ``g``,
    ``g * xhat``, ``g * weight * r`` and ``g * xhat * weight * r * r``: the bias
    and weight gradients, and (negated, the last halved) the gradients of the
    regions' means and variances.

    Parameters
    ----------
    grad, x : ndarray, float32 or int16 (bf16 bits), shape (B, P, C)
    masks : ndarray, float32, shape (B, K, P)
    table : ndarray, float32, shape (B, K, 4, C)
    eps : float

    Returns
    -------
    ndarray, float64, shape (B, 4, K, C)
    """
    b_count, p_count, c_count = x.shape
    k_count = masks.shape[1]
    rstd = _rstd(table, eps)
    # Rows 0-1: sums of g and g * xhat over one-hot pixels, where weight * r is the
    # region's own, so rows 2-3 follow from them at the end; rows 2-5: the four
    # sums over soft pixels.
    part = np.zeros((b_count, CHUNKS, 6, k_count, c_count), np.float32)
    for job in prange(b_count * CHUNKS):
        b, start, stop = _chunk(job, p_count)
        acc = part[b, job % CHUNKS]
        mixed = np.empty((4, c_count), np.float32)
        terms = np.empty((4, c_count), np.float32)
        for p in range(start, stop):
            k = _one_region(masks, b, p)
            if k >= 0:
                for c in range(c_count):
                    g = as_float(grad[b, p, c])
                    acc[0, k, c] += g
                    acc[1, k, c] += g * (as_float(x[b, p, c]) - table[b, k, 0, c]) * rstd[b, k, c]
                continue
            _mixed_params(masks, table, b, p, eps, mixed)
            for c in range(c_count):
                g = as_float(grad[b, p, c])
                g_xhat = g * (as_float(x[b, p, c]) - mixed[0, c]) * mixed[1, c]
                terms[0, c] = g
                terms[1, c] = g_xhat
                terms[2, c] = g * mixed[2, c] * mixed[1, c]
                terms[3, c] = g_xhat * mixed[2, c] * mixed[1, c] * mixed[1, c]
            for k in range(k_count):
                m = masks[b, k, p]
                if m != 0.0:
                    for row in range(4):
                        for c in range(c_count):
                            acc[2 + row, k, c] += m * terms[row, c]
    part_sums = _combine(part)
    sums = np.empty((b_count, 4, k_count, c_count))
    scale = table[:, :, 2] * rstd  # weight * r of every region
    sums[:, 0] = part_sums[:, 0] + part_sums[:, 2]
    sums[:, 1] = part_sums[:, 1] + part_sums[:, 3]
    sums[:, 2] = part_sums[:, 0] * scale + part_sums[:, 4]
    sums[:, 3] = part_sums[:, 1] * scale * rstd + part_sums[:, 5]
    return sums


@njit(cache=True, parallel=True)
def region_norm_backward_input(grad, x, masks, table, coef, eps, out):
    """``out = grad * weight * r + sum_k m_k (coef[0, k] + coef[1, k] * x)`` at every pixel.

    The input gradient of the norm: the direct term through the per-pixel
    scale, and the terms through the regions' means and variances, which are
    linear in ``x`` with per-region coefficients.

    Parameters
    ----------
    grad, x : ndarray, float32 or int16 (bf16 bits), shape (B, P, C)
    masks : ndarray, float32, shape (B, K, P)
    table : ndarray, float32, shape (B, K, 4, C)
    coef : ndarray, float32, shape (B, 2, K, C)
    eps : float
    out : ndarray, float32 or int16 (bf16 bits), shape (B, P, C)
        Written in place.
    """
    b_count, p_count, c_count = x.shape
    k_count = masks.shape[1]
    rstd = _rstd(table, eps)
    for job in prange(b_count * CHUNKS):
        b, start, stop = _chunk(job, p_count)
        mixed = np.empty((4, c_count), np.float32)
        for p in range(start, stop):
            k = _one_region(masks, b, p)
            if k >= 0:
                for c in range(c_count):
                    dx = as_float(grad[b, p, c]) * (table[b, k, 2, c] * rstd[b, k, c]) + coef[b, 0, k, c] \
                        + coef[b, 1, k, c] * as_float(x[b, p, c])
                    out[b, p, c] = stored_as(dx, out)
                continue
            _mixed_params(masks, table, b, p, eps, mixed)
            for c in range(c_count):
                v = as_float(x[b, p, c])
                dx = as_float(grad[b, p, c]) * mixed[2, c] * mixed[1, c]
                for k in range(k_count):
                    dx += masks[b, k, p] * (coef[b, 0, k, c] + coef[b, 1, k, c] * v)
                out[b, p, c] = stored_as(dx, out)
