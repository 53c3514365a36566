"""Choosing the device: ``--device auto|cpu|cuda|cuda:N``, with one-line errors for devices that are not there.

Every command that runs a network (train, optimize, render, demo, serve) takes
the same spec. Under ``torchrun`` each rank takes the GPU of its ``LOCAL_RANK``,
so ``torchrun --nproc_per_node=N`` on an N-GPU node gives every rank its own.
"""

from __future__ import annotations

import os
from typing import Callable

import torch

#: What ``--device`` accepts, for help texts.
DEVICE_CHOICES = "auto | cpu | cuda | cuda:N"


def resolve_device(spec: str = "auto", log: Callable[[str], None] | None = None) -> torch.device:
    """The ``torch.device`` for a ``--device`` spec, checked against this machine.

    Parameters
    ----------
    spec : str
        ``"auto"`` (CUDA when available, else the CPU), ``"cpu"``, ``"cuda"`` (the
        current GPU, or ``LOCAL_RANK``'s under torchrun) or ``"cuda:N"``.
    log : callable, optional
        Receives one line when ``auto`` picks a GPU (the CPU goes without saying).

    Returns
    -------
    torch.device

    Raises
    ------
    ValueError
        An unknown spec, CUDA asked for on a machine without it, or a GPU index
        that does not exist; the message says what to use instead.

    Examples
    --------
    >>> resolve_device("cpu")
    device(type='cpu')
    """
    text = str(spec).strip().lower()
    if text == "auto":
        if not torch.cuda.is_available():
            return torch.device("cpu")
        device = _local_cuda()
        if log is not None:
            log(f"device: {device} ({torch.cuda.get_device_name(device)}; --device auto)")
        return device
    if text == "cpu":
        return torch.device("cpu")
    if text == "cuda" or text.startswith("cuda:"):
        if not torch.cuda.is_available():
            why = "this torch build has no CUDA" if torch.version.cuda is None else "no CUDA GPU is visible"
            raise ValueError(f"--device {spec}: {why} on this machine; use --device cpu (or auto)")
        if text == "cuda":
            return _local_cuda()
        index = text[len("cuda:"):]
        if not index.isdigit():
            raise ValueError(f"--device {spec}: expected cuda:N with N a GPU index, e.g. cuda:0")
        count = torch.cuda.device_count()
        if int(index) >= count:
            raise ValueError(f"--device {spec}: this machine has {count} CUDA device(s), "
                             f"cuda:0..cuda:{count - 1}; pick one of them")
        return torch.device("cuda", int(index))
    raise ValueError(f"unknown device {spec!r}: use {DEVICE_CHOICES}")


def _local_cuda() -> torch.device:
    # torchrun sets LOCAL_RANK: one GPU per rank on each node.
    local_rank = os.environ.get("LOCAL_RANK")
    index = int(local_rank) if local_rank is not None else torch.cuda.current_device()
    count = torch.cuda.device_count()
    if index >= count:
        raise ValueError(f"LOCAL_RANK {index} but this node has {count} CUDA device(s); "
                         f"start at most {count} processes per node (torchrun --nproc_per_node={count})")
    return torch.device("cuda", index)
