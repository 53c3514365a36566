"""The ``doodle`` command line: a thin click layer over the library."""

from __future__ import annotations

import click

from maskgen.clitools import FriendlyGroup
from doodle import __version__
from maskgen.alloc import reuse_freed_memory


@click.group(cls=FriendlyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="doodle")
def main() -> None:
    """Semantic style transfer: region Gram losses, L-BFGS doodles and
    feed-forward doodle generators trained on random masks."""
    reuse_freed_memory()


# One module per sub-command; import the modules (not their functions) so that
# ``doodle.cli.train`` stays the module, for readers and for mock.patch.
from doodle.cli import demo, legend, map, optimize, plot, render, serve, stylize, train, weights  # noqa: E402

for _command in (optimize.optimize, train.train, render.render, stylize.stylize, serve.serve, plot.plot, weights.weights, demo.demo,
                 map.map_command, legend.legend):
    main.add_command(_command)
