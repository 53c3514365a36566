"""Summary statistics of a dataset, from its manifest (no PNG decoding)."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from maskgen.fileio import atomic_write_bytes
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


def dataset_stats(root: str | os.PathLike) -> dict[str, Any]:
    """Statistics of the masks listed in the manifest of the dataset at ``root``.

    Returns
    -------
    dict
        ``masks`` (count listed), ``regions_per_mask`` ({K: masks}),
        ``area`` (min/median/mean/max area fraction over all regions and
        ``histogram``: counts in 20 equal bins over [0, 1]), ``components_per_region``
        (min/median/mean/max), ``share_small_region`` (fraction of masks with a
        region under 1 % of the pixels) and ``redraws`` (mean/max).

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
    values, counts = np.unique(ks, return_counts=True)
    return {
        "masks": len(records),
        "count": header["count"],
        "regions_per_mask": {int(v): int(c) for v, c in zip(values, counts)},
        "area": {**_summary(areas), "histogram": hist.tolist()},
        "components_per_region": _summary(comps),
        "share_small_region": float(np.mean([min(r["areas"]) < SMALL_REGION for r in records])),
        "redraws": {"mean": float(redraws.mean()), "max": int(redraws.max())},
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


def _bars(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], labels: list[str], values: list[int], title: str) -> None:
    x0, y0, x1, y1 = box
    draw.text((x0, y0), title, fill=(0, 0, 0))
    top = max(values) or 1
    slot = (x1 - x0) / max(len(values), 1)
    base = y1 - 14
    for i, (label, v) in enumerate(zip(labels, values)):
        left = x0 + i * slot
        h = (base - y0 - 16) * v / top
        draw.rectangle([left + 1, base - h, left + slot - 2, base], fill=(0, 130, 200))
        draw.text((left + 1, base + 2), label, fill=(0, 0, 0))


def plot_stats(stats: dict[str, Any], path: str | os.PathLike) -> None:
    """Write a PNG with bar charts of the area histogram and regions per mask."""
    img = Image.new("RGB", (900, 300), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    hist = stats["area"]["histogram"]
    _bars(draw, (10, 10, 600, 290), [f"{i / AREA_BINS:.2f}"[1:] for i in range(len(hist))], hist, "area fraction per region")
    ks = stats["regions_per_mask"]
    _bars(draw, (630, 10, 890, 290), [str(k) for k in ks], list(ks.values()), "regions per mask")
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    atomic_write_bytes(Path(path), buf.getvalue())
