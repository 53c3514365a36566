"""Summary statistics of a dataset, from its manifest (no PNG decoding)."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from maskgen.figures import new_figure, save_png
from maskgen.layout import read_header, read_manifest

SMALL_REGION = 0.01
AREA_BINS = 20


def _summary(values: np.ndarray) -> dict[str, float]:
    return {
        "min": float(values.min()),
        "median": float(np.median(values)),
        "mean": float(values.mean()),
        "max": float(values.max()),
    }


def _counts(values: np.ndarray) -> dict[int, int]:
    # {value: how many}, for integer-valued data (K, components, redraws).
    uniq, counts = np.unique(values, return_counts=True)
    return {int(v): int(c) for v, c in zip(uniq, counts)}


def dataset_stats(root: str | os.PathLike) -> dict[str, Any]:
    """Statistics of the masks listed in the manifest of the dataset at ``root``.

    Returns
    -------
    dict
        ``masks`` (count listed), ``regions_per_mask`` ({K: masks}),
        ``area`` (min/median/mean/max area fraction over all regions and
        ``histogram``: counts in 20 equal bins over [0, 1]), ``components_per_region``
        (min/median/mean/max and ``histogram``: {components: regions}),
        ``share_small_region`` (fraction of masks with a region under 1 % of the
        pixels) and ``redraws`` (mean/max and ``histogram``: {redraws: masks}).

    Raises
    ------
    ValueError
        If the manifest lists no masks.
    """
    header = read_header(root)
    records, _ = read_manifest(root, header["count"])
    if not records:
        raise ValueError(f"{root} lists no masks yet; run maskgen generate first")
    ks = np.array([r["k"] for r in records])
    areas = np.concatenate([r["areas"] for r in records])
    comps = np.concatenate([r["components"] for r in records]).astype(float)
    redraws = np.array([r["redraws"] for r in records], dtype=float)
    hist, _ = np.histogram(areas, bins=AREA_BINS, range=(0.0, 1.0))
    return {
        "masks": len(records),
        "count": header["count"],
        "regions_per_mask": _counts(ks),
        "area": {**_summary(areas), "histogram": hist.tolist()},
        "components_per_region": {**_summary(comps), "histogram": _counts(comps)},
        "share_small_region": float(np.mean([min(r["areas"]) < SMALL_REGION for r in records])),
        "redraws": {"mean": float(redraws.mean()), "max": int(redraws.max()), "histogram": _counts(redraws)},
    }


def format_stats(stats: dict[str, Any]) -> str:
    """Readable multi-line table of :func:`dataset_stats` output."""
    a, c = stats["area"], stats["components_per_region"]
    width = max(stats["area"]["histogram"]) or 1
    lines = [
        f"masks                    {stats['masks']} of {stats['count']}",
        "regions per mask         " + ", ".join(f"K={k}: {n}" for k, n in stats["regions_per_mask"].items()),
        f"                         {'min':>8} {'median':>8} {'mean':>8} {'max':>8}",
        f"area fraction per region {a['min']:8.4f} {a['median']:8.4f} {a['mean']:8.4f} {a['max']:8.4f}",
        f"components per region    {c['min']:8.0f} {c['median']:8.1f} {c['mean']:8.2f} {c['max']:8.0f}",
        f"masks with a region <1%  {100 * stats['share_small_region']:.2f} %",
        f"redraws per mask         mean {stats['redraws']['mean']:.3f}, max {stats['redraws']['max']}",
        "area histogram",
    ]
    for i, n in enumerate(stats["area"]["histogram"]):
        if n:
            lo = i / AREA_BINS
            lines.append(f"  {lo:4.2f}-{lo + 1 / AREA_BINS:4.2f} {n:8d} {'#' * round(40 * n / width)}")
    return "\n".join(lines)




def _bar_panel(ax, x, heights, width: float, title: str, xlabel: str, ylabel: str, align: str = "center") -> None:
    bars = ax.bar(x, heights, width=width, align=align, color="#4363d8", edgecolor="white", linewidth=0.5)
    # Counts on the bars, unless there are too many to read.
    if len(heights) <= 25:
        ax.bar_label(bars, labels=[str(n) if n else "" for n in heights], fontsize=8, padding=2)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.margins(y=0.15)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)


def _int_panel(ax, counts: dict, title: str, xlabel: str, ylabel: str) -> None:
    from matplotlib.ticker import MaxNLocator

    # JSON round trips turn the integer keys into strings.
    values = sorted(int(v) for v in counts)
    heights = [counts.get(v, counts.get(str(v))) for v in values]
    _bar_panel(ax, values, heights, 0.8, title, xlabel, ylabel)
    if len(values) <= 15:
        ax.set_xticks(values)
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    # At least 4 units wide, so that one or two values do not fill the panel with a slab.
    pad = max(0.6, (4 - (values[-1] - values[0])) / 2)
    ax.set_xlim(values[0] - pad, values[-1] + pad)


def plot_stats(stats: dict[str, Any], path: str | os.PathLike, title: str = "maskgen dataset") -> None:
    """Write a PNG of the histograms of :func:`dataset_stats` (1200 x 800 pixels).

    Four labelled bar charts with their counts: region area fraction (20 bins),
    connected components per region, regions per mask (K) and redraws per mask.
    Needs matplotlib (the ``plot`` extra).

    Parameters
    ----------
    stats : dict
        Output of :func:`dataset_stats` (or its JSON round trip).
    path : path-like
        PNG to write, atomically.
    title : str
        Figure title, e.g. the dataset directory.

    Raises
    ------
    MissingMatplotlib
        A ``ValueError``: matplotlib is not installed.
    """
    fig = new_figure("--plot", figsize=(12, 8), dpi=100, layout="constrained")
    grid = fig.add_gridspec(2, 3)
    area = stats["area"]
    area_ax = fig.add_subplot(grid[0, :])
    _bar_panel(area_ax, np.arange(AREA_BINS) / AREA_BINS, area["histogram"], 1 / AREA_BINS,
               "Region area (every region of every mask)", "area fraction of its mask", "regions", align="edge")
    area_ax.set_xticks(np.linspace(0, 1, 11))
    area_ax.set_xlim(0, 1)
    _int_panel(fig.add_subplot(grid[1, 0]), stats["components_per_region"]["histogram"],
               "Connected components per region", "components", "regions")
    _int_panel(fig.add_subplot(grid[1, 1]), stats["regions_per_mask"], "Regions per mask", "regions (K)", "masks")
    _int_panel(fig.add_subplot(grid[1, 2]), stats["redraws"]["histogram"],
               "Redraws per mask", "redraws (failed min-area checks)", "masks")
    c = stats["components_per_region"]
    fig.suptitle(
        f"{title}: {stats['masks']} of {stats['count']} masks\n"
        f"area median {area['median']:.3f}, mean {area['mean']:.3f}; components per region mean {c['mean']:.2f}; "
        f"{100 * stats['share_small_region']:.2f} % of masks have a region under {100 * SMALL_REGION:g} %",
        fontsize=11,
    )
    save_png(fig, path)
