"""``doodle render``: paint doodles with a trained generator."""

from __future__ import annotations

from pathlib import Path

import click

from doodle.cli_options import precision_option

MAP_SUFFIXES = (".png", ".jpg", ".jpeg")


def plan_outputs(map_path: Path, out: Path) -> list[tuple[Path, Path]]:
    """Pair each map to render with its output PNG.

    A directory of maps (``*.png``, ``*.jpg``, ``*.jpeg``) goes to the directory
    ``out`` as ``out/<stem>.png``; a single map goes to ``out``, or to
    ``out/<stem>.png`` if ``out`` is an existing directory.
    """
    if not map_path.exists():
        raise FileNotFoundError(f"map not found: {map_path}")
    if map_path.is_dir():
        maps = sorted(p for p in map_path.iterdir() if p.is_file() and p.suffix.lower() in MAP_SUFFIXES)
        if not maps:
            raise ValueError(f"no {', '.join('*' + s for s in MAP_SUFFIXES)} maps in {map_path}")
        if out.exists() and not out.is_dir():
            raise ValueError(f"--map is a directory, so -o must be a directory too, but {out} is a file")
        stems = [p.stem for p in maps]
        clashes = sorted({s for s in stems if stems.count(s) > 1})
        if clashes:
            raise ValueError(f"maps {', '.join(clashes)} exist with several extensions in {map_path}; keep one of each")
        return [(p, out / f"{p.stem}.png") for p in maps]
    if out.is_dir():
        return [(map_path, out / f"{map_path.stem}.png")]
    return [(map_path, out)]


@click.command()
@click.option("--checkpoint", "checkpoint_path", required=True, type=click.Path(dir_okay=False),
              help="RUN/checkpoint.pt written by `doodle train`.")
@click.option("--map", "map_path", required=True, type=click.Path(),
              help="A semantic map painted with the style's colours, or a directory of them (*.png, *.jpg).")
@click.option("-o", "--out", required=True, type=click.Path(),
              help="Output PNG, or directory (one PNG per map).")
@click.option("--size", type=click.IntRange(min=1), default=None,
              help="Longest side of the output in pixels [default: the map's size].")
@click.option("--seed", type=int, default=0, show_default=True, help="Noise seed; variation i uses seed + i.")
@click.option("--variations", type=click.IntRange(min=1), default=1, show_default=True,
              help="Images per map, written as NAME_v0.png, NAME_v1.png, ...")
@precision_option
def render(checkpoint_path, map_path, out, size, seed, variations, precision) -> None:
    """Render doodles in one forward pass each.

    The map's colours are snapped to the checkpoint's palette; colours that
    match none of them are refused.
    """
    from doodle.checkpoint import generator_from_checkpoint, load_checkpoint
    from doodle.render import render_file

    jobs = plan_outputs(Path(map_path), Path(out))
    model, palette = generator_from_checkpoint(load_checkpoint(checkpoint_path))
    for source, target in jobs:
        for item in render_file(model, palette, source, target, size=size, seed=seed,
                                variations=variations, precision=precision):
            click.echo(f"wrote {item.path} (seed {item.seed}) in {item.seconds:.3f} s")
