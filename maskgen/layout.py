"""On-disk layout of a mask dataset: names, header and manifest records.

::

    OUT/dataset.json        header: format version, parameters, seed, count, palette
    OUT/manifest.jsonl      one JSON object per mask (any order; sorted once complete)
    OUT/masks/00000000.png  8-bit palette PNG, pixel value = label
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from maskgen import __version__
from maskgen.fileio import TMP_PREFIX
from maskgen.mask import Mask, MaskParams
from maskgen.palette import PALETTE

FORMAT = "maskgen-dataset"
FORMAT_VERSION = 1
HEADER_NAME = "dataset.json"
MANIFEST_NAME = "manifest.jsonl"
MASK_DIR = "masks"
RECORD_KEYS = ("index", "file", "seed_stream", "k", "areas", "components", "redraws")


def mask_file(index: int) -> str:
    """Path of mask ``index`` relative to the dataset directory, e.g. ``masks/00000012.png``."""
    return f"{MASK_DIR}/{index:08d}.png"


def index_of_file(name: str) -> int | None:
    """Inverse of :func:`mask_file` on a bare file name (``None`` when it is not a mask name)."""
    stem, dot, ext = name.partition(".")
    if dot and ext == "png" and len(stem) >= 8 and stem.isdigit():
        return int(stem)
    return None


def make_header(params: MaskParams, seed: int, count: int) -> dict[str, Any]:
    """The ``dataset.json`` contents of a dataset."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "maskgen_version": __version__,
        "count": count,
        "seed": seed,
        "params": params.to_dict(),
        "label_order": "labels 0..K-1 in increasing mean height",
        "palette": PALETTE.tolist(),
    }


def header_text(header: dict[str, Any]) -> str:
    """Canonical JSON text of a header (stable bytes for identical datasets)."""
    return json.dumps(header, indent=1) + "\n"


def read_header(root: str | Path) -> dict[str, Any]:
    """Load and check ``dataset.json`` of the dataset at ``root``.

    Raises
    ------
    FileNotFoundError
        If ``root/dataset.json`` is missing.
    ValueError
        If it is not JSON, not a maskgen dataset, or from another format version.
    """
    path = Path(root) / HEADER_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; is {root} a dataset made by maskgen generate?")
    try:
        header = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path} is not valid JSON ({exc.__class__.__name__}); regenerate the dataset") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ValueError(f"{path} is not a maskgen dataset header")
    if header.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{path} has format version {header.get('format_version')}, this maskgen reads {FORMAT_VERSION}; regenerate the dataset"
        )
    MaskParams.from_dict(header["params"])
    return header


def mask_record(mask: Mask) -> dict[str, Any]:
    """Manifest record of a generated mask."""
    return {
        "index": mask.index,
        "file": mask_file(mask.index),
        "seed_stream": list(mask.seed_stream),
        "k": mask.k,
        "areas": list(mask.areas),
        "components": list(mask.components),
        "redraws": mask.redraws,
    }


def record_line(record: dict[str, Any]) -> str:
    """One manifest line (compact JSON + newline)."""
    return json.dumps(record, separators=(",", ":")) + "\n"


def parse_record(line: str, count: int) -> dict[str, Any]:
    """Parse and sanity-check one manifest line.

    Raises
    ------
    ValueError
        If the line is not a complete, consistent record of a mask index < ``count``.
    """
    try:
        rec = json.loads(line)
    except json.JSONDecodeError:
        raise ValueError("not valid JSON (truncated line?)") from None
    if not isinstance(rec, dict) or tuple(rec) != RECORD_KEYS:
        raise ValueError(f"expected the keys {', '.join(RECORD_KEYS)}")
    index, k = rec["index"], rec["k"]
    if not isinstance(index, int) or not 0 <= index < count:
        raise ValueError(f"index {index!r} outside 0..{count - 1}")
    if rec["file"] != mask_file(index):
        raise ValueError(f"file {rec['file']!r} should be {mask_file(index)!r}")
    if not isinstance(k, int) or not 2 <= k <= 255 or len(rec["areas"]) != k or len(rec["components"]) != k:
        raise ValueError(f"k={k!r} does not match {len(rec['areas'])} areas and {len(rec['components'])} component counts")
    return rec


def read_manifest(root: str | Path, count: int) -> tuple[list[dict[str, Any]], list[str]]:
    """Read ``manifest.jsonl``: valid records (sorted by index, first of duplicates) and problems.

    Returns
    -------
    records : list of dict
        Parsed records, one per index, sorted by index.
    problems : list of str
        ``"manifest.jsonl line N: ..."`` for every unusable or duplicate line.
    """
    path = Path(root) / MANIFEST_NAME
    records: dict[int, dict[str, Any]] = {}
    problems: list[str] = []
    if not path.exists():
        return [], problems
    with open(path, encoding="utf-8", errors="replace") as f:
        for n, line in enumerate(f, start=1):
            try:
                rec = parse_record(line, count)
            except ValueError as exc:
                problems.append(f"{MANIFEST_NAME} line {n}: {exc}")
                continue
            if rec["index"] in records:
                problems.append(f"{MANIFEST_NAME} line {n}: duplicate index {rec['index']}")
                continue
            records[rec["index"]] = rec
    return [records[i] for i in sorted(records)], problems


def is_temporary(name: str) -> bool:
    """Whether ``name`` is a temporary file left by an interrupted atomic write."""
    return name.startswith(TMP_PREFIX)
