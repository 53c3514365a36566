"""Which style objective paints best, judged by what no objective trains on: ``doodle optimize`` under each.

For every painting (the exemplar, plus every folder under ``--pairs`` holding
``style.png``, ``style_map.png``, ``target_map.png`` and optionally
``regions.txt``), ``doodle optimize`` paints the target map from the same noise
with the raw region Gram loss and with the relative loss at each ``--balances``
value (1: every layer an equal say; see :class:`doodle.style.loss.RegionStyleLoss`).
:class:`doodle.eval.evaluate.StyleJudge` scores each picture: the relative style
distance (what balance 1 minimizes) and the pixel judges (region patch
distance, border and interior fringe shares, region fidelity)::

    python scripts/bench_objective.py --pairs ~/paintings --out bench-objective/

Optimizing is the cheap way to choose a training objective (about a minute a
picture at 128 px on 2 cores, against 10 minutes of training): the generator
learns to paint what its loss rewards, so a loss whose optimum has fringes or
dissolved shapes trains a generator that paints them.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np
import torch

from bench_paintings import painting_folders
from doodle.eval.evaluate import StyleJudge
from doodle.images import save_rgb
from doodle.lossnet.vgg import DEFAULT_STYLE_LAYERS
from doodle.lossnet.weights import load_loss_net
from doodle.maps.palette import colorize
from doodle.maps.semantic import load_style, load_target_map
from doodle.montage import side_by_side
from doodle.painting.optimize import OptimizeSettings, optimize_doodle

MEASURES = ("style_distance", "patch_distance", "fringe_border", "fringe_interior", "fidelity")


@click.command()
@click.option("--pairs", multiple=True, type=click.Path(file_okay=False, exists=True),
              help="A folder of painting folders (repeatable); the exemplar is always included.")
@click.option("--only", default=None, help="Comma-separated painting names [default: all].")
@click.option("--balances", default="1,0.5", show_default=True, help="Relative-loss balances to paint with.")
@click.option("--size", type=int, default=128, show_default=True, help="Longest side of the maps and style (px).")
@click.option("--iterations", type=int, default=200, show_default=True, help="L-BFGS iterations.")
@click.option("--loss-net", default="vgg16-hed", show_default=True)
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Pictures and results.json go here.")
def main(pairs, only, balances, size, iterations, loss_net, out) -> None:
    """Paint each painting's target map under each objective; print the judges' figures."""
    torch.set_num_threads(2)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paintings = painting_folders(pairs)
    if only:
        paintings = {name: paintings[name] for name in only.split(",")}
    objectives = {"raw": {"relative": False}} | {f"balance {b}": {"relative": True, "balance": float(b)}
                                                    for b in balances.split(",")}
    layers = DEFAULT_STYLE_LAYERS
    net = load_loss_net(loss_net, layers, log=click.echo)
    results: dict[str, dict[str, dict[str, float]]] = {}
    for name, p in paintings.items():
        style = load_style(p["style"], p["style_map"], regions=p["regions"], size=size, log=lambda _m: None)
        labels = load_target_map(p["target"], style.palette, size=size)
        judge = StyleJudge(net, style, layers=layers)
        pictures = [colorize(labels, style.palette)]
        results[name] = {}
        for objective, options in objectives.items():
            image, _ = optimize_doodle(net, style.image, style.labels, labels, style.k,
                                       OptimizeSettings(iterations=iterations, layers=layers, seed=0, **options),
                                       progress=False)
            report = judge.report(image, labels)
            results[name][objective] = {m: report[m] for m in MEASURES}
            pictures.append(image)
            click.echo(f"{name:>18} {objective:>12}: " + ", ".join(f"{m} {report[m]:.4f}" for m in MEASURES))
        save_rgb(out / f"{name}.png", side_by_side(pictures))
    click.echo(f"\nmeans over {len(results)} paintings ({size} px, {iterations} L-BFGS iterations, {net.net_id}; "
               f"pictures: map | {' | '.join(objectives)} in {out}):")
    click.echo(f"{'objective':>12} " + " ".join(f"{m:>16}" for m in MEASURES))
    for objective in objectives:
        click.echo(f"{objective:>12} " + " ".join(
            f"{np.mean([r[objective][m] for r in results.values()]):>16.4f}" for m in MEASURES))
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
