"""Consistency check of a dataset directory against its manifest."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from maskgen.components import count_components
from maskgen.layout import MASK_DIR, index_of_file, is_temporary, mask_file, read_header, read_manifest
from maskgen.mask import MaskParams
from maskgen.palette import read_label_png

AREA_TOLERANCE = 1e-9


def _check_mask(root: Path, rec: dict, params: MaskParams) -> str | None:
    path = root / rec["file"]
    try:
        labels = read_label_png(path)
    except (ValueError, OSError) as exc:
        return str(exc)
    if labels.shape != (params.height, params.width):
        return f"{rec['file']}: size {labels.shape[1]}x{labels.shape[0]}, expected {params.width}x{params.height}"
    k = rec["k"]
    top = int(labels.max())
    if top >= k:
        return f"{rec['file']}: label {top} >= K={k}"
    areas = np.bincount(labels.ravel(), minlength=k) / labels.size
    worst = int(np.argmax(np.abs(areas - rec["areas"])))
    if abs(areas[worst] - rec["areas"][worst]) > AREA_TOLERANCE:
        return f"{rec['file']}: label {worst} covers {areas[worst]:.6f} of the pixels, manifest says {rec['areas'][worst]:.6f}"
    comps = count_components(labels, k).tolist()
    if comps != rec["components"]:
        return f"{rec['file']}: components per label {comps}, manifest says {rec['components']}"
    return None


def verify_dataset(root: str | os.PathLike) -> list[str]:
    """List every problem of the dataset at ``root`` (empty when it is sound).

    Checks that each manifest line is valid and unique, that its PNG exists, is
    decodable, has the dataset size, labels < its K, and the recorded areas and
    component counts; that no mask file is absent from the manifest; that no
    temporary file is left; and that all ``count`` masks are present.

    Parameters
    ----------
    root : path-like
        Dataset directory.

    Returns
    -------
    list of str
        One line per problem, each naming the file or manifest line.
    """
    root = Path(root)
    try:
        header = read_header(root)
    except (ValueError, OSError) as exc:
        return [str(exc)]
    params = MaskParams.from_dict(header["params"])
    count = header["count"]
    records, problems = read_manifest(root, count)
    for rec in records:
        problem = _check_mask(root, rec, params)
        if problem:
            problems.append(problem)
    listed = {r["index"] for r in records}
    mask_dir = root / MASK_DIR
    names = sorted(os.listdir(mask_dir)) if mask_dir.is_dir() else []
    for name in names:
        index = index_of_file(name)
        if is_temporary(name):
            problems.append(f"{MASK_DIR}/{name}: temporary file left by an interrupted run; rerun with --resume")
        elif index is None or index >= count or mask_file(index) != f"{MASK_DIR}/{name}":
            problems.append(f"{MASK_DIR}/{name}: not a mask file of this dataset")
        elif index not in listed:
            problems.append(f"{MASK_DIR}/{name}: not in the manifest; rerun generate with --resume")
    for name in sorted(os.listdir(root)):
        if is_temporary(name):
            problems.append(f"{name}: temporary file left by an interrupted run; rerun with --resume")
    missing = count - len(listed)
    if missing:
        first = next(i for i in range(count) if i not in listed)
        problems.append(f"{missing} of {count} masks missing from the manifest (first: index {first}); rerun generate with --resume")
    return problems
