"""``doodle render``: paint doodles with a trained generator."""

from __future__ import annotations

import click

from doodle.cli.options import device_option, precision_option


@click.command()
@click.option("--checkpoint", "checkpoint_path", required=True, type=click.Path(dir_okay=False),
              help="RUN/checkpoint.pt written by `doodle train`.")
@click.option("--map", "map_path", required=True, type=click.Path(),
              help="A semantic map painted with the style's colours, or a directory of them (PNG, JPEG, WebP, BMP, TIFF).")
@click.option("-o", "--out", required=True, type=click.Path(),
              help="Output PNG, or directory (one PNG per map).")
@click.option("--size", type=click.IntRange(min=1), default=None,
              help="Longest side of the output in pixels [default: the map's size].")
# torch generators take 64-bit seeds; a larger one failed with "Overflow when unpacking long long".
@click.option("--seed", type=click.IntRange(-2**63, 2**63 - 1), default=0, show_default=True,
              help="Noise seed; variation i uses seed + i.")
@click.option("--variations", type=click.IntRange(min=1), default=1, show_default=True,
              help="Images per map, written as NAME_v0.png, NAME_v1.png, ...")
@precision_option
@device_option
def render(checkpoint_path, map_path, out, size, seed, variations, precision, device) -> None:
    """Render doodles in one forward pass each.

    The map's colours are snapped to the checkpoint's palette; colours that
    match none of them are refused.
    """
    from doodle.painting.render import render_files

    for item in render_files(checkpoint_path, map_path, out, size=size, seed=seed, variations=variations,
                             precision=precision, device=device):
        click.echo(f"wrote {item.path} (seed {item.seed}) in {item.seconds:.3f} s")
