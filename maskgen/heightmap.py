"""Diamond-square heightmaps (numba).

The heightmap is computed on the smallest ``2**n + 1`` square grid that covers
the requested size and cropped, so any width and height work. Random offsets
come from a small xorshift64* generator inside the kernel, seeded from the
per-mask stream, so no large random arrays are allocated per mask.
"""

from __future__ import annotations

import numba
import numpy as np

from maskgen.rng import SeedLike, state_from


@numba.njit(cache=True, inline="always")
def _next_uniform(state: np.ndarray) -> float:
    # xorshift64* (Vigna 2016); the top 53 bits give a double in [-1, 1).
    x = state[0]
    x ^= x >> numba.uint64(12)
    x ^= x << numba.uint64(25)
    x ^= x >> numba.uint64(27)
    state[0] = x
    r = x * numba.uint64(0x2545F4914F6CDD1D)
    return (r >> numba.uint64(11)) * (2.0 / 9007199254740992.0) - 1.0


@numba.njit(cache=True)
def _diamond_square_grid(n: int, roughness: float, state: np.ndarray) -> np.ndarray:
    g = np.empty((n, n), dtype=np.float64)
    last = n - 1
    g[0, 0] = _next_uniform(state)
    g[0, last] = _next_uniform(state)
    g[last, 0] = _next_uniform(state)
    g[last, last] = _next_uniform(state)
    step = last
    amp = 1.0
    while step > 1:
        half = step // 2
        # Diamond step: square centres from their four corners.
        for y in range(half, n, step):
            for x in range(half, n, step):
                s = g[y - half, x - half] + g[y - half, x + half] + g[y + half, x - half] + g[y + half, x + half]
                g[y, x] = 0.25 * s + amp * _next_uniform(state)
        # Square step: edge midpoints from their (3 or 4, no wrap-around) neighbours.
        for y in range(0, n, half):
            x0 = half if (y // half) % 2 == 0 else 0
            for x in range(x0, n, step):
                s = 0.0
                c = 0
                if y >= half:
                    s += g[y - half, x]
                    c += 1
                if y + half < n:
                    s += g[y + half, x]
                    c += 1
                if x >= half:
                    s += g[y, x - half]
                    c += 1
                if x + half < n:
                    s += g[y, x + half]
                    c += 1
                g[y, x] = s / c + amp * _next_uniform(state)
        amp *= roughness
        step = half
    return g


def covering_grid(width: int, height: int) -> int:
    """Side ``2**n + 1`` of the smallest diamond-square grid covering ``width x height``."""
    side = 2
    while side + 1 < max(width, height):
        side *= 2
    return side + 1


def diamond_square(width: int, height: int, roughness: float, seed: SeedLike = 0) -> np.ndarray:
    """Random fractal heightmap by the diamond-square algorithm.

    Parameters
    ----------
    width, height : int
        Output size in pixels, each >= 2.
    roughness : float
        In (0, 1]: factor applied to the random amplitude at each halving of the
        step. Small values give smooth maps, 1 gives noise-like maps.
    seed : int, numpy.random.SeedSequence or numpy.random.Generator
        Source of randomness; the same seed gives the same map.

    Returns
    -------
    numpy.ndarray
        float64, shape ``(height, width)``, unitless heights (roughly in [-2, 2]).

    Examples
    --------
    >>> h = diamond_square(10, 6, 0.5, seed=1)
    >>> h.shape, h.dtype
    ((6, 10), dtype('float64'))
    """
    width, height = int(width), int(height)
    if width < 2 or height < 2:
        raise ValueError(f"heightmap size must be at least 2x2, got {width}x{height}")
    if not 0.0 < roughness <= 1.0:
        raise ValueError(f"roughness must be in (0, 1], got {roughness}")
    state = np.array([state_from(seed)], dtype=np.uint64)
    grid = _diamond_square_grid(covering_grid(width, height), float(roughness), state)
    return np.ascontiguousarray(grid[:height, :width])


def octave_heightmap(width: int, height: int, roughness: float, octaves: int, seed: SeedLike) -> np.ndarray:
    """Sum of ``octaves`` diamond-square maps of increasing roughness.

    Octave ``o`` (0-based) has roughness ``roughness ** (1 / (o + 1))`` (rougher,
    still in (0, 1]) and weight ``0.5 ** o``, so the first octave sets the large
    blobs and later ones only wrinkle their borders.

    Parameters
    ----------
    width, height : int
        Output size in pixels.
    roughness : float
        Roughness of the first octave, in (0, 1].
    octaves : int
        Number of maps summed, >= 1.
    seed : int, numpy.random.SeedSequence or numpy.random.Generator
        Source of randomness; each octave draws from its own sub-stream.

    Returns
    -------
    numpy.ndarray
        float64, shape ``(height, width)``.
    """
    if octaves < 1:
        raise ValueError(f"octaves must be >= 1, got {octaves}")
    if octaves == 1:
        return diamond_square(width, height, roughness, seed)
    if isinstance(seed, np.random.Generator):
        seeds = [seed] * octaves
    else:
        base = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
        seeds = base.spawn(octaves)
    total = np.zeros((height, width))
    for o, s in enumerate(seeds):
        total += 0.5**o * diamond_square(width, height, roughness ** (1.0 / (o + 1)), s)
    return total
