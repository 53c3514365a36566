"""A training run's folder: checked, then created or cleared (new run) or cleaned (``--resume``); its log and samples cut back to the checkpoint."""

from __future__ import annotations

import json
import re
from pathlib import Path

from maskgen.fileio import TMP_PREFIX, atomic_write_text, file_in_the_way, make_folder, read_jsonl


#: What a run writes into its folder before its first checkpoint (:func:`doodle.training.train.train`).
RUN_FILES = ("config.json", "legend.png", "log.jsonl", "curves.png")
SAMPLES = "samples"
#: A sample picture's name, ``samples/step_XXXXXX.png``; the group is its step.
SAMPLE_NAME = re.compile(r"step_(\d+)\.png")
#: ``config.json`` keys every run writes: a file without them is someone else's.
CONFIG_KEYS = {"style", "steps", "generator"}


def _is_run_config(path: Path) -> bool:
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(stored, dict) and CONFIG_KEYS <= stored.keys()


def foreign_files(out: Path) -> list[str]:
    """The entries of ``out`` (sorted, relative) that a run does not write: the files to keep and not mix a run into."""
    if not out.is_dir():
        return []
    foreign = []
    for entry in sorted(out.iterdir()):
        name = entry.name
        if name.startswith(TMP_PREFIX) or name == "checkpoint.pt":
            continue
        if name in RUN_FILES and entry.is_file() and (name != "config.json" or _is_run_config(entry)):
            continue
        if name == SAMPLES and entry.is_dir():
            foreign += [f"{SAMPLES}/{p.name}" for p in sorted(entry.iterdir())
                        if not (p.is_file() and (p.name.startswith(TMP_PREFIX) or SAMPLE_NAME.fullmatch(p.name)))]
            continue
        foreign.append(name)
    return foreign


def _listed(names: list[str]) -> str:
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def check_resumable(out: Path) -> None:
    """Refuse ``--resume`` without a checkpoint in one line that names the command that works."""
    if (out / "checkpoint.pt").exists():
        return
    foreign = foreign_files(out)
    if foreign:
        raise ValueError(f"nothing to resume: {out / 'checkpoint.pt'} does not exist and {out} holds files no run "
                         f"writes ({_listed(foreign)}); choose another --out, or drop --resume and pass --overwrite "
                         f"to start a run beside them")
    raise ValueError(f"nothing to resume: {out / 'checkpoint.pt'} does not exist (no run, or one stopped before its "
                     f"first checkpoint); drop --resume to start it")


def _clear_run_files(out: Path) -> None:
    # Only what a run writes: other files in the folder are the user's.
    for name in ("checkpoint.pt", *RUN_FILES):
        (out / name).unlink(missing_ok=True)
    for png in (out / SAMPLES).glob("step_*.png"):
        png.unlink()
    _remove_stale_temporaries(out)


def _remove_stale_temporaries(out: Path) -> None:
    # A run killed mid-write leaves its temporary file; the rename never happened,
    # so the file is garbage (one writer per run folder: nobody else owns it).
    for stale in [*out.glob(TMP_PREFIX + "*"), *out.glob(f"{SAMPLES}/{TMP_PREFIX}*")]:
        stale.unlink(missing_ok=True)


def check_run_dir(out: Path, resume: bool, overwrite: bool) -> None:
    """Refuse to mix a new run into a folder holding another run or someone's files; changes nothing.

    A folder holding only what a run writes before its first checkpoint (a run that
    failed or was interrupted early; nothing to resume) will be started again, as
    with ``overwrite``, by :func:`open_run_dir`.
    """
    blocker = file_in_the_way(out)
    if blocker is not None:
        raise ValueError(f"--out {out} is a file; give a folder for the run" if blocker == out
                         else f"--out {out} cannot be a folder: {blocker} is a file; give another folder for the run")
    if resume:
        check_resumable(out)
        return
    if out.exists() and any(out.iterdir()) and not overwrite:
        if (out / "checkpoint.pt").exists():
            raise ValueError(f"run folder {out} holds a run; pass --resume to continue it or --overwrite to replace it")
        foreign = foreign_files(out)
        if foreign:
            raise ValueError(f"run folder {out} holds files no run writes ({_listed(foreign)}); choose another --out, "
                             f"or pass --overwrite to start a run beside them")


def open_run_dir(out: Path, resume: bool) -> None:
    """Create ``out`` for a run that :func:`check_run_dir` accepted, clearing the old run's files unless resuming.

    Called once the run's inputs are checked: a mistyped path must not cost the old run.
    """
    if resume:
        _remove_stale_temporaries(out)
        return
    if out.exists():
        _clear_run_files(out)
    make_folder(out)


def rewind_run(out: Path, step: int) -> list[dict]:
    """Cut a resumed run's log and samples back to its checkpoint at ``step``; returns the log entries kept.

    A killed run may have logged and sampled steps after its last checkpoint,
    and a power loss or a full disk may have torn its last log line: all are
    dropped, so the resumed run reads as one uninterrupted run (a resume that
    stops earlier leaves no samples of steps it never trained).
    """
    for png in (out / SAMPLES).glob("step_*.png"):
        match = SAMPLE_NAME.fullmatch(png.name)
        if match and int(match.group(1)) > step:
            png.unlink()
    path = out / "log.jsonl"
    if not path.exists():
        return []
    records, _torn = read_jsonl(path)
    keep = [r for r in records if isinstance(r.get("step"), int) and r["step"] <= step]
    atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in keep))
    return keep
