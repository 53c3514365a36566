"""The ``maskgen`` command line: a thin click layer over the library.

Argument checks live in the library (``MaskParams``, ``parse_shard``,
``generate_dataset``) so that the API and the CLI reject the same inputs with
the same one-line message.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Callable

import click

from maskgen import __version__
from maskgen.clitools import FriendlyGroup
from maskgen.generate import generate_dataset, parse_shard
from maskgen.mask import MAX_SIZE, MIN_SIZE, MaskParams, parse_regions
from maskgen.preview import PARAMS_SOURCE, preview_masks, write_grid
from maskgen.stats import dataset_stats, format_stats, plot_stats
from maskgen.verify import verify_dataset


@click.group(cls=FriendlyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="maskgen")
def main() -> None:
    """Fast random smooth semantic masks (diamond-square, 1-D K-means, majority filter)."""


def mask_options(func: Callable) -> Callable:
    """Options that define ``MaskParams`` and the seed (shared by generate and preview)."""
    options = [
        click.option("--size", type=int, default=256, show_default=True, help="Width and height in pixels (>= 8)."),
        click.option("--width", type=int, default=None, help="Width in pixels (overrides --size)."),
        click.option("--height", type=int, default=None, help="Height in pixels (overrides --size)."),
        click.option("--regions", default="4", show_default=True, help="Regions per mask: K, or a range A-B drawn per mask."),
        click.option("--roughness", type=float, default=0.5, show_default=True, help="Diamond-square roughness in (0, 1]."),
        click.option("--octaves", type=int, default=1, show_default=True, help="Heightmaps of increasing roughness summed."),
        click.option("--filter", "filter_", default="majority", show_default=True, help="majority, median (2016) or none."),
        click.option("--filter-size", type=int, default=9, show_default=True, help="Odd smoothing window side in pixels."),
        click.option("--min-area", type=float, default=0.03, show_default=True, help="Minimum area fraction of every region."),
        click.option("--kmeans", default="numba", show_default=True, help="numba (exact 1-D) or sklearn (reference)."),
        click.option("--max-redraws", type=int, default=100, show_default=True, help="Redraws per mask before giving up."),
        click.option("--seed", type=int, default=0, show_default=True, help="Dataset seed (>= 0)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def params_from(opts: dict[str, Any]) -> MaskParams:
    """Build ``MaskParams`` from the parsed :func:`mask_options` (consumes them)."""
    size = opts.pop("size")
    width, height = opts.pop("width"), opts.pop("height")
    if not MIN_SIZE <= size <= MAX_SIZE and (width is None or height is None):
        raise ValueError(f"size must be an integer in {MIN_SIZE}..{MAX_SIZE} pixels, got {size}")
    return MaskParams(
        width=size if width is None else width,
        height=size if height is None else height,
        regions=parse_regions(opts.pop("regions")),
        roughness=opts.pop("roughness"),
        octaves=opts.pop("octaves"),
        filter=opts.pop("filter_"),
        filter_size=opts.pop("filter_size"),
        min_area=opts.pop("min_area"),
        kmeans=opts.pop("kmeans"),
        max_redraws=opts.pop("max_redraws"),
    )


@main.command()
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.option("--count", type=int, required=True, help="Number of masks in the dataset (> 0).")
@mask_options
@click.option("--workers", type=int, default=None, help="Worker processes [default: all cores].")
@click.option("--shard", default="0/1", show_default=True, help="I/N: write only masks i with i % N == I.")
@click.option("--resume", is_flag=True, help="Continue the dataset already in OUT (same options).")
@click.option("--overwrite", is_flag=True, help="Replace the dataset already in OUT.")
@click.option("--progress/--no-progress", default=None, help="Progress bar [default: when stderr is a terminal].")
def generate(out: Path, count: int, workers: int | None, shard: str, resume: bool, overwrite: bool, progress: bool | None, **opts: Any) -> None:
    """Write a dataset of COUNT random masks to OUT.

    OUT gets dataset.json (settings), manifest.jsonl (one line per mask) and
    masks/NNNNNNNN.png (palette PNGs whose pixel values are the labels).
    """
    if resume and overwrite:
        raise ValueError("--resume and --overwrite exclude each other; pick one")
    seed = opts.pop("seed")
    params = params_from(opts)
    shard_spec = parse_shard(shard)
    mode = "resume" if resume else "overwrite" if overwrite else "new"
    report = generate_dataset(out, params, count, seed=seed, workers=workers, shard=shard_spec, mode=mode, progress=progress)
    state = "dataset complete" if report.complete else "dataset not complete yet (other shards or --resume)"
    click.echo(f"{out}: wrote {report.written} masks, {report.skipped} already present; {state}")


@main.command()
@click.argument("source")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True, help="Grid PNG to write.")
@click.option("--count", type=int, default=64, show_default=True, help="Masks in the grid.")
@click.option("--cols", type=int, default=8, show_default=True, help="Masks per row.")
@mask_options
def preview(source: str, output: Path, count: int, cols: int, **opts: Any) -> None:
    """Write a grid image of masks from SOURCE.

    SOURCE is a dataset directory, a JSON file of parameters (or a
    dataset.json), or the word `params` to draw masks from the options on this
    command line without writing a dataset.
    """
    seed = opts.pop("seed")
    params = params_from(opts) if source == PARAMS_SOURCE else None
    masks = preview_masks(source, count, params, seed)
    write_grid(masks, output, cols)
    click.echo(f"{output}: {len(masks)} masks")


@main.command()
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Also write a PNG of the histograms (needs matplotlib).")
def stats(out: Path, as_json: bool, plot: Path | None) -> None:
    """Print statistics of dataset OUT.

    Regions per mask, area fraction per region (min/median/max, histogram),
    components per region, share of masks with a region under 1 %.
    """
    result = dataset_stats(out)
    # Plot first: a missing matplotlib then fails with one line, not after the table.
    if plot is not None:
        plot_stats(result, plot, title=str(out))
    click.echo(json.dumps(result, indent=1) if as_json else format_stats(result))


@main.command()
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
def verify(out: Path) -> None:
    """Check dataset OUT against its manifest.

    Exits 1 listing every problem: unreadable PNGs, files missing from or
    absent in the manifest, labels >= K, areas that disagree, missing masks.
    """
    problems = verify_dataset(out)
    if problems:
        for p in problems:
            click.echo(p)
        click.echo(f"{out}: {len(problems)} problem(s)", err=True)
        sys.exit(1)
    click.echo(f"{out}: ok")
