"""Choosing the compute precision: bf16 autocast where the hardware runs it fast."""

from __future__ import annotations

import contextlib

import torch

PRECISIONS = ("auto", "fp32", "bf16")


def resolve_precision(precision: str, device: torch.device | str = "cpu") -> str:
    """Turn ``"auto"`` into ``"bf16"`` or ``"fp32"`` for ``device``.

    ``auto`` picks bf16 on CPUs with native bf16 instructions (AVX512-BF16 / AMX,
    where a VGG forward+backward runs about 3x faster) and on CUDA GPUs that
    support it, else fp32.

    Examples
    --------
    >>> resolve_precision("fp32")
    'fp32'
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    if precision != "auto":
        return precision
    device = torch.device(device)
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if torch.ops.mkldnn._is_mkldnn_bf16_supported() else "fp32"


def autocast(precision: str, device: torch.device | str = "cpu") -> contextlib.AbstractContextManager:
    """An autocast context for a resolved precision (``"fp32"`` disables autocast)."""
    device = torch.device(device)
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()
