"""Compare the feed-forward generator with ``doodle optimize`` on the same target maps.

For every target map, both paint it at ``--size`` and are judged by
:class:`doodle.evaluate.StyleJudge` with the same loss network and style:

1. region Gram loss (what ``doodle optimize`` minimizes) of both, and their ratio
   generator / optimize (target: within 2x);
2. region fidelity (:mod:`doodle.fidelity`) of both, with uniform noise (floor)
   and the style on its own map (ceiling) as the scale;
3. timings: one render (median of 3) and one optimization (wall time);
4. the L-BFGS iteration at which ``doodle optimize`` first scores no worse than
   the generator (as Johnson et al. 2016, Fig. 5, place their feed-forward nets);
5. a reference level: the Gram loss of random crops of the painting itself at
   the maps' size, i.e. what a perfect sampler of its textures would score.

Side-by-side pictures (map | generator | optimize) go to ``--out``::

    python scripts/eval_quality.py --checkpoint runs/exemplar/checkpoint.pt --out eval/
    python scripts/eval_quality.py --out eval/ --steps 500         # trains into eval/run first

Without ``--checkpoint`` a generator is trained into ``OUT/run`` (or the one
already there is reused). The style, layers, loss network and its seed default
to those the checkpoint was trained with, so both painters chase the same loss.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import click
import numpy as np
import torch

import maskgen
from doodle.checkpoint import generator_from_checkpoint, load_checkpoint
from doodle.evaluate import StyleJudge, median_seconds
from doodle.images import save_rgb
from doodle.optimize import OptimizeSettings, optimize_doodle
from doodle.precision import PRECISIONS
from doodle.render import render_labels
from doodle.semantic import load_style, load_target_map
from doodle.train import HELD_OUT_SEED_OFFSET, TrainConfig, colorize, train
from doodle.weights import load_loss_net
from maskgen.fileio import atomic_write_text

EXEMPLAR = Path(__file__).resolve().parents[1] / "datasets" / "exemplar"
GAP = 4  # white pixels between the panels of a side-by-side picture


def side_by_side(panels: list[np.ndarray]) -> np.ndarray:
    """Float RGB ``(H, W_i, 3)`` panels of one height, left to right with white gaps."""
    gap = np.ones((panels[0].shape[0], GAP, 3), np.float32)
    row = [panels[0]]
    for panel in panels[1:]:
        row += [gap, panel]
    return np.concatenate(row, axis=1)


def held_out_maps(config: dict, k: int, size: int, count: int) -> dict[str, np.ndarray]:
    """``count`` square random masks from the seed stream training never draws from."""
    params = maskgen.MaskParams(width=size, height=size, regions=(k, k), **config.get("mask", {}))
    return {f"random_{i}": maskgen.make_mask(params, config.get("seed", 0) + HELD_OUT_SEED_OFFSET, i).labels
            for i in range(count)}


def geometric_mean(values: list[float]) -> float:
    """Ratios and losses spanning decades average geometrically: one map near 0 must not swamp the rest."""
    return float(np.exp(np.mean(np.log(np.maximum(values, 1e-12)))))


def as_image(rendered: torch.Tensor) -> np.ndarray:
    """``render_labels`` output ``(1, 3, H, W)`` -> float RGB ``(H, W, 3)``."""
    return rendered[0].permute(1, 2, 0).numpy()


@click.command()
@click.option("--checkpoint", type=click.Path(dir_okay=False, exists=True), default=None,
              help="RUN/checkpoint.pt of a trained generator [default: train one into OUT/run, or reuse it].")
@click.option("--steps", type=click.IntRange(min=1), default=500, show_default=True,
              help="Training steps when no checkpoint is given.")
@click.option("--size", type=click.IntRange(min=16), default=256, show_default=True,
              help="Longest side of maps and outputs (px); also the training size.")
@click.option("--style-size", type=click.IntRange(min=16), default=None,
              help="Longest side of the style image for the Gram targets [default: the checkpoint's, which is its training size unless set].")
@click.option("--iterations", type=click.IntRange(min=1), default=500, show_default=True,
              help="L-BFGS iterations of `doodle optimize`.")
@click.option("--loss-net", default=None, help="Loss network [default: the checkpoint's, with its seed; else auto].")
@click.option("--style", type=click.Path(dir_okay=False, exists=True), default=None,
              help="Style image [default: the checkpoint's, else the exemplar's].")
@click.option("--style-map", type=click.Path(dir_okay=False, exists=True), default=None)
@click.option("--regions", type=click.IntRange(min=1), default=None)
@click.option("--map", "maps", type=click.Path(dir_okay=False, exists=True), multiple=True,
              help="Target map (repeatable) [default: the exemplar's target_1.png and target_2.png].")
@click.option("--random-maps", type=click.IntRange(min=0), default=0, show_default=True,
              help="Also judge this many held-out random masks (square, --size).")
@click.option("--precision", type=click.Choice(PRECISIONS), default="auto", show_default=True,
              help="Of rendering, optimizing and training (scores are always fp32).")
@click.option("--seed", type=int, default=0, show_default=True, help="Noise seed of render and optimize.")
@click.option("--blur", type=click.IntRange(min=0), default=5, show_default=True,
              help="Fidelity colour averaging radius (px).")
@click.option("--border", type=click.IntRange(min=0), default=4, show_default=True, help="Fidelity border band (px).")
@click.option("--threads", type=click.IntRange(min=1), default=2, show_default=True, help="torch.set_num_threads.")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Folder for pictures (and OUT/run).")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), default=None, help="Also write the figures here.")
def main(checkpoint, steps, size, style_size, iterations, loss_net, style, style_map, regions, maps, random_maps, precision, seed,
         blur, border, threads, out, json_path) -> None:
    """Judge the generator against `doodle optimize`: Gram loss, region fidelity, time."""
    torch.set_num_threads(threads)
    out = Path(out)
    train_s = None
    if checkpoint is None:
        checkpoint = out / "run" / "checkpoint.pt"
        if checkpoint.exists():
            click.echo(f"reusing the generator in {checkpoint.parent} (delete it to train afresh)")
        else:
            config = TrainConfig(
                style=str(Path(style or EXEMPLAR / "style.png").resolve()),
                style_map=str(Path(style_map or EXEMPLAR / "style_map.png").resolve()),
                out=str(checkpoint.parent), regions=regions or (None if style else 4), size=size, steps=steps,
                style_size=style_size, loss_net=loss_net or "auto", precision=precision, seed=0,
            )
            start = time.perf_counter()
            train(config, log=click.echo)
            train_s = time.perf_counter() - start
    ckpt = load_checkpoint(checkpoint)
    model, palette = generator_from_checkpoint(ckpt)
    trained = ckpt["config"]
    style_path, map_path = style or trained["style"], style_map or trained["style_map"]
    # Judge against the targets the generator was trained on: the style's scale sets the texture's.
    style_size = style_size or trained.get("style_size") or trained["size"]
    exemplar = load_style(style_path, map_path, regions=regions or trained.get("regions"), size=style_size,
                          log=click.echo)
    if not np.array_equal(exemplar.palette, palette):
        raise ValueError(f"the style map's palette {exemplar.palette.tolist()} is not the checkpoint's "
                         f"{palette.tolist()}; pass the style the generator was trained on")
    layers, layer_weights = tuple(trained["style_layers"]), trained.get("layer_weights")
    net = load_loss_net(loss_net or trained["loss_net"], layers=layers, seed=trained.get("seed", 0), log=click.echo)
    if net.net_id != ckpt.get("loss_net"):
        click.echo(f"warning: judging with {net.net_id} but the generator was trained with {ckpt.get('loss_net')}")
    judge = StyleJudge(net, exemplar, layers=layers, layer_weights=layer_weights, blur=blur, border=border)
    settings = OptimizeSettings(iterations=iterations, layers=layers, layer_weights=layer_weights, seed=seed,
                                precision=precision)

    targets = {Path(p).stem: load_target_map(p, palette, size=size)
               for p in (maps or [EXEMPLAR / "target_1.png", EXEMPLAR / "target_2.png"])}
    targets |= held_out_maps(trained, exemplar.k, size, random_maps)
    rows = []
    for name, labels in targets.items():
        render_s = median_seconds(lambda: render_labels(model, labels, seed=seed, precision=precision), 3, 1)
        generated = as_image(render_labels(model, labels, seed=seed, precision=precision))
        gram_generated = judge.gram_loss(generated, labels)
        matched: list[int] = []

        def watch(iteration: int, image: torch.Tensor) -> None:
            # Scored only until optimize catches up: ~30 extra forwards when it does so early.
            if not matched and judge.gram_loss(as_image(image), labels) <= gram_generated:
                matched.append(iteration)

        start = time.perf_counter()
        optimized, _ = optimize_doodle(net, exemplar.image, exemplar.labels, labels, exemplar.k, settings,
                                       progress=False, callback=watch)
        optimize_s = time.perf_counter() - start
        save_rgb(out / f"{name}.png", side_by_side([colorize(labels, palette), generated, optimized]))
        scale = judge.scale(labels, seed=seed)
        rows.append({
            "map": name, "size": list(labels.shape[::-1]),
            "gram_generator": gram_generated, "gram_optimize": judge.gram_loss(optimized, labels),
            "optimize_iterations_to_match": matched[0] if matched else None,
            "fidelity_generator": judge.fidelity(generated, labels),
            "fidelity_optimize": judge.fidelity(optimized, labels),
            "fidelity_noise": scale["noise"], "fidelity_style": scale["style"],
            "render_s": render_s, "optimize_s": optimize_s,
        })
        rows[-1]["gram_ratio"] = rows[-1]["gram_generator"] / max(rows[-1]["gram_optimize"], 1e-12)
        click.echo(f"{name}: done ({out / f'{name}.png'})")

    keys = [k for k in rows[0] if k not in ("map", "size", "optimize_iterations_to_match")]
    mean = {k: float(np.mean([r[k] for r in rows])) for k in keys}
    mean["gram_ratio"] = geometric_mean([r["gram_ratio"] for r in rows])
    to_match = [r["optimize_iterations_to_match"] for r in rows]
    # A map optimize never catches up on counts as iterations + 1 (the median is still honest).
    mean["optimize_iterations_to_match"] = float(np.median([iterations + 1 if n is None else n for n in to_match]))
    crop_side = min(size, *exemplar.labels.shape)
    crops = judge.painting_crops(crop_side, count=8, seed=seed)
    header = (f"{'map':>10} {'gram gen':>9} {'gram opt':>9} {'ratio':>6} {'opt it':>6} {'fid gen':>8} {'fid opt':>8} "
              f"{'noise':>6} {'style':>6} {'gen ms':>8} {'opt s':>7}")
    click.echo(f"\nstyle {style_path} at {style_size} px, maps at {size} px; loss net {net.net_id}, layers {','.join(layers)}; "
               f"checkpoint {checkpoint} (step {ckpt['step']}); optimize L-BFGS {iterations} iterations; "
               f"precision {precision}" + (f"; trained here in {train_s:.0f} s" if train_s is not None else ""))
    click.echo(header)
    click.echo("-" * len(header))
    for r in rows + [{"map": "mean", **mean}]:
        n = r["optimize_iterations_to_match"]
        opt_it = f">{iterations}" if n is None or n > iterations else f"{n:.0f}"
        click.echo(f"{r['map']:>10} {r['gram_generator']:>9.4g} {r['gram_optimize']:>9.4g} {r['gram_ratio']:>6.2f} {opt_it:>6} "
                   f"{r['fidelity_generator']:>8.3f} {r['fidelity_optimize']:>8.3f} {r['fidelity_noise']:>6.3f} "
                   f"{r['fidelity_style']:>6.3f} {r['render_s'] * 1e3:>8.1f} {r['optimize_s']:>7.1f}")
    verdict = "within" if mean["gram_ratio"] <= 2 else "NOT within"
    click.echo(f"generator Gram loss {mean['gram_ratio']:.2f}x optimize's (geometric mean): {verdict} the 2x target; "
               f"pictures (map | generator | optimize) in {out}")
    click.echo(f"optimize first scores as well as the generator after {mean['optimize_iterations_to_match']:.0f} "
               f"L-BFGS iterations (median, 'opt it'); reference: {len(crops)} random {crop_side} px crops of "
               f"the painting itself score {geometric_mean(crops):.4g} (geometric mean; generator "
               f"{geometric_mean([r['gram_generator'] for r in rows]):.4g}, optimize {geometric_mean([r['gram_optimize'] for r in rows]):.4g})")
    if json_path:
        report = {"style": str(style_path), "style_size": style_size, "size": size, "loss_net": net.net_id, "layers": list(layers),
                  "checkpoint": str(checkpoint), "step": int(ckpt["step"]), "iterations": iterations,
                  "precision": precision, "train_s": train_s, "maps": rows, "mean": mean,
                  "painting_crops": {"side": crop_side, "gram": crops}}
        atomic_write_text(json_path, json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
