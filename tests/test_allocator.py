"""doodle.allocator: large tensors come from the reused heap, not from fresh mmaps."""

import subprocess
import sys

import pytest

# Bytes glibc holds in mmapped blocks while a 64 MiB tensor (the size of a large
# activation) is alive, minus before; mallinfo2 is glibc >= 2.33.
PROBE = """
import ctypes, sys, torch
from doodle.allocator import reuse_freed_memory
applied = reuse_freed_memory() if sys.argv[1] == "reuse" else None
class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()]
libc = ctypes.CDLL(None)
libc.mallinfo2.restype = MallInfo2
before = libc.mallinfo2().hblkhd
x = torch.ones(16 << 20)
print(applied, libc.mallinfo2().hblkhd - before)
"""


def _probe(mode: str) -> tuple[str, int]:
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True)
    if out.returncode != 0:
        pytest.skip(f"no glibc mallinfo2 here: {out.stderr.strip().splitlines()[-1]}")
    applied, mmapped = out.stdout.split()
    return applied, int(mmapped)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc allocator settings")
def test_a_64_mib_tensor_comes_from_the_heap_not_a_fresh_mmap():
    applied, reused = _probe("reuse")
    if applied != "True":
        pytest.skip("the C library did not take the settings")
    _, default = _probe("default")
    assert default >= 64 << 20  # the premise: by default glibc mmaps it
    assert reused == 0
