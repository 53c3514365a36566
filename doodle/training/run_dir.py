"""A training run's folder: created, refused, or cleaned for ``--resume``; its log cut back to the checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

from maskgen.fileio import TMP_PREFIX, atomic_write_text, read_jsonl


def prepare_run_dir(out: Path, resume: bool, overwrite: bool) -> None:
    """Create ``out`` or refuse to mix a new run into a non-empty folder."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file; give a folder for the run")
    if resume:
        if not (out / "checkpoint.pt").exists():
            raise ValueError(f"nothing to resume: {out / 'checkpoint.pt'} does not exist; drop --resume to start")
        # A run killed mid-write leaves its temporary file; the rename never happened,
        # so the file is garbage (one writer per run folder: nobody else owns it).
        for stale in [*out.glob(TMP_PREFIX + "*"), *out.glob(f"samples/{TMP_PREFIX}*")]:
            stale.unlink(missing_ok=True)
        return
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise ValueError(f"run folder {out} is not empty; pass --resume to continue it or --overwrite to replace it")
        for name in ("checkpoint.pt", "config.json", "log.jsonl"):
            (out / name).unlink(missing_ok=True)
        for png in (out / "samples").glob("*.png"):
            png.unlink()
    out.mkdir(parents=True, exist_ok=True)


def truncate_log(path: Path, step: int) -> list[dict]:
    """Keep the log entries up to ``step``; returns them.

    A killed run may have logged steps after its last checkpoint, and a power
    loss or a full disk may have torn its last line: both are dropped, so the
    resumed log reads as one uninterrupted run.
    """
    if not path.exists():
        return []
    records, _torn = read_jsonl(path)
    keep = [r for r in records if isinstance(r.get("step"), int) and r["step"] <= step]
    atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in keep))
    return keep
