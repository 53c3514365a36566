"""Click helpers shared by the ``maskgen`` and ``doodle`` command lines.

User errors (:data:`maskgen.errors.USER_ERRORS`) become a one-line ``Error: ...``
and a non-zero exit instead of a traceback.
"""

from __future__ import annotations

import sys

import click

from maskgen.errors import USER_ERRORS, one_line


#: ``ctx.meta`` key (meta is shared by a command's context and its group's): a command whose --resume needs
#: something on disk sets it to a callable telling whether an interrupted run left that to resume.
RESUMABLE = "maskgen.clitools.resumable"


class FriendlyGroup(click.Group):
    """A click group whose commands report user errors in one line."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except KeyboardInterrupt:
            click.echo(self._interrupted(ctx), err=True)
            sys.exit(130)
        except USER_ERRORS as exc:
            raise click.ClickException(one_line(exc)) from None

    def _interrupted(self, ctx: click.Context) -> str:
        """The one line for Ctrl-C: --resume only where the command has it and there is something to resume."""
        resumable = ctx.meta.get(RESUMABLE)
        if resumable is not None and not resumable():
            return "Interrupted before the first checkpoint; nothing to resume: run the same command again to start over."
        name = ctx.invoked_subcommand
        command = self.get_command(ctx, name) if name else None
        if command is not None and any(param.name == "resume" for param in command.params):
            return "Interrupted; run the same command with --resume to continue."
        return "Interrupted."
