"""``doodle plot``: training curves of one or more runs in one PNG."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("runs", nargs=-1, required=True, metavar="RUN...", type=click.Path(file_okay=False, path_type=Path))
@click.option("-o", "--out", type=click.Path(dir_okay=False, path_type=Path), default=Path("curves.png"),
              show_default=True, help="PNG to write.")
def plot(runs: tuple[Path, ...], out: Path) -> None:
    """Plot the loss curves of training runs RUN... (folders written by `doodle train`).

    Total and per-layer loss against step and against wall-clock minutes, log
    scale, runs overlaid. Needs matplotlib: pip install 'neural-doodle-tools[plot]'.
    """
    from doodle.training.plot import plot_training_curves

    logs = plot_training_curves(runs, out)
    for run, log in zip(runs, logs):
        for problem in log.problems:
            click.echo(f"{run}: skipped {problem}", err=True)
    click.echo(f"wrote {out} ({', '.join(f'{log.name}: step {int(log.steps[-1])}' for log in logs)})")
