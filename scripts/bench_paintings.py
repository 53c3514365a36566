"""The generator on several paintings: train one per painting, judge each against ``doodle optimize``.

For every painting folder (``style.png``, ``style_map.png``, ``target_map.png``
and optionally ``regions.txt`` holding the map's region count), this runs
``doodle train`` on a budget, then ``scripts/eval_quality.py`` on the painting's
target map and held-out random masks, and prints one line per painting and
the mean: the generator over raw ``doodle optimize`` on the relative style
distance, the region patch distance and the border fringe share, and the
region fidelity difference (issue 33's targets: <= 1.25x, <= 1.10x, <= 1.5x,
>= -0.03 on every painting)::

    python scripts/bench_paintings.py --pairs ~/paintings --out bench-paintings/ --minutes 10
    python scripts/bench_paintings.py --pairs ~/paintings --out b/ --steps 800 --tag old -- --arch texture

Arguments after ``--`` go to ``doodle train`` (a variant to compare with the
default). The exemplar is always one of the paintings. Runs and reports that
exist already are reused, so an interrupted benchmark resumes; ``--tag``
keeps variants apart in one ``--out``. Each training uses the whole machine:
run nothing else beside it, or the step counts of a ``--minutes`` budget
fall.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
EXEMPLAR = ROOT / "datasets" / "exemplar"


def painting_folders(pairs: tuple[str, ...]) -> dict[str, dict]:
    """``{name: {"style", "style_map", "target", "regions"}}`` for the exemplar and every folder under ``pairs``."""
    found = {"exemplar": {"style": EXEMPLAR / "style.png", "style_map": EXEMPLAR / "style_map.png",
                          "target": EXEMPLAR / "target_1.png", "regions": 4}}
    for root in map(Path, pairs):
        for folder in sorted(p for p in root.iterdir() if (p / "style_map.png").exists()):
            if not (folder / "target_map.png").exists():
                click.echo(f"skipping {folder}: no target_map.png")
                continue
            regions = folder / "regions.txt"
            found[folder.name] = {"style": folder / "style.png", "style_map": folder / "style_map.png",
                                  "target": folder / "target_map.png",
                                  "regions": int(regions.read_text()) if regions.exists() else None}
    return found


def run(command: list[str]) -> None:
    click.echo("$ " + " ".join(command))
    subprocess.run(command, check=True)


@click.command(context_settings={"ignore_unknown_options": True})
@click.option("--pairs", multiple=True, type=click.Path(file_okay=False, exists=True),
              help="A folder of painting folders (repeatable); the exemplar is always included.")
@click.option("--only", default=None, help="Comma-separated painting names to run [default: all].")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Runs and reports go here.")
@click.option("--tag", default="default", show_default=True, help="Name of this variant's runs and reports.")
@click.option("--minutes", type=float, default=10.0, show_default=True, help="Training budget per painting.")
@click.option("--steps", type=int, default=None, help="Train this many steps instead of --minutes.")
@click.option("--size", type=int, default=128, show_default=True, help="Training and judging size (px).")
@click.option("--iterations", type=int, default=200, show_default=True, help="L-BFGS iterations of optimize.")
@click.option("--random-maps", type=int, default=2, show_default=True, help="Held-out random masks judged too.")
@click.option("--loss-net", default="vgg16-hed", show_default=True)
@click.argument("train_args", nargs=-1, type=click.UNPROCESSED)
def main(pairs, only, out, tag, minutes, steps, size, iterations, random_maps, loss_net, train_args) -> None:
    """Train and judge the generator on every painting; print ratios against optimize."""
    out = Path(out)
    paintings = painting_folders(pairs)
    if only:
        paintings = {name: paintings[name] for name in only.split(",")}
    summary = {}
    for name, p in paintings.items():
        run_dir, report = out / tag / name, out / tag / f"{name}.json"
        if not (run_dir / "checkpoint.pt").exists():
            budget = ["--steps", str(steps)] if steps else ["--minutes", str(minutes), "--steps", "1000000"]
            run([sys.executable, "-m", "doodle", "train", "--style", str(p["style"]), "--style-map", str(p["style_map"]),
                 *(["--regions", str(p["regions"])] if p["regions"] else []), "--size", str(size),
                 "--loss-net", loss_net, *budget, "--out", str(run_dir), "--overwrite", *train_args])
        if not report.exists():
            run([sys.executable, str(ROOT / "scripts" / "eval_quality.py"), "--checkpoint", str(run_dir / "checkpoint.pt"),
                 "--map", str(p["target"]), "--size", str(size), "--iterations", str(iterations),
                 "--random-maps", str(random_maps), "--out", str(out / tag / f"{name}-eval"), "--json", str(report)])
        result = json.loads(report.read_text())
        target = result["maps"][0]  # the painting's own target map comes first
        summary[name] = {"step": result["step"], "target": target, "mean": result["mean"]}

    click.echo(f"\n{tag}: generator / raw optimize ({iterations} L-BFGS iterations) at {size} px; "
               "target map | mean over target and held-out masks")
    header = f"{'painting':>18} {'steps':>6} {'dist':>13} {'patch':>13} {'fringe':>13} {'fidelity diff':>15}"
    click.echo(header)
    click.echo("-" * len(header))
    for name, s in summary.items():
        t, m = s["target"], s["mean"]
        click.echo(f"{name:>18} {s['step']:>6} {t['style_distance_ratio']:>5.2f} | {m['style_distance_ratio']:>5.2f} "
                   f"{t['patch_distance_ratio']:>5.2f} | {m['patch_distance_ratio']:>5.2f} "
                   f"{t['fringe_border_ratio']:>5.2f} | {m['fringe_border_ratio']:>5.2f} "
                   f"{t['fidelity_generator'] - t['fidelity_optimize']:>+6.3f} | "
                   f"{m['fidelity_generator'] - m['fidelity_optimize']:>+6.3f}")
    means = {key: float(np.exp(np.mean([np.log(s["mean"][key]) for s in summary.values()])))
             for key in ("style_distance_ratio", "patch_distance_ratio", "fringe_border_ratio")}
    click.echo(f"{'geometric mean':>18} {'':>6} {'':>7} {means['style_distance_ratio']:>5.2f} {'':>7} "
               f"{means['patch_distance_ratio']:>5.2f} {'':>7} {means['fringe_border_ratio']:>5.2f}")
    (out / f"{tag}.json").write_text(json.dumps({"paintings": summary, "geometric_means": means}, indent=2) + "\n")


if __name__ == "__main__":
    main()
