"""``doodle stylize``: paint photos with a stylizer trained by ``doodle train --content``."""

from __future__ import annotations

import click

from doodle.cli.options import device_option, precision_option


@click.command()
@click.option("--checkpoint", "checkpoint_path", required=True, type=click.Path(dir_okay=False),
              help="RUN/checkpoint.pt written by `doodle train --content PHOTOS`.")
@click.option("--content", required=True, type=click.Path(),
              help="A photo (PNG or JPEG, any size), or a folder of them.")
@click.option("--content-map", type=click.Path(), default=None,
              help="The photo's semantic map in the style map's colours (a folder of maps named like the photos "
              "for a folder); only for stylizers trained with --content-maps.")
@click.option("-o", "--out", required=True, type=click.Path(), help="Output PNG, or folder (one PNG per photo).")
@click.option("--size", type=click.IntRange(min=1), default=None,
              help="Longest side of the output in pixels [default: the photo's size].")
@precision_option
@device_option
def stylize(checkpoint_path, content, content_map, out, size, precision, device) -> None:
    """Paint photos in the trained painting's style, one forward pass each."""
    from doodle.painting.stylize import stylize_files

    for item in stylize_files(checkpoint_path, content, out, content_map=content_map, size=size,
                              precision=precision, device=device):
        click.echo(f"wrote {item.path} in {item.seconds:.3f} s")
