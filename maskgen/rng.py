"""Per-mask random streams.

Every mask draws from its own :class:`numpy.random.SeedSequence` keyed by
``(seed, index)`` so that mask ``index`` depends only on the dataset seed, its
index and the parameters, never on worker count, sharding or generation order.
"""

from __future__ import annotations

import numpy as np

SeedLike = int | np.random.SeedSequence | np.random.Generator


def mask_stream(seed: int, index: int, attempt: int | None = None) -> np.random.SeedSequence:
    """Return the seed sequence of mask ``index`` (and of one of its redraws).

    Parameters
    ----------
    seed : int
        Dataset seed, >= 0.
    index : int
        Mask index, >= 0.
    attempt : int or None
        Redraw number (0 for the first draw). ``None`` gives the per-mask stream
        used for choices that must not change between redraws (the region count).

    Returns
    -------
    numpy.random.SeedSequence

    Examples
    --------
    >>> a = mask_stream(7, 3, 0).generate_state(1)[0]
    >>> bool(a == mask_stream(7, 3, 0).generate_state(1)[0])
    True
    """
    key = (index,) if attempt is None else (index, attempt)
    return np.random.SeedSequence(seed, spawn_key=key)


def state_from(seed: SeedLike) -> int:
    """Reduce any seed-like value to a non-zero 64-bit state for the numba kernels.

    Parameters
    ----------
    seed : int, numpy.random.SeedSequence or numpy.random.Generator
        An int is hashed through ``SeedSequence(seed)``; a Generator is advanced.

    Returns
    -------
    int
        A value in ``[1, 2**64)``.
    """
    if isinstance(seed, np.random.Generator):
        state = int(seed.integers(0, 2**64, dtype=np.uint64))
    else:
        if not isinstance(seed, np.random.SeedSequence):
            if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
                raise ValueError(f"seed must be a non-negative int, SeedSequence or Generator, got {seed!r}")
            seed = np.random.SeedSequence(int(seed))
        state = int(seed.generate_state(1, np.uint64)[0])
    # xorshift has a fixed point at 0.
    return state or 0x9E3779B97F4A7C15
