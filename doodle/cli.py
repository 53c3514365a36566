"""The ``doodle`` command line: a thin click layer over the library."""

from __future__ import annotations

import click

from maskgen.clitools import FriendlyGroup
from doodle import __version__
from doodle.allocator import reuse_freed_memory


@click.group(cls=FriendlyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="doodle")
def main() -> None:
    """Semantic style transfer: region Gram losses, L-BFGS doodles and
    feed-forward doodle generators trained on random masks."""
    reuse_freed_memory()


# Sub-commands live in their own modules and register themselves here.
from doodle.cli_optimize import optimize  # noqa: E402
main.add_command(optimize)
from doodle.cli_train import train  # noqa: E402
main.add_command(train)
from doodle.cli_weights import weights  # noqa: E402
main.add_command(weights)
from doodle.cli_render import render  # noqa: E402
main.add_command(render)
from doodle.cli_demo import demo  # noqa: E402
main.add_command(demo)
