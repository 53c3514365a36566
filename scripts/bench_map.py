"""How well ``doodle map`` finds the regions of paintings that a person drew maps for.

For each painting with a hand-made map, the regions ``doodle map`` finds are
compared with the map's, in the same run, against plain K-means on RGB +
position::

    python scripts/bench_map.py                                  # the exemplar (4 regions)
    python scripts/bench_map.py --pairs evalset/                 # and every folder under evalset/ with regions.txt
    python scripts/bench_map.py --pair painting.png:its_map.png  # and any other painting with a map
    python scripts/bench_map.py --out bench-map/                 # also write each method's map and preview

A ``--pairs`` folder holds ``style.png`` (the painting), ``style_map.png`` (its
hand-made map) and ``regions.txt`` (the true number of regions; for ``--pair``
and the exemplar, the map's colours are counted by
:func:`doodle.maps.palette.fit_palette`). The map's anti-aliased colours are snapped
to its regions' colours, as training does.

Methods, all with seed ``--seed``:

- ``baseline``: scikit-learn K-means on every pixel's RGB (0..1) and position
  (y, x over the longest side, 0..1), equal weights, nothing else, with the
  true region count;
- ``doodle map``: :func:`doodle.maps.segment.segment_painting` with the true region count;
- ``doodle map, auto``: the same with the count chosen automatically.

Agreement with the hand-made map: the adjusted Rand index (scikit-learn; 1 is
the same partition, 0 is chance, label names do not matter) and the share of
pixels in the same region after the best one-to-one matching of regions
(Hungarian, ``scipy.optimize.linear_sum_assignment``). Usability as a map: the
number of 4-connected pieces of all regions together (maskgen's
``count_components``): speckle can score well on both measures, yet nobody can
paint over it or train on it. The summary ends with the targets of the
paintings other than the exemplar: mean ARI >= :data:`TARGET_MEAN_ARI` with
the true count and >= :data:`TARGET_MEAN_AUTO_ARI` with the automatic one, no
painting below the baseline, at most :data:`MAX_PIECES_PER_REGION` pieces per
region.
"""

from __future__ import annotations

import time
from pathlib import Path

import click
import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score

from doodle.images import load_rgb, save_rgb
from doodle.maps import segment
from doodle.maps.palette import fit_palette
from maskgen.components import count_components
from maskgen.palette import write_label_png

EXEMPLAR = Path(__file__).resolve().parents[1] / "datasets" / "exemplar"
TARGET_MEAN_ARI = 0.65
TARGET_MEAN_AUTO_ARI = 0.55
MAX_PIECES_PER_REGION = 3
METHODS = ("baseline", "doodle map", "doodle map, auto")


def matched_accuracy(truth: np.ndarray, found: np.ndarray) -> float:
    """Share of pixels in the same region after the best one-to-one matching of region labels."""
    overlap = np.zeros((int(truth.max()) + 1, int(found.max()) + 1), np.int64)
    np.add.at(overlap, (truth.ravel(), found.ravel()), 1)
    rows, cols = linear_sum_assignment(overlap, maximize=True)
    return float(overlap[rows, cols].sum() / truth.size)


