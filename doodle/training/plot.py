"""Training curves of doodle runs: loss against step and wall-clock minutes.

Reads ``RUN/log.jsonl``, written by :func:`doodle.training.train.train` every
``log_every`` steps, one JSON object per line::

    {"step": 120, "loss": 3.1, "layers": {"relu1_1": 0.8, ...}, "lr": 0.001,
     "steps_per_s": 2.5, "elapsed_s": 48.0}

and draws a PNG with matplotlib (the optional ``plot`` extra).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from maskgen.fileio import read_jsonl
from maskgen.figures import MissingMatplotlib, new_figure, save_png

LOG_NAME = "log.jsonl"
CURVES_NAME = "curves.png"


@dataclass
class RunLog:
    """The logged curves of one run; all arrays have shape ``(n,)``, one value per log entry."""

    name: str
    steps: np.ndarray
    loss: np.ndarray
    minutes: np.ndarray
    """Wall-clock minutes of training up to each entry (NaN where the log cannot tell)."""
    layers: dict[str, np.ndarray] = field(default_factory=dict)
    """Each loss term (style layers, ``tv``, ...) before weighting; NaN where not logged."""
    problems: list[str] = field(default_factory=list)
    """Lines of the log that were skipped (a torn last line of a killed run, ...)."""


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def elapsed_minutes(entries: Sequence[dict]) -> np.ndarray:
    """Cumulative wall-clock minutes of training at each log entry, shape ``(n,)``.

    ``elapsed_s`` is the training loop's wall-clock seconds, carried over by
    ``--resume`` (the time a run spent killed is not counted). Logs written before
    ``elapsed_s`` existed fall back to ``steps_per_s``: an entry's interval is
    (its step - the previous entry's step) / its ``steps_per_s``. ``elapsed_s``
    dropping (an old run resumed by a newer doodle starts it at 0) starts a new
    segment that is added to the time so far.

    Examples
    --------
    >>> elapsed_minutes([{"step": 10, "steps_per_s": 0.5}, {"step": 20, "steps_per_s": 1.0},
    ...                  {"step": 30, "elapsed_s": 6}, {"step": 40, "elapsed_s": 12}]).tolist()
    [0.3333333333333333, 0.5, 0.6, 0.7]
    """
    total, prev_step, prev_elapsed = 0.0, 0, None
    out = np.empty(len(entries))
    for i, entry in enumerate(entries):
        elapsed, rate = entry.get("elapsed_s"), entry.get("steps_per_s")
        if _number(elapsed):
            same_process = prev_elapsed is not None and elapsed >= prev_elapsed
            total += elapsed - prev_elapsed if same_process else elapsed
            prev_elapsed = elapsed
        else:
            total += (entry["step"] - prev_step) / rate if _number(rate) and rate > 0 else math.nan
            prev_elapsed = None
        prev_step = entry["step"]
        out[i] = total / 60
    return out


def read_run_log(run: str | os.PathLike) -> RunLog:
    """Read the curves of the run folder ``run`` from its ``log.jsonl``.

    A torn last line (a run killed mid-write, or a log read while training
    appends to it) and entries without a step and a loss are skipped and listed
    in ``problems``.

    Raises
    ------
    FileNotFoundError
        If ``run/log.jsonl`` does not exist.
    ValueError
        If it holds no usable entry yet.
    """
    run = Path(run)
    path = run / LOG_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; is {run} a run folder written by doodle train?")
    records, problems = read_jsonl(path)
    entries = [r for r in records if _number(r.get("step")) and _number(r.get("loss"))]
    if len(entries) < len(records):
        problems.append(f"{LOG_NAME}: {len(records) - len(entries)} entries without a step and a loss")
    if not entries:
        raise ValueError(f"{path} has no log entries yet; plot again after --log-every steps of training")
    names: list[str] = []
    for entry in entries:
        layers = entry.get("layers")
        names += [n for n in (layers if isinstance(layers, dict) else ()) if n not in names]
    return RunLog(
        name=run.resolve().name,
        steps=np.array([e["step"] for e in entries], dtype=float),
        loss=np.array([e["loss"] for e in entries], dtype=float),
        minutes=elapsed_minutes(entries),
        layers={n: np.array([(e.get("layers") or {}).get(n, math.nan) for e in entries], dtype=float) for n in names},
        problems=problems,
    )


def _plain(value: float, _pos=None) -> str:
    return f"{value:g}"


def _two_and_five(value: float, _pos=None) -> str:
    mantissa = value / 10 ** math.floor(math.log10(value))
    return _plain(value) if min(abs(mantissa - 2), abs(mantissa - 5)) < 1e-6 else ""


def _log_y(ax) -> None:
    from matplotlib import ticker

    # matplotlib's default labels read 1.175x10^-2 and leave 1-2 decade axes
    # with one label; plain numbers at readable spacings instead.
    ax.set_yscale("log")
    lo, hi = ax.get_ylim()
    decades = math.log10(hi / lo)
    if decades < 1:  # a few evenly spaced ticks
        ax.yaxis.set_major_locator(ticker.MaxNLocator(nbins=5))
    ax.yaxis.set_major_formatter(ticker.FuncFormatter(_plain))
    few_decades = 1 <= decades < 2.5
    ax.yaxis.set_minor_formatter(ticker.FuncFormatter(_two_and_five) if few_decades else ticker.NullFormatter())
    ax.grid(True, which="major", alpha=0.35)


def _grid(feature: str, terms: int, legend_rows: int):
    # Fixed margins in inches rather than constrained layout, which doubled the
    # drawing time (paid at every sample step of doodle train).
    width, left, right, between = 12.0, 0.85, 0.2, 0.9
    top, bottom, gap, total_h, term_h = 0.3 + 0.225 * max(legend_rows, 2), 0.55, 0.45, 2.45, 1.65
    height = top + bottom + total_h + terms * (gap + term_h)
    fig = new_figure(feature, figsize=(width, height), dpi=100)
    mean_h, mean_w = (total_h + terms * term_h) / (1 + terms), (width - left - right - between) / 2
    grid = fig.add_gridspec(1 + terms, 2, height_ratios=[total_h] + [term_h] * terms, hspace=gap / mean_h,
                            wspace=between / mean_w, left=left / width, right=1 - right / width,
                            top=1 - top / height, bottom=bottom / height)
    return fig, grid.subplots(sharex="col", squeeze=False)


def _draw(logs: Sequence[RunLog], path: str | os.PathLike, feature: str) -> None:
    names: list[str] = []
    for log in logs:
        names += [n for n in log.layers if n not in names]
    fig, axes = _grid(feature, len(names), legend_rows=math.ceil(len(logs) / (1 if len(logs) < 4 else 2)))
    from matplotlib import ticker

    labels = [log.name for log in logs]
    if len(set(labels)) < len(labels):  # same folder name in different places: say which
        labels = [f"{label} #{i + 1}" for i, label in enumerate(labels)]
    timed = [log for log in logs if np.isfinite(log.minutes).any()]
    # Seconds for short runs (tests, smoke runs), where "0.0 min" says nothing.
    short = max((np.nanmax(g.minutes) for g in timed), default=0) < 2
    unit, abbreviation, per_minute = ("seconds", "s", 60) if short else ("minutes", "min", 1)
    columns = [("step", lambda g: g.steps), (f"wall-clock {unit}", lambda g: g.minutes * per_minute)]
    for col, (xlabel, x_of) in enumerate(columns):
        for row, name in enumerate([None] + names):
            ax = axes[row, col]
            for i, (log, label) in enumerate(zip(logs, labels)):
                y = log.loss if name is None else log.layers.get(name)
                if y is None:
                    continue
                took = f", {log.minutes[-1] * per_minute:.1f} {abbreviation}" if np.isfinite(log.minutes[-1]) else ""
                ax.plot(x_of(log), y, color=f"C{i % 10}", linewidth=1.3, marker="." if len(y) < 30 else None,
                        label=f"{label}: {int(log.steps[-1])} steps{took}, loss {log.loss[-1]:.4g}"
                        if row == 0 and col == 0 else None)
            _log_y(ax)
            ax.set_title("total loss" if name is None else f"{name} term (unweighted)", fontsize=10)
            ax.set_ylabel("loss (log scale)" if name is None else "loss term")
        axes[-1, col].set_xlabel(xlabel)
    axes[-1, 0].xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
    if not timed:
        axes[0, 1].text(0.5, 0.5, "log.jsonl has neither elapsed_s nor steps_per_s", ha="center",
                        transform=axes[0, 1].transAxes, color="0.4")
    fig.legend(loc="upper center", bbox_to_anchor=(0.5, 1 - 0.08 / fig.get_figheight()),
               ncols=1 if len(logs) < 4 else 2, fontsize=9, frameon=False)
    save_png(fig, path)


def plot_training_curves(runs: Sequence[str | os.PathLike], path: str | os.PathLike) -> list[RunLog]:
    """Write a PNG of the training curves of the run folders ``runs``, overlaid.

    Left column against step, right column against wall-clock minutes; first
    row the total loss, then one row per logged loss term; log-scale y, one
    colour per run, legend with the run folder names. 1200 pixels wide, 375 +
    210 per loss term high (a little more above 4 runs, for the legend).

    Parameters
    ----------
    runs : sequence of path-like
        Run folders written by ``doodle train`` (each with a ``log.jsonl``).
    path : path-like
        PNG to write, atomically.

    Returns
    -------
    list of RunLog
        What was read from each run (with any skipped lines in ``problems``).

    Raises
    ------
    MissingMatplotlib
        A ``ValueError``: matplotlib is not installed.
    FileNotFoundError, ValueError
        From :func:`read_run_log`.
    """
    if not runs:
        raise ValueError("give at least one run folder")
    logs = [read_run_log(run) for run in runs]
    _draw(logs, path, "doodle plot")
    return logs


def update_run_curves(run: str | os.PathLike) -> bool:
    """Redraw ``run/curves.png`` from ``run/log.jsonl`` during training.

    Returns ``False`` and writes nothing when matplotlib is not installed (the
    ``plot`` extra is optional) or nothing is logged yet.
    """
    run = Path(run)
    try:
        log = read_run_log(run)
    except (FileNotFoundError, ValueError):
        return False
    try:
        _draw([log], run / CURVES_NAME, "training curves")
    except MissingMatplotlib:
        return False
    return True
