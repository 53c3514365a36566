"""Allocator tuning for processes that make many masks.

Each mask allocates and frees a few half-megabyte arrays. With glibc's default
thresholds these are mmapped and trimmed back to the OS every time, so every
mask pays ~0.5 ms of page faults (a third of its cost at 256 px). Keeping such
blocks on the heap removes that; peak memory stays what one mask needs.
"""

from __future__ import annotations

import ctypes
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def keep_heap(limit_bytes: int = 64 << 20) -> bool:
    """Serve allocations below ``limit_bytes`` from the heap and stop trimming it.

    Call it once in a process that generates many masks (the dataset workers
    do; a PyTorch DataLoader ``worker_init_fn`` may). It affects the whole
    process and is a no-op outside glibc Linux.

    Parameters
    ----------
    limit_bytes : int
        Blocks smaller than this are not mmapped; the heap is trimmed only
        above four times this much free memory.

    Returns
    -------
    bool
        Whether the allocator accepted the settings.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, limit_bytes)) and bool(mallopt(_M_TRIM_THRESHOLD, 4 * limit_bytes))
