"""The ``doodle`` command line: a thin click layer over the library."""

from __future__ import annotations

import click

from maskgen.clitools import FriendlyGroup
from doodle import __version__


@click.group(cls=FriendlyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="doodle")
def main() -> None:
    """Semantic style transfer: region Gram losses, L-BFGS doodles and
    feed-forward doodle generators trained on random masks."""


# Sub-commands live in their own modules and register themselves here.
