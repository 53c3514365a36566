"""Keep freed memory in the process, so the next mask or training step reuses it.

glibc serves every allocation above its mmap threshold (128 KiB, rising to at
most 32 MiB) with a fresh ``mmap`` and unmaps it again on free, and it trims
the heap back to the OS whenever enough of its top is free. Code that allocates
and frees the same large blocks over and over then page-faults them in again
each time, and the kernel zeroes every page. Serving such blocks from the heap
and not trimming it removes that cost. Two users:

* **Mask generation** (:func:`keep_heap`, called by the dataset workers): each
  mask allocates and frees a few half-megabyte arrays; with the default
  thresholds every mask paid ~0.5 ms of page faults (a third of its cost at
  256 px). Peak memory stays what one mask needs.
* **PyTorch training and rendering** (:func:`reuse_freed_memory`, called by the
  ``doodle`` command line and its benchmarks): a training step allocates and
  frees the same large activations every step. On a 2-core Zen 5 an
  elementwise op on a 42 MB tensor took 13 ms into fresh memory and 2 ms into
  reused memory; a training step gets 1.1-1.4x faster
  (``scripts/bench_train.py --default-malloc`` times the difference). The
  price is resident memory: fragmentation lets the heap grow to about 1.5x (a
  256 px, batch 4 run held 5.4 GB, flat from step 300 on, against 3.6 GB after
  60 steps with glibc's defaults), and it stays with the process until it
  exits.
"""

from __future__ import annotations

import ctypes
import sys
from dataclasses import dataclass, fields
from typing import Callable

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_C_INT_MAX = 2**31 - 1  # mallopt takes a C int

#: What :func:`keep_heap` keeps on the heap by default: a mask's arrays are far smaller.
MASK_HEAP_LIMIT_BYTES = 64 << 20
#: What :func:`reuse_freed_memory` keeps on the heap: large activations; larger blocks are mmapped.
HEAP_LIMIT_BYTES = 256 << 20


@dataclass(frozen=True)
class HeapSettings:
    """Which of the two allocator settings of :func:`keep_heap` took effect.

    Attributes
    ----------
    mmap_threshold : bool
        Blocks below the limit now come from the heap (``M_MMAP_THRESHOLD``).
    trim_threshold : bool
        The heap is trimmed only above four times the limit (``M_TRIM_THRESHOLD``).

    Examples
    --------
    >>> s = HeapSettings(mmap_threshold=True, trim_threshold=False)
    >>> bool(s), s.refused, s.describe()
    (False, ['M_TRIM_THRESHOLD'], 'partly: the C library refused M_TRIM_THRESHOLD')
    """

    mmap_threshold: bool = False
    trim_threshold: bool = False

    def __bool__(self) -> bool:
        return self.mmap_threshold and self.trim_threshold

    @property
    def refused(self) -> list[str]:
        """Names (``M_...``) of the settings that did not take effect."""
        return [f"M_{f.name.upper()}" for f in fields(self) if not getattr(self, f.name)]

    def describe(self) -> str:
        """``"yes"``, or ``"partly: ..."`` / ``"no: ..."`` naming what did not take effect."""
        if self:
            return "yes"
        what = "partly" if self.mmap_threshold or self.trim_threshold else "no"
        return f"{what}: the C library refused {' and '.join(self.refused)}"


def _mallopt() -> Callable[[int, int], int] | None:
    # glibc's mallopt, or None where there is none (other C libraries, other systems).
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return None


def keep_heap(limit_bytes: int = MASK_HEAP_LIMIT_BYTES) -> HeapSettings:
    """Serve allocations below ``limit_bytes`` from the heap and stop trimming it.

    Call it once in a process that allocates and frees many large blocks (the
    dataset workers do; a PyTorch DataLoader ``worker_init_fn`` may). It
    affects the whole process and is a no-op outside glibc Linux. Each setting
    is applied on its own, so one refused setting does not keep the other off.

    Parameters
    ----------
    limit_bytes : int
        Blocks smaller than this (1 .. 2**31 - 1 bytes) are not mmapped; the
        heap is trimmed only above four times this much free memory (capped
        at 2**31 - 1 bytes).

    Returns
    -------
    HeapSettings
        Which settings took effect (false means "refused" or "no glibc").

    Raises
    ------
    ValueError
        If ``limit_bytes`` is out of range.

    Examples
    --------
    >>> settings = keep_heap()
    >>> sorted(vars(settings))
    ['mmap_threshold', 'trim_threshold']
    """
    if isinstance(limit_bytes, bool) or not isinstance(limit_bytes, int) or not 0 < limit_bytes <= _C_INT_MAX:
        raise ValueError(f"limit_bytes must be an integer in 1..{_C_INT_MAX}, got {limit_bytes!r}")
    mallopt = _mallopt()
    if mallopt is None:
        return HeapSettings()
    return HeapSettings(
        mmap_threshold=bool(mallopt(_M_MMAP_THRESHOLD, limit_bytes)),
        trim_threshold=bool(mallopt(_M_TRIM_THRESHOLD, min(4 * limit_bytes, _C_INT_MAX))),
    )


def reuse_freed_memory() -> HeapSettings:
    """Make the C allocator reuse freed tensors' memory for the rest of the process.

    :func:`keep_heap` with :data:`HEAP_LIMIT_BYTES`. The ``doodle`` command
    line and the benchmarks call this once at start-up; call it yourself
    before training or rendering from Python. It is a no-op outside glibc
    Linux.

    Returns
    -------
    HeapSettings
        Which settings took effect; ``.describe()`` says what did not.
    """
    return keep_heap(HEAP_LIMIT_BYTES)