def baseline(rgb: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Plain K-means on RGB + position, every pixel."""
    h, w = rgb.shape[:2]
    position = np.stack(np.mgrid[0:h, 0:w], axis=-1).reshape(-1, 2) / max(h, w)
    features = np.concatenate([rgb.reshape(-1, 3) / 255.0, position], axis=1)
    return KMeans(n_clusters=k, n_init=segment.N_INIT, random_state=seed).fit_predict(features).reshape(h, w)


def pieces(labels: np.ndarray) -> int:
    """4-connected pieces of all regions together (a hand-made map has a few; speckle has hundreds)."""
    return int(count_components(labels, int(labels.max()) + 1).sum())


def find_pairs(folder: Path) -> list[tuple[str, Path, Path, int]]:
    """``(name, painting, map, regions)`` of every folder under ``folder`` with all three files, by name.

    Folders without ``regions.txt`` are named and skipped: an evaluation set
    marks the pairs it measures with it (and leaves photos and pairs whose
    map cannot be read as regions without).
    """
    found, skipped = [], []
    for sub in sorted(p for p in folder.iterdir() if (p / "style.png").is_file() and (p / "style_map.png").is_file()):
        if (sub / "regions.txt").is_file():
            found.append((sub.name, sub / "style.png", sub / "style_map.png", int((sub / "regions.txt").read_text())))
        else:
            skipped.append(sub.name)
    if skipped:
        click.echo(f"skipped (no regions.txt): {', '.join(skipped)}")
    if not found:
        raise click.BadParameter(f"{folder}: no folder with style.png, style_map.png and regions.txt",
                                 param_hint="--pairs")
    return found


def measure(rgb: np.ndarray, truth: np.ndarray, k: int, seed: int, out: Path | None, name: str) -> dict[str, dict]:
    """Each method's ARI, matched share, pieces, region count and seconds on one painting."""
    runs = {
        "baseline": lambda: baseline(rgb, k, seed),
        "doodle map": lambda: segment.segment_painting(rgb, k, seed=seed).labels,
        "doodle map, auto": lambda: segment.segment_painting(rgb, None, seed=seed).labels,
    }
    results = {}
    for method, run in runs.items():
        start = time.perf_counter()
        found = run().astype(np.uint8)
        results[method] = {
            "seconds": time.perf_counter() - start,
            "ari": adjusted_rand_score(truth.ravel(), found.ravel()),
            "matched": matched_accuracy(truth, found),
            "pieces": pieces(found),
            "k": int(found.max()) + 1,
        }
        if out:
            stem = out / f"{name}-{method.replace(', ', '-').replace(' ', '-')}"
            stem.parent.mkdir(parents=True, exist_ok=True)
            write_label_png(stem.with_suffix(".png"), found)
            save_rgb(stem.with_name(stem.name + "-preview.png"), segment.draw_borders(rgb, found))
    return results


@click.command()
@click.option("--pair", "pairs", multiple=True, metavar="PAINTING:MAP",
              help="Also measure this painting and its hand-made map (repeatable).")
@click.option("--pairs", "folder", type=click.Path(file_okay=False, exists=True, path_type=Path), default=None,
              help="Also measure every folder under this one with style.png and style_map.png (+ regions.txt).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Write each method's map and preview here.")
def main(pairs, folder, seed, out) -> None:
    jobs = [("exemplar", EXEMPLAR / "style.png", EXEMPLAR / "style_map.png", None)]
    jobs += [(Path(p).stem, Path(p), Path(m), None) for p, m in (pair.split(":", 1) for pair in pairs)]
    jobs += find_pairs(folder) if folder else []
    rows = []
    for name, painting_path, map_path, regions in jobs:
        rgb = load_rgb(painting_path)
        palette, truth = fit_palette(load_rgb(map_path), regions)
        results = measure(rgb, truth, palette.k, seed, out, name)
        rows.append((name, palette.k, pieces(truth), results))
        click.echo(f"\n{name}: {painting_path} ({rgb.shape[1]}x{rgb.shape[0]}) vs {map_path}: {palette.k} regions "
                   f"in {pieces(truth)} pieces")
        click.echo(f"{'method':18s} {'ARI':>6s} {'matched':>8s} {'pieces':>7s} {'regions':>8s} {'seconds':>8s}")
        for method, r in results.items():
            click.echo(f"{method:18s} {r['ari']:6.3f} {r['matched']:8.1%} {r['pieces']:7d} {r['k']:8d} "
                       f"{r['seconds']:8.2f}")
    summarise(rows)


def summarise(rows: list[tuple[str, int, int, dict]]) -> None:
    """A Markdown table of every painting, the means, and which targets were met."""
    click.echo("\n| painting | regions | baseline ARI | doodle map ARI | matched | pieces | auto: regions | auto ARI |")
    click.echo("|---|---|---|---|---|---|---|---|")
    for name, k, truth_pieces, r in rows:
        base, found, auto = r["baseline"], r["doodle map"], r["doodle map, auto"]
        click.echo(f"| {name} | {k} | {base['ari']:.3f} | {found['ari']:.3f} | {found['matched']:.0%} | "
                   f"{found['pieces']} | {auto['k']} | {auto['ari']:.3f} |")
    others = [row for row in rows if row[0] != "exemplar"] or rows
    means = {m: float(np.mean([r[m]["ari"] for *_, r in others])) for m in METHODS}
    matched = float(np.mean([r["doodle map"]["matched"] for *_, r in others]))
    click.echo(f"| mean of {len(others)} | | {means['baseline']:.3f} | {means['doodle map']:.3f} | {matched:.0%} | | | "
               f"{means['doodle map, auto']:.3f} |")
    below = [name for name, _, _, r in others if r["doodle map"]["ari"] < r["baseline"]["ari"]]
    speckled = [name for name, k, _, r in others if r["doodle map"]["pieces"] > MAX_PIECES_PER_REGION * k]
    click.echo(f"\nmean ARI {means['doodle map']:.3f} (target >= {TARGET_MEAN_ARI}): "
               f"{'met' if means['doodle map'] >= TARGET_MEAN_ARI else 'NOT met'}")
    click.echo(f"mean ARI with the automatic count {means['doodle map, auto']:.3f} (target >= {TARGET_MEAN_AUTO_ARI}): "
               f"{'met' if means['doodle map, auto'] >= TARGET_MEAN_AUTO_ARI else 'NOT met'}")
    click.echo(f"below the baseline: {', '.join(below) or 'none'}")
    click.echo(f"more than {MAX_PIECES_PER_REGION} pieces per region: {', '.join(speckled) or 'none'}")


if __name__ == "__main__":
    main()
