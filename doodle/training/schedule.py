"""The learning-rate schedules of a training run: by step (halving), or over a ``--minutes`` budget (cosine)."""

from __future__ import annotations

import math

import torch
import torch.distributed as dist


def lr_factor(step: int, half_life: int, min_ratio: float) -> float:
    """Learning-rate multiplier: halves every ``half_life`` steps, never below ``min_ratio``.

    It depends on the step alone (not on the total), so a run extended with a
    larger ``--steps`` continues on the same schedule.
    """
    return max(min_ratio, 0.5 ** (step / half_life))


def budget_lr_factor(fraction: float, min_ratio: float) -> float:
    """Learning-rate multiplier of a ``--minutes`` run: cosine from 1 to ``min_ratio`` over the budget.

    ``fraction`` is the share of the wall-clock budget spent (clipped to [0, 1]),
    so the schedule spans the budget whatever the machine's speed.

    Examples
    --------
    >>> budget_lr_factor(0.0, 0.05), budget_lr_factor(0.5, 0.05), budget_lr_factor(1.0, 0.05)
    (1.0, 0.525, 0.05)
    """
    fraction = min(max(fraction, 0.0), 1.0)
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * fraction))


def budget_spent(minutes: float | None, seconds: float, world: int, device: torch.device) -> float | None:
    """Share of a ``--minutes`` budget spent (None without one); rank 0's clock decides for every rank."""
    if minutes is None:
        return None
    spent = torch.tensor([seconds / (60.0 * minutes)], dtype=torch.float64, device=device)
    if world > 1:
        # Ranks must stop at the same step or the next all-reduce would hang.
        dist.broadcast(spent, src=0)
    return float(spent)
