"""``doodle optimize``: the optimization-based doodle."""

from __future__ import annotations

from pathlib import Path

import click

from doodle.cli_options import (comma_list, layer_weights_option, loss_net_option, precision_option, regions_option,
                                style_layers_option)


@click.command()
@click.option("--style", required=True, type=click.Path(dir_okay=False), help="Style image (the painting).")
@click.option("--style-map", required=True, type=click.Path(dir_okay=False), help="Semantic map of the style image.")
@click.option("--target-map", required=True, type=click.Path(dir_okay=False), help="The doodle to paint.")
@click.option("--content", type=click.Path(dir_okay=False), default=None, help="Optional content image (relu4_2 loss).")
@click.option("--content-weight", type=float, default=0.0, show_default=True)
@click.option("--style-weight", type=float, default=1.0, show_default=True)
@click.option("--tv-weight", type=float, default=0.0, show_default=True, help="Total-variation smoothness weight.")
@regions_option
@click.option("--size", type=click.IntRange(min=16), default=512, show_default=True,
              help="Longest side of the output (and of the style image), any value.")
@click.option("--iterations", type=click.IntRange(min=1), default=500, show_default=True,
              help="Iterations per resolution.")
@click.option("--optimizer", type=click.Choice(["lbfgs", "adam"]), default="lbfgs", show_default=True)
@click.option("--lr", type=float, default=0.02, show_default=True, help="Adam learning rate.")
@click.option("--resolutions", callback=comma_list(int), default=None, metavar="R1,R2,...",
              help="Coarse-to-fine longest sides, e.g. 256,512 [default: just --size].")
@style_layers_option
@layer_weights_option
@loss_net_option
@precision_option
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--save-every", type=click.IntRange(min=1), default=None, help="Also save OUT_<iteration>.png this often.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Output PNG.")
def optimize(style, style_map, target_map, content, content_weight, style_weight, tv_weight, regions, size,
             iterations, optimizer, lr, resolutions, style_layers, layer_weights, loss_net, precision, seed,
             save_every, output) -> None:
    """Paint TARGET-MAP in the style of STYLE by optimizing pixels (L-BFGS).

    The regions of STYLE-MAP (its colours) tell which part of the painting each
    colour of TARGET-MAP should look like. Example:

        doodle optimize --style painting.png --style-map painting_map.png
        --target-map doodle.png --size 384 -o out.png
    """
    import time

    from doodle.images import fit_size, image_size, load_rgb, save_rgb
    from doodle.memory import check_fits, estimate_vgg_bytes
    from doodle.optimize import OptimizeSettings, optimize_doodle
    from doodle.semantic import load_style, load_target_map
    from doodle.vgg import deepest_layer
    from doodle.weights import DEFAULT_STYLE_LAYERS, load_loss_net

    if resolutions and max(resolutions) != size:
        resolutions = tuple(r for r in resolutions if r < size) + (size,)
    settings = OptimizeSettings(
        iterations=iterations, optimizer=optimizer, resolutions=resolutions,
        layers=style_layers or DEFAULT_STYLE_LAYERS, layer_weights=layer_weights, style_weight=style_weight,
        content_weight=content_weight if content else 0.0, tv_weight=tv_weight, lr=lr, seed=seed, precision=precision,
    )
    layers = list(settings.layers) + (["relu4_2"] if content else [])
    # Refuse a job that cannot fit before loading anything (VGG-19 is the larger net).
    h, w = fit_size(*image_size(target_map), size)
    check_fits(estimate_vgg_bytes(h, w, last_layer=deepest_layer("vgg19", layers)), f"optimizing at {w}x{h}")
    exemplar = load_style(style, style_map, regions=regions, size=size, log=click.echo)
    target = load_target_map(target_map, exemplar.palette, size=size)
    net = load_loss_net(loss_net, layers=layers, seed=seed, log=click.echo)
    content_image = load_rgb(content).astype("float32") / 255 if content else None
    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)

    saved = [0]

    def save_progress(i, image):
        # L-BFGS reports progress in chunks: save whenever a multiple of --save-every is passed.
        if i // save_every > saved[0] // save_every:
            saved[0] = i
            save_rgb(out.with_name(f"{out.stem}_{i:05d}.png"), image)

    t0 = time.perf_counter()
    image, loss = optimize_doodle(net, exemplar.image, exemplar.labels, target, exemplar.k, settings,
                                  content_image=content_image, callback=save_progress if save_every else None)
    save_rgb(out, image)
    click.echo(f"wrote {out} ({w}x{h}, loss {loss:.4g}, {time.perf_counter() - t0:.1f} s)")
