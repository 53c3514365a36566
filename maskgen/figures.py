"""matplotlib figures for the optional PNG plots of both packages.

matplotlib is an optional extra (``pip install 'neural-doodle-tools[plot]'``), so it
is imported only when a plot is asked for. Figures are made with the
object-oriented API (``matplotlib.figure.Figure``, rendered by Agg): no pyplot, no
global backend switch, no display needed, and a caller's own pyplot session is
left alone.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from maskgen.fileio import atomic_path

if TYPE_CHECKING:
    from matplotlib.figure import Figure

PLOT_EXTRA = "pip install 'neural-doodle-tools[plot]'"


class MissingMatplotlib(ImportError, ValueError):
    """matplotlib is not installed.

    Also a ``ValueError``, so that the command lines report it in one line like
    any other user error.
    """


def new_figure(feature: str, **kwargs: Any) -> Figure:
    """A new matplotlib ``Figure`` (``kwargs`` go to its constructor).

    Parameters
    ----------
    feature : str
        What needs the figure, for the error message (e.g. ``"--plot"``).

    Raises
    ------
    MissingMatplotlib
        ``"<feature> needs matplotlib: pip install 'neural-doodle-tools[plot]'"``.
    """
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise MissingMatplotlib(f"{feature} needs matplotlib: {PLOT_EXTRA}") from None
    return Figure(**kwargs)


def save_png(fig: Figure, path: str | os.PathLike) -> None:
    """Render ``fig`` to the PNG ``path`` atomically (temp file + rename)."""
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png")
