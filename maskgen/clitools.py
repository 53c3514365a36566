"""Click helpers shared by the ``maskgen`` and ``doodle`` command lines.

Library code raises ordinary exceptions (``ValueError`` for bad arguments or data,
``OSError`` for files); the CLI turns those into a one-line ``Error: ...`` and a
non-zero exit instead of a traceback. Programming errors (``TypeError`` etc.) keep
their tracebacks so that bugs stay visible.
"""

from __future__ import annotations

import sys

import click

USER_ERRORS = (ValueError, OSError, MemoryError, EOFError)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


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
            raise click.ClickException(_one_line(exc)) from None
