"""``doodle map``: a semantic map made from the painting alone."""

from __future__ import annotations

import click


@click.command("map")
@click.argument("style", type=click.Path(dir_okay=False))
@click.option("-o", "--out", required=True, type=click.Path(dir_okay=False),
              help="The map to write: a palette PNG in maskgen's colours, at the painting's size.")
@click.option("--regions", type=int, default=None,
              help="Number of regions, 2..20 [default: the largest count in 3..8 whose silhouette score is near "
                   "the best; the command prints the scores].")
@click.option("--preview", type=click.Path(dir_okay=False), default=None,
              help="Also write the painting with the region borders drawn over it (PNG).")
# scikit-learn's K-means takes 0..2**32-1 and refused others in its own words (its random_state parameter).
@click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=0, show_default=True, help="Same seed, same map.")
def map_command(style, out, regions, preview, seed) -> None:
    """Segment the painting STYLE into regions a doodle can use, and write them as a map.

    The painting is cut into superpixels (pieces of nearly one colour that
    follow its edges), which are clustered (K-means) on their colour
    (CIELAB), local texture (how much the colour varies around them) and, a
    little, their position; then smoothed into solid regions. Region 0 is the
    largest. Edit the map in
    any paint program if a region is wrong, then train on it:

        doodle map painting.png -o painting_map.png --preview check.png

        doodle train --style painting.png --style-map painting_map.png --out runs/painting
    """
    from doodle.maps.segment import SILHOUETTE_TOLERANCE, map_painting

    found = map_painting(style, out, regions=regions, preview=preview, seed=seed)
    if found.scores:
        tried = ", ".join(f"{k}: {score:.3f}" for k, score in found.scores.items())
        click.echo(f"chose {found.clustered} regions, the most within {SILHOUETTE_TOLERANCE} of the best silhouette "
                   f"score ({tried}); "
                   f"give --regions K for another count")
    lost = found.clustered - found.k
    if lost:
        click.echo(f"note: {lost} of the {found.clustered} regions {'was' if lost == 1 else 'were'} too thin or "
                   f"scattered to keep")
    h, w = found.labels.shape
    click.echo(f"wrote {out} ({w}x{h}): {found.k} regions: {found.describe()}")
    if preview:
        click.echo(f"wrote {preview} (region borders over the painting)")
