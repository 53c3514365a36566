"""Reading a mask dataset written by :func:`maskgen.generate.generate_dataset`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from maskgen.layout import read_header, read_manifest
from maskgen.mask import MaskParams
from maskgen.palette import read_label_png


class MaskDataset:
    """Random access to the masks of a dataset directory.

    Parameters
    ----------
    root : path-like
        Dataset directory (holding ``dataset.json``).
    allow_partial : bool
        Accept a dataset that does not hold all ``count`` masks yet (e.g. while
        it is being generated); otherwise that raises ``ValueError``.

    Attributes
    ----------
    root : pathlib.Path
    params : MaskParams
    seed : int
    count : int
        Masks the dataset is meant to hold.
    records : list of dict
        Manifest records sorted by index.
    files : list of pathlib.Path
        PNG path of each record.
    k_range : tuple of int
        ``params.regions``: the (min, max) region count.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from maskgen import MaskParams, generate_dataset
    >>> tmp = tempfile.TemporaryDirectory()
    >>> params = MaskParams(width=32, height=16, regions=(3, 4), filter_size=3)
    >>> _ = generate_dataset(pathlib.Path(tmp.name) / "masks", params, 5, workers=1, progress=False)
    >>> ds = read_dataset(pathlib.Path(tmp.name) / "masks")
    >>> len(ds), ds[0].shape, ds[0].dtype, ds.k_range
    (5, (16, 32), dtype('uint8'), (3, 4))
    >>> sorted(ds.record(0))[:3]
    ['areas', 'components', 'file']
    >>> tmp.cleanup()
    """

    def __init__(self, root: str | os.PathLike, allow_partial: bool = False) -> None:
        self.root = Path(root)
        header = read_header(self.root)
        self.params = MaskParams.from_dict(header["params"])
        self.seed: int = header["seed"]
        self.count: int = header["count"]
        self.records, problems = read_manifest(self.root, self.count)
        if problems:
            raise ValueError(f"{self.root}: {problems[0]}; run maskgen verify {self.root}")
        if len(self.records) < self.count and not allow_partial:
            raise ValueError(
                f"{self.root} holds {len(self.records)} of {self.count} masks; finish it with maskgen generate --resume"
            )
        self.files = [self.root / r["file"] for r in self.records]
        self.k_range: tuple[int, int] = self.params.regions

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> np.ndarray:
        """Labels of the ``i``-th mask (uint8, ``(height, width)``, values < its K).

        Raises
        ------
        ValueError
            If the PNG is corrupt, has the wrong size or labels >= K (names the file).
        FileNotFoundError
            If the PNG is missing.
        """
        record = self.records[i]
        path = self.files[i]
        labels = read_label_png(path)
        if labels.shape != (self.params.height, self.params.width):
            raise ValueError(f"{path}: size {labels.shape[1]}x{labels.shape[0]}, expected {self.params.width}x{self.params.height}")
        top = int(labels.max())
        if top >= record["k"]:
            raise ValueError(f"{path}: label {top} >= K={record['k']}; run maskgen verify {self.root}")
        return labels

    def record(self, i: int) -> dict[str, Any]:
        """Manifest record of the ``i``-th mask (index, k, areas, components, ...)."""
        return self.records[i]


def read_dataset(path: str | os.PathLike, allow_partial: bool = False) -> MaskDataset:
    """Open the mask dataset at ``path``; see :class:`MaskDataset`."""
    return MaskDataset(path, allow_partial=allow_partial)
