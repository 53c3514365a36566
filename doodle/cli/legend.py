"""``doodle legend``: which map colour paints which part of the painting."""

from __future__ import annotations

import click

from doodle.cli.options import regions_option


@click.command()
@click.argument("source", type=click.Path(dir_okay=False))
@click.option("--style", type=click.Path(dir_okay=False), default=None,
              help="The painting [required for a style map; default for a checkpoint: the one it was trained on].")
@regions_option
@click.option("-o", "--out", required=True, type=click.Path(dir_okay=False), help="Legend PNG to write.")
def legend(source, style, regions, out) -> None:
    """Draw the legend of SOURCE, a style map or a RUN/checkpoint.pt.

    One row per region: its colour(s) (merged colours included), its index,
    its share of the painting, a crop of the painting where the region is and
    the whole painting with the region picked out. Example:

        doodle legend painting_map.png --style painting.png -o legend.png
    """
    from doodle.maps.legend import legend_for

    palette = legend_for(source, out, style=style, regions=regions)
    click.echo(f"wrote {out}: {palette.k} regions, palette {palette}")
