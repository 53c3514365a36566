"""Benchmark rendering a doodle in one forward pass against painting it with ``doodle optimize``.

The 2016 claim for feed-forward doodles is a speed-up of at least 500x over the
optimization; this script measures ours on the same map at the same size::

    python scripts/bench_render.py                              # render 256 and 512 px, optimize 256 px fully
    python scripts/bench_render.py --sizes 128 --optimize-sizes 128 --iterations 20

Render time: the default generator (``--arch``) for the style's K (weights do not
change the cost) rendering the map through ``doodle.painting.render.render_labels``, i.e.
one-hot encoding plus a forward pass under ``inference_mode``, median of
``--repeats`` after two warm-up calls.

Optimize time: ``optimize_doodle`` with the settings of ``doodle optimize``
(L-BFGS, relu1_1..relu5_1, ``--iterations`` at one resolution) from the style
targets to its final image, one run, wall time; loading the style, the map and
the loss network happens before the clock starts, as it does for rendering.
With ``--time-iterations M`` only M iterations are run and the time is scaled
linearly to ``--iterations``; the table then says EXTRAPOLATED, since L-BFGS
may also stop early on convergence.
"""

from __future__ import annotations

import time
from pathlib import Path

import click
import torch

from benchtools import median_seconds
from doodle.cli.options import comma_list, default_malloc_option, norm_option
from doodle.generators.registry import ARCHS, DEFAULT_ARCH, new_generator
from doodle.lossnet.vgg import DEFAULT_STYLE_LAYERS
from doodle.lossnet.weights import load_loss_net
from doodle.maps.semantic import load_style, load_target_map
from doodle.painting.optimize import OptimizeSettings, optimize_doodle
from doodle.painting.render import render_labels
from doodle.precision import PRECISIONS, resolve_precision
from maskgen.alloc import reuse_freed_memory

EXEMPLAR = Path(__file__).resolve().parents[1] / "datasets" / "exemplar"
CLAIM_2016 = 500



@click.command()
@click.option("--sizes", default="256,512", show_default=True, callback=comma_list(int), help="Longest sides (px) to render at.")
@click.option("--optimize-sizes", default="256", show_default=True, callback=comma_list(int),
              help="Longest sides (px) to also run `doodle optimize` at (slow: minutes each).")
@click.option("--iterations", type=click.IntRange(min=1), default=500, show_default=True,
              help="L-BFGS iterations of the optimization (the `doodle optimize` default).")
@click.option("--time-iterations", type=click.IntRange(min=1), default=None,
              help="Run only this many iterations and extrapolate linearly to --iterations (marked as such).")
@click.option("--repeats", type=click.IntRange(min=1), default=5, show_default=True, help="Timed renders (median).")
@click.option("--precision", type=click.Choice(PRECISIONS), default="auto", show_default=True,
              help="For both render and optimize, as their CLIs default.")
@click.option("--loss-net", default="random", show_default=True,
              help="Loss network of the optimization (random costs exactly what real VGG-19 weights cost).")
@click.option("--threads", type=click.IntRange(min=1), default=2, show_default=True, help="torch.set_num_threads.")
@click.option("--map", "map_path", type=click.Path(dir_okay=False, exists=True),
              default=str(EXEMPLAR / "target_1.png"), show_default=True, help="The doodle to paint.")
@click.option("--style", type=click.Path(dir_okay=False, exists=True), default=str(EXEMPLAR / "style.png"),
              show_default=True)
@click.option("--style-map", type=click.Path(dir_okay=False, exists=True), default=str(EXEMPLAR / "style_map.png"),
              show_default=True)
@click.option("--regions", type=click.IntRange(min=1), default=4, show_default=True)
@click.option("--arch", type=click.Choice(sorted(ARCHS)), default=DEFAULT_ARCH, show_default=True)
@norm_option
@default_malloc_option
def main(sizes, optimize_sizes, iterations, time_iterations, repeats, precision, loss_net, threads, map_path, style,
         style_map, regions, arch, norm, default_malloc) -> None:
    """Time `doodle render` against `doodle optimize` on one map (2016 claim: >= 500x faster)."""
    torch.set_num_threads(threads)
    heap_reuse = "off (--default-malloc)" if default_malloc else reuse_freed_memory().describe()
    ran = iterations if time_iterations is None else min(time_iterations, iterations)
    exemplar = load_style(style, style_map, regions=regions, log=lambda _msg: None)
    model = new_generator({"arch": arch, "k": exemplar.k} | ({} if norm is None else {"norm": norm})).eval()
    net = load_loss_net(loss_net, layers=DEFAULT_STYLE_LAYERS, log=lambda _msg: None)
    click.echo(f"torch {torch.__version__}, {threads} thread(s), freed memory reused: {heap_reuse}, "
               f"precision {precision} -> {resolve_precision(precision)}; "
               f"generator {model.to_config()}; optimize: L-BFGS {iterations} iterations, {net.net_id}; map {map_path}")
    header = f"{'size':>5} {'map':>9} {'render ms':>10} {'optimize s':>11} {'speed-up':>9}"
    click.echo(header)
    click.echo("-" * len(header))
    for size in sorted(set(sizes) | set(optimize_sizes)):
        labels = load_target_map(map_path, exemplar.palette, size=size)
        shape = f"{labels.shape[1]}x{labels.shape[0]}"
        render_s = median_seconds(lambda: render_labels(model, labels, seed=0, precision=precision), repeats, 2)
        row = f"{size:>5} {shape:>9} {render_s * 1e3:>10.1f}"
        if size in optimize_sizes:
            style_at_size = load_style(style, style_map, regions=regions, size=size, log=lambda _msg: None)
            settings = OptimizeSettings(iterations=ran, precision=precision)
            start = time.perf_counter()
            optimize_doodle(net, style_at_size.image, style_at_size.labels, labels, exemplar.k, settings,
                            progress=False)
            optimize_s = (time.perf_counter() - start) * iterations / ran
            note = "" if ran == iterations else f"  EXTRAPOLATED from {ran} iterations"
            row += f" {optimize_s:>11.1f} {optimize_s / render_s:>8.0f}x{note}"
        click.echo(row)
    click.echo(f"2016 claim: >= {CLAIM_2016}x")


if __name__ == "__main__":
    main()
