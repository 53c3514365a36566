"""Atomic file writes shared by both packages.

A reader (or a resumed job) must never see a half-written file: data goes to a
temporary file in the same directory, is fsynced, then renamed over the target.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

TMP_PREFIX = ".tmp-"


def file_in_the_way(folder: str | os.PathLike) -> Path | None:
    """The file (not a folder) at ``folder`` or at one of its parents, which keeps it from being a folder.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "notes.txt").write_text("")
    >>> file_in_the_way(d / "notes.txt" / "run") == d / "notes.txt", file_in_the_way(d / "run")
    (True, None)
    """
    folder = Path(folder)
    return next((p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()), None)


def make_folder(folder: str | os.PathLike) -> Path:
    """Create ``folder`` and its parents, as ``mkdir -p``; returns it.

    Raises
    ------
    NotADirectoryError
        One line naming the file in the way (``Path.mkdir`` says only "[Errno 17] File exists").
    """
    folder = Path(folder)
    blocker = file_in_the_way(folder)
    if blocker is not None:
        raise NotADirectoryError(f"cannot make the folder {folder}: {blocker} is a file; choose another path")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` on success.

    Parameters
    ----------
    path : path-like
        Final destination. Its directory must exist.
    suffix : str
        Suffix of the temporary name (e.g. ``".png"`` so that writers that infer
        the format from the extension still work).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> with atomic_path(d / "a.txt") as tmp:
    ...     _ = tmp.write_text("hello")
    >>> (d / "a.txt").read_text()
    'hello'
    """
    path = Path(path)
    fd, tmp_name = tempfile.mkstemp(prefix=TMP_PREFIX + path.name + ".", suffix=suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    # mkstemp creates 0600 files; give the result the permissions a plain open() would.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temp file + fsync + rename)."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def read_jsonl(path: str | os.PathLike) -> tuple[list[dict[str, Any]], list[str]]:
    r"""Read a JSON-lines log that a killed writer may have left torn.

    Appending writers (``log.jsonl``, ``manifest.jsonl``) can die mid-line on a
    power loss or a full disk; such a line is reported, not fatal, so the job
    that owns the file can resume and rewrite it.

    Returns
    -------
    records : list of dict
        Every line that parses as a JSON object, in file order.
    problems : list of str
        ``"NAME line N: ..."`` for every other non-blank line.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> log = pathlib.Path(tempfile.mkdtemp()) / "log.jsonl"
    >>> _ = log.write_text('{"step": 1}\n{"step": 2}\n{"st')
    >>> read_jsonl(log)
    ([{'step': 1}, {'step': 2}], ['log.jsonl line 3: not valid JSON (truncated line?)'])
    """
    path = Path(path)
    records: list[dict[str, Any]] = []
    problems: list[str] = []
    if not path.exists():
        return records, problems
    with open(path, encoding="utf-8", errors="replace") as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                problems.append(f"{path.name} line {n}: not valid JSON (truncated line?)")
                continue
            if not isinstance(record, dict):
                problems.append(f"{path.name} line {n}: not a JSON object")
                continue
            records.append(record)
    return records, problems


def _fsync_dir(directory: Path) -> None:
    # The rename is only durable once the directory entry itself is on disk.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
