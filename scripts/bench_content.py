"""Benchmark painting photos with ``doodle optimize --content`` at its default settings.

For each photo and style: one region (no maps), ``OptimizeSettings`` defaults
(relative content loss at relu2_1 with weight 1, relative style loss over
relu1_1..relu5_1 with weight 1, start from the photo, L-BFGS) at ``--size`` for
``--iterations``; ``--content-layers`` tries others. Two figures per output,
both at the output size:

- edge correlation with the photo (:func:`doodle.eval.edges.edge_correlation`:
  Pearson correlation of the Sobel gradient magnitudes of the luminance, both
  blurred with sigma 1.5): how much of the photo's structure is kept. Target >= 0.65.
- style distance ratio: the relative region style distance
  (:meth:`doodle.eval.evaluate.StyleJudge.style_distance`, summed over relu1_1..relu5_1)
  of the output over that of the photo itself, the baseline measured in the same
  run: how much of the way from the photo to the painting the style went. Target <= 0.05.

``--baseline`` also runs the settings ``doodle optimize --content`` had before
(noise start, raw Gram and mean-squared losses, content weight 1) for comparison.
Each output is written with the photo and the style beside it to ``--out``::

    python scripts/bench_content.py                                   # 4 photos, exemplar style, HED net
    python scripts/bench_content.py --photos rocket --style ../shared/eval/renoir/style.png --baseline

Photos: scikit-image's bundled test images (``skimage.data``; ``pip install
scikit-image``, in the ``dev`` extra): ``rocket``, the launch of DSCOVR on a
Falcon 9, photo by SpaceX, released into the public domain; ``astronaut``,
Eileen Collins, NASA, public domain; ``chelsea``, Chelsea the cat, CC0 by
Stefan van der Walt; ``coffee``, a coffee cup courtesy of Pikolo Espresso Bar,
CC0 by Rachel Michetti.
"""

from __future__ import annotations

import time
from pathlib import Path

import click
import numpy as np
import torch

from doodle.cli.options import comma_list
from doodle.demos.photos import sample_photo
from doodle.eval.edges import edge_correlation
from doodle.eval.evaluate import StyleJudge
from doodle.images import fit_size, resize_rgb, save_rgb
from doodle.lossnet.vgg import DEFAULT_STYLE_LAYERS
from doodle.lossnet.weights import load_loss_net
from doodle.maps.semantic import load_style
from doodle.montage import side_by_side
from doodle.painting.optimize import OptimizeSettings, optimize_doodle
from doodle.precision import PRECISIONS
from doodle.style.loss import CONTENT_LAYERS

EXEMPLAR_STYLE = Path(__file__).resolve().parents[1] / "datasets" / "exemplar" / "style.png"
PHOTOS = ("rocket", "astronaut", "chelsea", "coffee")
MIN_EDGE_CORRELATION = 0.65
MAX_STYLE_RATIO = 0.05


def load_photo(name: str) -> np.ndarray:
    """A scikit-image test photo as float32 (H, W, 3) RGB in [0, 1]."""
    try:
        return sample_photo(name).astype(np.float32) / 255
    except ValueError as exc:
        raise SystemExit(str(exc)) from None


@click.command()
@click.option("--photos", default=",".join(PHOTOS), show_default=True, callback=comma_list(str),
              help="scikit-image photos to paint, one at a time.")
@click.option("--style", "styles", multiple=True, type=click.Path(exists=True, dir_okay=False),
              default=[str(EXEMPLAR_STYLE)], show_default=True, help="Style painting (repeat for several).")
@click.option("--size", type=click.IntRange(min=16), default=256, show_default=True, help="Longest side, px.")
@click.option("--iterations", type=click.IntRange(min=1), default=200, show_default=True, help="L-BFGS iterations.")
@click.option("--loss-net", default="vgg16-hed", show_default=True, help="As doodle optimize --loss-net.")
@click.option("--precision", type=click.Choice(PRECISIONS), default="auto", show_default=True,
              help="As doodle optimize (auto: bf16 autocast on CPUs with native bf16).")
@click.option("--content-layers", callback=comma_list(str), default=",".join(CONTENT_LAYERS), show_default=True,
              help="Content layers of the optimization.")
@click.option("--baseline", is_flag=True, help="Also run the former defaults (noise start, raw losses).")
@click.option("--threads", type=click.IntRange(min=1), default=2, show_default=True, help="torch.set_num_threads.")
@click.option("--out", type=click.Path(file_okay=False), default="bench-content", show_default=True,
              help="Folder for the photo | output | style pictures.")
def main(photos, styles, size, iterations, loss_net, precision, content_layers, baseline, threads, out) -> None:
    torch.set_num_threads(threads)
    net = load_loss_net(loss_net, layers=DEFAULT_STYLE_LAYERS + content_layers + ("relu4_2",))
    runs = {"default": OptimizeSettings(iterations=iterations, precision=precision, content_layers=content_layers)}
    if baseline:  # doodle optimize --content PHOTO --content-weight 1 before relative losses
        runs["former"] = OptimizeSettings(iterations=iterations, precision=precision, init="noise", relative=False,
                                          content_layers=("relu4_2",))
    print(f"{size} px, {iterations} L-BFGS iterations, {net.net_id}, precision {precision}, {threads} threads, "
          f"content layers {','.join(content_layers)}")
    print(f"{'style':<12} {'photo':<10} {'settings':<8} {'size':>8} {'edge corr':>9} {'style dist':>10} "
          f"{'photo dist':>10} {'ratio':>7} {'seconds':>8}  verdict")
    failures = 0
    for style_path in styles:
        exemplar = load_style(style_path, None, size=size, log=lambda line: None)
        judge = StyleJudge(net, exemplar)
        style_name = Path(style_path).parent.name if Path(style_path).stem == "style" else Path(style_path).stem
        for name in photos:
            photo = load_photo(name)
            h, w = fit_size(*photo.shape[:2], size)
            labels = np.zeros((h, w), np.uint8)
            photo_at = resize_rgb(photo, (h, w))
            photo_distance = judge.style_distance(photo_at, labels)
            panels = [photo_at]
            for label, settings in runs.items():
                start = time.perf_counter()
                image, _ = optimize_doodle(net, exemplar.image, exemplar.labels, labels, 1, settings,
                                           content_image=photo, progress=False)
                seconds = time.perf_counter() - start
                corr = edge_correlation(image, photo_at)
                distance = judge.style_distance(image, labels)
                ratio = distance / photo_distance
                ok = corr >= MIN_EDGE_CORRELATION and ratio <= MAX_STYLE_RATIO
                failures += label == "default" and not ok
                print(f"{style_name:<12} {name:<10} {label:<8} {f'{w}x{h}':>8} {corr:9.3f} {distance:10.4f} "
                      f"{photo_distance:10.3f} {ratio:6.3f}x {seconds:8.1f}  {'ok' if ok else 'MISSED'}", flush=True)
                panels.append(image)
            sh, sw = exemplar.image.shape[:2]
            style_at = resize_rgb(exemplar.image, (h, max(1, round(sw * h / sh))))
            save_rgb(Path(out) / f"{style_name}_{name}.png", side_by_side(panels + [style_at]))
    print(f"targets: edge correlation >= {MIN_EDGE_CORRELATION}, style distance ratio <= {MAX_STYLE_RATIO}x; "
          f"{'all met' if not failures else f'{failures} run(s) missed'} (default settings)")


if __name__ == "__main__":
    main()
