"""maskgen.alloc: each allocator setting is applied and reported on its own; large tensors reuse the heap."""

import platform
import subprocess
import sys

import pytest

from maskgen import alloc

GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"


def test_keep_heap_takes_both_settings_on_glibc_and_none_elsewhere():
    settings = alloc.keep_heap()
    assert (settings.mmap_threshold, settings.trim_threshold) == (GLIBC, GLIBC)
    assert settings.describe() == ("yes" if GLIBC else "no: the C library refused M_MMAP_THRESHOLD and M_TRIM_THRESHOLD")


@pytest.mark.parametrize("refused, taken", [(-3, "trim_threshold"), (-1, "mmap_threshold")])
def test_a_refused_setting_does_not_keep_the_other_off(monkeypatch, refused, taken):
    calls = []

    def mallopt(option: int, value: int) -> int:
        calls.append((option, value))
        return 0 if option == refused else 1

    monkeypatch.setattr(alloc, "_mallopt", lambda: mallopt)
    settings = alloc.keep_heap(1 << 20)
    assert sorted(calls) == [(-3, 1 << 20), (-1, 4 << 20)]  # both were tried
    assert getattr(settings, taken) and not settings
    name = {-3: "M_MMAP_THRESHOLD", -1: "M_TRIM_THRESHOLD"}[refused]
    assert settings.refused == [name]
    assert settings.describe() == f"partly: the C library refused {name}"


def test_trim_threshold_is_capped_to_a_c_int(monkeypatch):
    calls = {}

    def mallopt(option: int, value: int) -> int:
        calls[option] = value
        return 1

    monkeypatch.setattr(alloc, "_mallopt", lambda: mallopt)
    assert alloc.keep_heap(1 << 30)
    assert calls == {-3: 1 << 30, -1: 2**31 - 1}


@pytest.mark.parametrize("bad", [0, -1, 2**31, 1.5, True])
def test_keep_heap_rejects_bad_limits(bad):
    with pytest.raises(ValueError, match="limit_bytes must be an integer"):
        alloc.keep_heap(bad)


# Bytes glibc holds in mmapped blocks while a 64 MiB tensor (the size of a large
# activation) is alive, minus before; mallinfo2 is glibc >= 2.33.
PROBE = """
import ctypes, sys, torch
from maskgen.alloc import reuse_freed_memory
if sys.argv[1] == "reuse":
    assert reuse_freed_memory(), reuse_freed_memory().describe()
class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()]
libc = ctypes.CDLL(None)
libc.mallinfo2.restype = MallInfo2
before = libc.mallinfo2().hblkhd
x = torch.ones(16 << 20)
print(libc.mallinfo2().hblkhd - before)
"""


def _mmapped_bytes(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return int(out.stdout)


@pytest.mark.slow
@pytest.mark.skipif(not GLIBC or tuple(map(int, platform.libc_ver()[1].split(".")[:2])) < (2, 33),
                    reason="mallinfo2 needs glibc >= 2.33")
def test_a_64_mib_tensor_comes_from_the_heap_not_a_fresh_mmap():
    assert _mmapped_bytes("default") >= 64 << 20  # the premise: by default glibc mmaps it
    assert _mmapped_bytes("reuse") == 0
