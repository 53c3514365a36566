"""The errors both command lines turn into a one-line message, and that line.

Library code raises ordinary exceptions (``ValueError`` for bad arguments or
data, ``OSError`` for files); the CLIs print those as ``Error: ...`` without a
traceback. Programming errors (``TypeError`` etc.) are not listed, so bugs keep
their tracebacks.
"""

from __future__ import annotations

#: Exceptions that describe a user's input or environment, not a bug.
USER_ERRORS = (ValueError, OSError, MemoryError, EOFError)


def one_line(exc: BaseException) -> str:
    """The message of ``exc`` on one line (its type name when it has none).

    Examples
    --------
    >>> one_line(ValueError("bad\\n   value"))
    'bad value'
    >>> one_line(KeyError())
    'KeyError'
    """
    return " ".join(str(exc).split()) or type(exc).__name__
