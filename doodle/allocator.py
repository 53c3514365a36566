"""Keep freed tensor memory in the process, so the next step reuses it.

glibc serves every allocation above its mmap threshold (128 KiB, rising to at
most 32 MiB) with a fresh ``mmap`` and unmaps it again on free. A training step
allocates and frees the same large activations every time, so each step
page-faults them in again and the kernel zeroes every page: on a 2-core Zen 5
an elementwise op on a 42 MB tensor took 13 ms into fresh memory and 2 ms into
reused memory. Serving such blocks from the heap and never trimming it makes a
training step 1.1-1.4x faster (``scripts/bench_train.py --default-malloc``
times the difference). The price is resident memory: fragmentation lets the
heap grow to about 1.5x (a 256 px, batch 4 run held 5.4 GB, flat from step
300 on, against 3.6 GB after 60 steps with glibc's defaults), and it stays with
the process until it exits.
"""

from __future__ import annotations

from maskgen.alloc import keep_heap

#: Allocations below this size come from the reused heap; larger ones are mmapped.
HEAP_LIMIT_BYTES = 256 << 20


def reuse_freed_memory() -> bool:
    """Make the C allocator reuse freed tensors' memory for the rest of the process.

    The ``doodle`` command line and the benchmarks call this once at start-up;
    call it yourself before training or rendering from Python. It is a no-op
    outside glibc Linux.

    Returns
    -------
    bool
        Whether the allocator accepted the settings.
    """
    return keep_heap(HEAP_LIMIT_BYTES)
