"""``doodle optimize``: the optimization-based doodle, or a photo painted in a style (Gatys et al.)."""

from __future__ import annotations

import click

from doodle.cli.options import (balance_option, comma_list, device_option, layer_weights_option, loss_net_option, precision_option, regions_option,
                                style_layers_option)


@click.command()
@click.option("--style", required=True, type=click.Path(dir_okay=False), help="Style image (the painting).")
@click.option("--style-map", type=click.Path(dir_okay=False), default=None,
              help="Semantic map of the style image [default: none, the painting is one region].")
@click.option("--target-map", type=click.Path(dir_okay=False), default=None,
              help="The doodle to paint; with --content, the photo's semantic map [default: one region].")
@click.option("--content", type=click.Path(dir_okay=False), default=None,
              help="A photo to paint in the style (its structure is kept through --content-layers).")
@click.option("--content-weight", type=click.FloatRange(min=0), default=1.0, show_default=True,
              help="Weight of the content loss. Relative (the default with a photo): the mean over the content "
              "layers' channels of ||F/|F| - P/|P| ||^2, where each feature fires in the image (F) and in the "
              "photo (P), leaving how strongly to the style; 0 at the photo, about 1 for an unrelated image. "
              "1 balances it with the style for any size and loss net; raise it to keep more of the photo, "
              "lower it to paint more.")
@click.option("--content-layers", callback=comma_list(str), default=None, metavar="L1,L2,...",
              help="Content layers [default: relu2_1; deeper ones, e.g. relu3_1 or Gatys et al.'s relu4_2, keep less of the photo].")
@click.option("--style-weight", type=click.FloatRange(min=0), default=1.0, show_default=True,
              help="Weight of the style loss. Relative: the sum over style layers of ||G - G_style||^2 / "
              "||G_style||^2 (region Grams), 0 for the painting, about 1 per layer for an unrelated image.")
@click.option("--tv-weight", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="Total-variation smoothness weight, on the mean squared difference of neighbouring pixels "
              "(0.003-0.013 for photos at 256 px, about 0.02 once painted, next to relative style and content "
              "terms of 0.1-1).")
@click.option("--init", type=click.Choice(["content", "noise", "style"]), default=None,
              help="Start from the photo, from noise or from the style image [default: content with --content, "
              "else noise].")
@click.option("--preserve-color", is_flag=True,
              help="Keep the photo's colours: paint its luminance only (Gatys et al. 2016); needs --content.")
@click.option("--relative/--raw", default=None,
              help="Relative losses (each style layer's Gram distance over its target's norm, the content as "
              "where features fire: see --content-weight) or raw Gram and mean-squared distances "
              "[default: relative with --content, raw for doodles, the loss of doodle train].")
@balance_option
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
@device_option
# torch generators take 64-bit seeds; a larger one failed with "Overflow when unpacking long long".
@click.option("--seed", type=click.IntRange(-2**63, 2**63 - 1), default=0, show_default=True)
@click.option("--save-every", type=click.IntRange(min=1), default=None, help="Also save OUT_<iteration>.png this often.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Output PNG.")
def optimize(style, style_map, target_map, content, content_weight, content_layers, style_weight, tv_weight, init,
             preserve_color, relative, balance, regions, size, iterations, optimizer, lr, resolutions, style_layers, layer_weights, loss_net, precision, device,
             seed, save_every, output) -> None:
    """Paint TARGET-MAP, or a photo, in the style of STYLE by optimizing pixels (L-BFGS).

    The regions of STYLE-MAP (its colours) tell which part of the painting each
    colour of TARGET-MAP should look like. With --content the photo is painted
    (Gatys et al.): TARGET-MAP is then its map, or leave out both maps to paint
    it as one region. Examples:

        doodle optimize --style painting.png --style-map painting_map.png
        --target-map doodle.png --size 384 -o out.png

        doodle optimize --style painting.png --content photo.jpg --size 512 -o out.png
    """
    from doodle.lossnet.vgg import DEFAULT_STYLE_LAYERS
    from doodle.painting.optimize import OptimizeSettings, optimize_files
    from doodle.style.loss import CONTENT_LAYERS

    settings = OptimizeSettings(
        iterations=iterations, optimizer=optimizer, resolutions=resolutions,
        layers=style_layers or DEFAULT_STYLE_LAYERS, layer_weights=layer_weights, style_weight=style_weight,
        content_weight=content_weight, content_layers=content_layers or CONTENT_LAYERS, tv_weight=tv_weight,
        init=init, relative=relative, balance=balance, preserve_color=preserve_color, lr=lr, seed=seed, precision=precision,
    )
    done = optimize_files(style, style_map, target_map, output, settings, size=size, regions=regions, content=content,
                          loss_net=loss_net, save_every=save_every, log=click.echo,
                          device=device)
    click.echo(f"wrote {done.path} ({done.width}x{done.height}, loss {done.loss:.4g}, {done.seconds:.1f} s)")
