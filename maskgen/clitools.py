"""Click helpers shared by the ``maskgen`` and ``doodle`` command lines.

User errors (:data:`maskgen.errors.USER_ERRORS`) become a one-line ``Error: ...``
and a non-zero exit instead of a traceback.
"""

from __future__ import annotations

import sys

import click

from maskgen.errors import USER_ERRORS, one_line


class FriendlyGroup(click.Group):
    """A click group whose commands report user errors in one line."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except KeyboardInterrupt:
            click.echo("Interrupted; run the same command with --resume to continue.", err=True)
            sys.exit(130)
        except USER_ERRORS as exc:
            raise click.ClickException(one_line(exc)) from None
