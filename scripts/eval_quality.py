"""Compare the feed-forward generator with ``doodle optimize`` on the same target maps.

For every target map, both paint it at ``--size`` and are judged by
:class:`doodle.eval.evaluate.StyleJudge` with the same loss network and style:

``doodle optimize`` paints twice: with the raw Gram loss (the best picture of
the two) and with ``--relative`` (the loss the generator trains on). Figures:

1. the relative region style distance (``StyleJudge.style_distance``, what the
   generator trains on) of all three, and the generator's ratio to each
   optimize (target: <= 1.25x raw optimize's);
2. judges no painter trains on, from pixels alone: the region patch distance
   (:mod:`doodle.eval.patch_distance`; target <= 1.10x raw optimize's), the share of
   pixels in colours the painting never uses within 3 px of region borders and
   inside regions (:mod:`doodle.eval.fringe`; target along borders <= 1.5x raw
   optimize's), and the region fidelity (:mod:`doodle.eval.fidelity`) overall and
   per region, with uniform noise (floor) and the style on its own map
   (ceiling) as the scale (target: >= raw optimize's - 0.03);
3. the raw region Gram loss of all three;
4. timings: one render (median of 3) and one optimization (wall time);
5. the L-BFGS iteration at which raw ``doodle optimize`` first scores a Gram
   loss no worse than the generator's (as Johnson et al. 2016, Fig. 5);
6. a reference level: the Gram loss and the relative distance of random crops
   of the painting itself, each on its own map, at the maps' size (or
   ``--crop-side``), i.e. what a perfect sampler of its textures would score.

The generator's figures are means over ``--renders`` renders with different
noise (the noise alone moves one render's relative distance by +-20 %); its
picture is the first render. Side-by-side pictures (map | generator | optimize
| optimize --relative) go to ``--out``::

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

from benchtools import median_seconds
from doodle.eval.evaluate import RENDERS, StyleJudge, compare_with_optimize, geometric_mean, summarize
from doodle.images import save_rgb
from doodle.lossnet.weights import load_loss_net
from doodle.maps.palette import colorize
from doodle.maps.semantic import load_style, load_target_map
from doodle.montage import side_by_side
from doodle.painting.optimize import OptimizeSettings
from doodle.painting.render import render_labels
from doodle.precision import PRECISIONS
from doodle.training.checkpoint import generator_from_checkpoint, load_checkpoint
from doodle.training.maskdata import held_out_masks
from doodle.training.config import TrainConfig
from doodle.training.train import train
from maskgen.fileio import atomic_write_text

EXEMPLAR = Path(__file__).resolve().parents[1] / "datasets" / "exemplar"
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
@click.option("--renders", type=click.IntRange(min=1), default=RENDERS, show_default=True,
              help="Renders of the generator per map (noise seeds --seed, --seed + 1, ...); its figures are their "
              "means: one render's relative distance moves by +-20 % with the noise alone.")
@click.option("--crop-side", type=click.IntRange(min=1), default=None,
              help="Side of the painting's crops of the reference level (px) [default: --size, at most the style's "
              "shorter side].")
@click.option("--blur", type=click.IntRange(min=0), default=5, show_default=True,
              help="Fidelity colour averaging radius (px).")
@click.option("--border", type=click.IntRange(min=0), default=4, show_default=True, help="Fidelity border band (px).")
@click.option("--threads", type=click.IntRange(min=1), default=2, show_default=True, help="torch.set_num_threads.")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Folder for pictures (and OUT/run).")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), default=None, help="Also write the figures here.")
def main(checkpoint, steps, size, style_size, iterations, loss_net, style, style_map, regions, maps, random_maps, precision, seed,
         renders, crop_side, blur, border, threads, out, json_path) -> None:
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
    if exemplar.palette != palette:
        raise ValueError(f"the style map's palette {exemplar.palette} is not the checkpoint's "
                         f"{palette}; pass the style the generator was trained on")
    layers, layer_weights = tuple(trained["style_layers"]), trained.get("layer_weights")
    net = load_loss_net(loss_net or trained["loss_net"], layers=layers, seed=trained.get("seed", 0), log=click.echo)
    if net.net_id != ckpt.get("loss_net"):
        click.echo(f"warning: judging with {net.net_id} but the generator was trained with {ckpt.get('loss_net')}")
    judge = StyleJudge(net, exemplar, layers=layers, layer_weights=layer_weights, blur=blur, border=border)
    settings = OptimizeSettings(iterations=iterations, layers=layers, layer_weights=layer_weights, seed=seed,
                                precision=precision)

    targets = {Path(p).stem: load_target_map(p, palette, size=size)
               for p in (maps or [EXEMPLAR / "target_1.png", EXEMPLAR / "target_2.png"])}
    if random_maps:
        config = TrainConfig.from_dict({k: v for k, v in trained.items() if k != "k"} | {"size": size})
        targets |= {f"random_{i}": m for i, m in enumerate(held_out_masks(config.mask_params(exemplar.k),
                                                                          config.seed, random_maps))}
    rows = []
    for name, labels in targets.items():
        row = compare_with_optimize(judge, model, labels, settings, seed=seed, precision=precision, renders=renders)
        save_rgb(out / f"{name}.png", side_by_side([colorize(labels, palette), row.pop("generated"),
                                                    row.pop("optimized"), row.pop("optimized_relative")]))
        row["render_s"] = median_seconds(lambda: render_labels(model, labels, seed=seed, precision=precision), 3, 1)
        rows.append({"map": name, "size": list(labels.shape[::-1]), **row})
        click.echo(f"{name}: done ({out / f'{name}.png'})")
    mean = summarize([{k: v for k, v in r.items() if k not in ("map", "size")} for r in rows], iterations)
    crop_side = crop_side or min(size, *exemplar.labels.shape)
    crops = judge.painting_crops(crop_side, count=8, seed=seed)
    crop_distances = judge.painting_crops(crop_side, count=8, seed=seed, measure="style_distance")
    click.echo(f"\nstyle {style_path} at {style_size} px, maps at {size} px; loss net {net.net_id}, layers {','.join(layers)}; "
               f"checkpoint {checkpoint} (step {ckpt['step']}); optimize L-BFGS {iterations} iterations; "
               f"precision {precision}" + (f"; trained here in {train_s:.0f} s" if train_s is not None else ""))
    header = (f"{'map':>10} {'painter':>9} {'dist':>7} {'patch':>6} {'fringe':>6} {'inside':>6} {'fid':>6} "
              f"{'gram':>9}  fidelity per region")
    click.echo(header)
    click.echo("-" * len(header))
    for r in rows + [{"map": "mean", **mean}]:
        for painter, short in (("generator", "gen"), ("optimize", "opt"), ("optimize_relative", "opt-rel")):
            per_region = " ".join("  -  " if np.isnan(f) else f"{f:.3f}"
                                  for f in r.get(f"fidelity_by_region_{painter}", []))
            click.echo(f"{r['map']:>10} {short:>9} {r[f'style_distance_{painter}']:>7.4f} "
                       f"{r[f'patch_distance_{painter}']:>6.2f} {100 * r[f'fringe_border_{painter}']:>5.1f}% "
                       f"{100 * r[f'fringe_interior_{painter}']:>5.1f}% {r[f'fidelity_{painter}']:>6.3f} "
                       f"{r[f'gram_{painter}']:>9.4g}  {per_region}")
        n = r["optimize_iterations_to_match"]
        opt_it = f">{iterations}" if n is None or n > iterations else f"{n:.0f}"
        click.echo(f"{r['map']:>10} {'gen/opt':>9} {r['style_distance_ratio']:>6.2f}x {r['patch_distance_ratio']:>5.2f}x "
                   f"{r['fringe_border_ratio']:>5.2f}x {'':>6} {r['fidelity_generator'] - r['fidelity_optimize']:>+6.3f} "
                   f"{r['gram_ratio']:>8.2f}x  (vs opt-rel: dist {r['style_distance_vs_relative_ratio']:.2f}x, "
                   f"patch {r['patch_distance_vs_relative_ratio']:.2f}x); opt it {opt_it}; "
                   f"render {r['render_s'] * 1e3:.1f} ms, optimize {r['optimize_s']:.1f} s; "
                   + (f"gen dist over {renders} renders {min(spread):.3f}-{max(spread):.3f}; "
                      if (spread := r.get("style_distance_generator_renders")) else "") +
                   f"fidelity noise {r['fidelity_noise']:.3f}, style {r['fidelity_style']:.3f}")
    targets_met = {"dist <= 1.25x": mean["style_distance_ratio"] <= 1.25,
                   "patch <= 1.10x": mean["patch_distance_ratio"] <= 1.10,
                   "fringe <= 1.5x": mean["fringe_border_ratio"] <= 1.5,
                   "fidelity >= opt - 0.03": all(r["fidelity_generator"] >= r["fidelity_optimize"] - 0.03 for r in rows)}
    click.echo("targets (geometric means over maps; fidelity on every map): "
               + ", ".join(f"{name}: {'met' if ok else 'NOT met'}" for name, ok in targets_met.items())
               + f"; pictures (map | generator | optimize | optimize --relative) in {out}")
    click.echo(f"optimize first scores as well as the generator after {mean['optimize_iterations_to_match']:.0f} "
               f"L-BFGS iterations (median, 'opt it'); reference: {len(crops)} random {crop_side} px crops of "
               f"the painting itself score {geometric_mean(crops):.4g} (geometric mean; generator "
               f"{geometric_mean([r['gram_generator'] for r in rows]):.4g}, optimize {geometric_mean([r['gram_optimize'] for r in rows]):.4g}) "
               f"and a relative distance of {np.mean(crop_distances):.3f} (mean; generator "
               f"{mean['style_distance_generator']:.3f}, optimize {mean['style_distance_optimize']:.3f})")
    if json_path:
        report = {"style": str(style_path), "style_size": style_size, "size": size, "loss_net": net.net_id, "layers": list(layers),
                  "checkpoint": str(checkpoint), "step": int(ckpt["step"]), "iterations": iterations,
                  "precision": precision, "train_s": train_s, "maps": rows, "mean": mean,
                  "painting_crops": {"side": crop_side, "gram": crops, "style_distance": crop_distances}}
        atomic_write_text(json_path, json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
