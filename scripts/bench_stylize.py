"""Benchmark feed-forward photo stylization against ``doodle optimize --content`` on photos it never saw.

Trains a stylizer (``doodle train --content``) for ``--minutes`` on scikit-image's
bundled photos (:data:`doodle.demos.photos.TRAINING_PHOTOS`) in one painting's
style, one region (or reuses ``--checkpoint``), then, for each held-out photo
(:data:`doodle.demos.photos.HELD_OUT_PHOTOS`) at ``--size``, paints it in one
forward pass and with ``doodle optimize --content`` at its defaults (the
baseline, same photo, size and loss net, measured in the same run), and prints:

- edge correlation with the photo (:func:`doodle.eval.edges.edge_correlation`), target >= 0.55;
- relative style distance (:meth:`doodle.eval.evaluate.StyleJudge.style_distance`) of
  each, the stylizer's over optimize's (target <= 3x) and over the photo's own
  (target <= 0.09x);
- the time to paint a 1024x768 photo: the stylizer's forward pass (median of 3,
  target <= 1.5 s) against optimize's, measured over ``--speed-iterations``
  L-BFGS iterations at that size and scaled to ``--iterations`` (target >= 500x).

Pictures (photo | stylizer | optimize | style) go to ``--out``::

    python scripts/bench_stylize.py                        # 10 min of training, exemplar style, HED net
    python scripts/bench_stylize.py --style ../shared/eval/renoir/style.png --out bench-stylize-renoir
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import click
import numpy as np
import torch

from doodle.demos.photos import HELD_OUT_PHOTOS, TRAINING_PHOTOS, sample_photo, write_sample_photos
from doodle.eval.edges import edge_correlation
from doodle.eval.evaluate import StyleJudge
from doodle.images import fit_size, resize_rgb, save_rgb, to_array
from doodle.lossnet.vgg import DEFAULT_STYLE_LAYERS
from doodle.lossnet.weights import load_loss_net
from doodle.maps.semantic import load_style
from doodle.montage import at_height, side_by_side
from doodle.painting.optimize import OptimizeSettings, optimize_doodle
from doodle.painting.stylize import stylize_photo
from doodle.style.loss import CONTENT_LAYERS
from doodle.training.checkpoint import generator_from_checkpoint, load_checkpoint
from doodle.training.config import TrainConfig
from doodle.training.train import train

EXEMPLAR_STYLE = Path(__file__).resolve().parents[1] / "datasets" / "exemplar" / "style.png"
MIN_EDGE_CORRELATION, MAX_VS_OPTIMIZE, MAX_VS_PHOTO = 0.55, 3.0, 0.09
MAX_SECONDS_1024, MIN_SPEEDUP = 1.5, 500


@click.command()
@click.option("--style", type=click.Path(exists=True, dir_okay=False), default=str(EXEMPLAR_STYLE), show_default=True)
@click.option("--checkpoint", type=click.Path(exists=True, dir_okay=False), default=None,
              help="A stylizer to judge [default: train one into OUT/run, or reuse the one there].")
@click.option("--minutes", type=click.FloatRange(min=0, min_open=True), default=10.0, show_default=True,
              help="Training budget.")
@click.option("--train-size", type=click.IntRange(min=16), default=128, show_default=True,
              help="Side of the training crops (px).")
@click.option("--size", type=click.IntRange(min=16), default=256, show_default=True,
              help="Longest side of the judged photos and of the style (px).")
@click.option("--iterations", type=click.IntRange(min=1), default=200, show_default=True,
              help="L-BFGS iterations of the baseline.")
@click.option("--speed-iterations", type=click.IntRange(min=1), default=3, show_default=True,
              help="L-BFGS iterations timed at 1024x768 (the rest extrapolated).")
@click.option("--loss-net", default="vgg16-hed", show_default=True)
@click.option("--out", type=click.Path(file_okay=False), default="bench-stylize", show_default=True)
def main(style, checkpoint, minutes, train_size, size, iterations, speed_iterations, loss_net, out) -> None:
    torch.set_num_threads(2)
    out = Path(out)
    if checkpoint is None:
        checkpoint = out / "run" / "checkpoint.pt"
        if checkpoint.exists():
            print(f"reusing the stylizer in {checkpoint.parent} (delete it to train afresh)")
        else:
            write_sample_photos(out / "photos", TRAINING_PHOTOS)
            train(TrainConfig(style=str(style), style_map=None, content=str(out / "photos"), out=str(checkpoint.parent),
                              size=train_size, style_size=size, steps=10**9, minutes=minutes, loss_net=loss_net,
                              checkpoint_every=200, sample_every=200), log=print)
    ckpt = load_checkpoint(checkpoint)
    model, _ = generator_from_checkpoint(ckpt)
    trained = ckpt["config"]
    net = load_loss_net(loss_net, layers=DEFAULT_STYLE_LAYERS + CONTENT_LAYERS, log=print)
    exemplar = load_style(style, None, size=size, log=lambda _m: None)
    judge = StyleJudge(net, exemplar)
    settings = OptimizeSettings(iterations=iterations)
    print(f"stylizer {checkpoint} (step {ckpt['step']}, trained at {trained['size']} px on "
          f"{', '.join(TRAINING_PHOTOS)}); judged at {size} px against {iterations} L-BFGS iterations; {net.net_id}")
    print(f"{'photo':<9} {'edge ff':>8} {'edge opt':>8} {'dist ff':>8} {'dist opt':>8} {'dist photo':>10} "
          f"{'ff/opt':>7} {'ff/photo':>8} {'ff s':>6} {'opt s':>6}  verdict")
    misses = 0
    for name in HELD_OUT_PHOTOS:
        photo = sample_photo(name)
        h, w = fit_size(*photo.shape[:2], size)
        photo_at = resize_rgb(photo, (h, w))
        labels = np.zeros((h, w), np.uint8)
        start = time.perf_counter()
        painted = to_array(stylize_photo(model, photo_at))
        ff_s = time.perf_counter() - start
        start = time.perf_counter()
        optimized, _ = optimize_doodle(net, exemplar.image, exemplar.labels, labels, 1, settings,
                                       content_image=photo_at.astype(np.float32) / 255, progress=False)
        opt_s = time.perf_counter() - start
        reference = photo_at.astype(np.float32) / 255
        edge_ff, edge_opt = edge_correlation(painted, reference), edge_correlation(optimized, reference)
        dist_ff, dist_opt = judge.style_distance(painted, labels), judge.style_distance(optimized, labels)
        dist_photo = judge.style_distance(reference, labels)
        ok = (edge_ff >= MIN_EDGE_CORRELATION and dist_ff <= MAX_VS_OPTIMIZE * dist_opt
              and dist_ff <= MAX_VS_PHOTO * dist_photo)
        misses += not ok
        print(f"{name:<9} {edge_ff:8.3f} {edge_opt:8.3f} {dist_ff:8.4f} {dist_opt:8.4f} {dist_photo:10.3f} "
              f"{dist_ff / dist_opt:6.2f}x {dist_ff / dist_photo:7.3f}x {ff_s:6.2f} {opt_s:6.1f}  "
              f"{'ok' if ok else 'MISSED'}", flush=True)
        save_rgb(out / f"{name}.png", side_by_side([photo_at, painted, optimized, at_height(exemplar.image, h)]))

    big = resize_rgb(sample_photo(HELD_OUT_PHOTOS[-1]), (768, 1024))
    stylize_photo(model, big)  # warm-up: kernels compiled, memory mapped
    times = []
    for _ in range(3):
        start = time.perf_counter()
        stylize_photo(model, big)
        times.append(time.perf_counter() - start)
    ff_big = statistics.median(times)
    start = time.perf_counter()
    optimize_doodle(net, exemplar.image, exemplar.labels, np.zeros((768, 1024), np.uint8), 1,
                    OptimizeSettings(iterations=speed_iterations), content_image=big.astype(np.float32) / 255,
                    progress=False)
    opt_big = (time.perf_counter() - start) / speed_iterations * iterations
    print(f"1024x768: stylizer {ff_big:.2f} s (median of 3; target <= {MAX_SECONDS_1024} s), optimize ~{opt_big:.0f} s "
          f"({speed_iterations} iterations timed, x{iterations / speed_iterations:.0f}): {opt_big / ff_big:.0f}x faster "
          f"(target >= {MIN_SPEEDUP}x)")
    misses += ff_big > MAX_SECONDS_1024 or opt_big / ff_big < MIN_SPEEDUP
    print(f"targets: edge >= {MIN_EDGE_CORRELATION}, style distance <= {MAX_VS_OPTIMIZE}x optimize's and <= "
          f"{MAX_VS_PHOTO}x the photo's; {'all met' if not misses else f'{misses} missed'}; pictures "
          f"(photo | stylizer | optimize | style) in {out}")


if __name__ == "__main__":
    main()
