"""``doodle serve``: the drawing page, painted live by trained generators."""

from __future__ import annotations

import click

from doodle.cli.options import device_option, precision_option


@click.command()
@click.option("--checkpoint", "checkpoint_path", type=click.Path(dir_okay=False), default=None,
              help="RUN/checkpoint.pt written by `doodle train`.")
@click.option("--runs", type=click.Path(file_okay=False), default=None,
              help="A folder of runs (RUNS/*/checkpoint.pt): the page offers a style chooser.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; anything but loopback opens the page to the network.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True,
              help="TCP port; 0 picks a free one.")
@device_option
@precision_option
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="torch threads per render [default: every core this process may use].")
def serve(checkpoint_path, runs, host, port, device, precision, threads) -> None:
    """Serve a page to sketch doodles in the browser and watch them painted live.

    The page has a canvas with the style's palette, brushes, fill, undo/redo and
    random maps; every stroke is rendered by the trained generator. Needs the
    serve extra: pip install -e ".[serve]".
    """
    if (checkpoint_path is None) == (runs is None):
        raise click.UsageError("give either --checkpoint RUN/checkpoint.pt or --runs DIR")
    try:
        from doodle.serve.server import serve as run_server
    except ModuleNotFoundError as exc:
        raise click.ClickException(f"doodle serve needs {exc.name}: pip install -e \".[serve]\"") from None
    run_server(checkpoint=checkpoint_path, runs=runs, host=host, port=port, device=device, precision=precision,
               threads=threads, log=click.echo)
