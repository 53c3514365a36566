"""A guard against jobs that would run out of memory.

A doodle at a large ``--size`` (or a large ``--batch``) can need tens of
gigabytes of VGG activations; on a shared machine that ends with the kernel's
OOM killer or heavy swapping, hours later or minutes in. Estimating the memory
first and refusing with a clear message is cheaper.
"""

from __future__ import annotations

import os
from pathlib import Path

from doodle.lossnet.vgg import BLOCK_WIDTHS, VGG_LAYER_NAMES

#: Memory of a training/optimisation step relative to the forward activations:
#: autograd keeps the forward activations (1x), the backward pass holds a
#: gradient of the same size for each (1x), and convolution workspaces,
#: temporaries and the allocator's slack take about as much again (1x).
BACKWARD_FACTOR = 3
BYTES_PER_FLOAT = 4
GIB = 1 << 30


def estimate_vgg_bytes(
    height: int,
    width: int,
    batch: int = 1,
    last_layer: str = "relu5_1",
    arch: str = "vgg19",
    backward: bool = True,
) -> int:
    """Estimate the memory of running VGG features up to ``last_layer``.

    The sum of the float32 sizes of the input and of every layer output kept
    (conv, relu and pool outputs up to and including ``last_layer``), times
    :data:`BACKWARD_FACTOR` (3) when gradients flow back through the network.
    Pools halve the size with floor rounding, as ``avg_pool2d(2)`` does.

    Parameters
    ----------
    height, width : int
        Input size in pixels.
    batch : int
        Images per forward pass.
    last_layer : str
        Deepest layer computed, e.g. ``"relu5_1"``.
    arch : {"vgg19", "vgg16"}
        Network layout.
    backward : bool
        Whether the pass is differentiated (optimisation or training).

    Returns
    -------
    int
        Bytes.

    Examples
    --------
    >>> estimate_vgg_bytes(64, 64, backward=False) // 1024  # KiB
    9808
    """
    if height < 1 or width < 1 or batch < 1:
        raise ValueError(f"size and batch must be positive, got {width}x{height} and batch {batch}")
    if arch not in VGG_LAYER_NAMES:
        raise ValueError(f"unknown VGG architecture {arch!r}; use one of {', '.join(VGG_LAYER_NAMES)}")
    names = VGG_LAYER_NAMES[arch]
    if last_layer not in names:
        raise ValueError(f"unknown VGG layer {last_layer!r}; use one of {', '.join(names)}")
    widths = iter([c for block in BLOCK_WIDTHS[arch] for c in block])
    h, w, channels = height, width, 3
    floats = 3 * height * width  # the input image
    for name in names:
        if name.startswith("conv"):
            channels = next(widths)
        elif name.startswith("pool"):
            h, w = h // 2, w // 2
        floats += channels * h * w
        if name == last_layer:
            break
    return _total(floats, batch, backward)


def _total(floats: int, batch: int, backward: bool) -> int:
    return floats * batch * BYTES_PER_FLOAT * (BACKWARD_FACTOR if backward else 1)


def available_memory() -> int:
    """Memory this process can still use, in bytes.

    The smaller of the kernel's ``MemAvailable`` and the room left under the
    cgroup memory limit (containers, batch schedulers); ``os.sysconf`` free
    pages when ``/proc/meminfo`` cannot be read.
    """
    candidates = [v for v in (_meminfo_available(), _cgroup_room()) if v is not None]
    if candidates:
        return min(candidates)
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def _meminfo_available() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _cgroup_room() -> int | None:
    # cgroup v2 first, then v1; "max" or a huge v1 number means no limit.
    for limit_file, usage_file in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
        ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"),
    ):
        try:
            limit_text = Path(limit_file).read_text().strip()
            if limit_text == "max":
                return None
            limit = int(limit_text)
            if limit >= 1 << 60:
                return None
            return max(0, limit - int(Path(usage_file).read_text().strip()))
        except (OSError, ValueError):
            continue
    return None


def check_fits(nbytes: int, what: str, limit: int | None = None) -> None:
    """Refuse a job whose estimated memory exceeds what is available.

    Parameters
    ----------
    nbytes : int
        Estimated need in bytes, e.g. from :func:`estimate_vgg_bytes`.
    what : str
        What needs it, starting the message (e.g. ``"a 4096 px doodle"``).
    limit : int or None
        Bytes available; ``None`` asks :func:`available_memory`.

    Raises
    ------
    ValueError
        ``"<what> needs about X GiB but only Y GiB is available; use a smaller --size or --batch"``.

    Examples
    --------
    >>> check_fits(2 * GIB, "training", limit=1 * GIB)
    Traceback (most recent call last):
    ...
    ValueError: training needs about 2.00 GiB but only 1.00 GiB is available; use a smaller --size or --batch
    """
    if limit is None:
        limit = available_memory()
    if nbytes > limit:
        raise ValueError(
            f"{what} needs about {nbytes / GIB:.2f} GiB but only {limit / GIB:.2f} GiB is available; "
            f"use a smaller --size or --batch"
        )
