"""``doodle demo``: the whole pipeline on the built-in exemplar."""

from __future__ import annotations

from pathlib import Path

import click

from doodle.cli.options import device_option, loss_net_option


@click.command()
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Demo folder (a previous demo's folder is replaced) [default: doodle-demo, or doodle-demo-photos "
              "with --photos].")
@click.option("--photos", is_flag=True,
              help="Train a photo stylizer instead: on scikit-image's bundled photos (offline) in the exemplar "
              "painting's style, then paint two photos it never saw.")
@click.option("--steps", type=click.IntRange(min=1), default=300, show_default=True, help="Training steps.")
@click.option("--size", type=click.IntRange(min=16), default=128, show_default=True, help="Training mask side (px).")
@click.option("--batch", type=click.IntRange(min=1), default=4, show_default=True)
@loss_net_option
@device_option
@click.option("--exemplar", type=click.Path(file_okay=False), default=None,
              help="Folder with style.png, style_map.png, target_*.png [default: the repository's datasets/exemplar].")
@click.option("--seed", type=int, default=0, show_default=True)
def demo(out, photos, steps, size, batch, loss_net, device, exemplar, seed) -> None:
    """Train a small generator on the built-in exemplar and render doodles.

    Streams random masks from maskgen, trains for a few minutes on a CPU,
    renders the exemplar's target doodles and a few random masks, and writes
    OUT/demo.png (rows of map | output | style) plus the run folder. With
    --photos: a photo stylizer, and OUT/demo.png of photo | stylized | style.
    """
    from doodle.demos.exemplar import EXEMPLAR, run_demo

    if photos:
        from doodle.demos.photos import run_photo_demo

        run_photo_demo(out=out or "doodle-demo-photos", steps=steps, size=size, batch=batch, loss_net=loss_net,
                       style=Path(exemplar or EXEMPLAR) / "style.png", seed=seed, log=click.echo, device=device)
        return
    run_demo(out=out or "doodle-demo", steps=steps, size=size, batch=batch, loss_net=loss_net, exemplar=exemplar or EXEMPLAR,
             seed=seed, log=click.echo, device=device)
