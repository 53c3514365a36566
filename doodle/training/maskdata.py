"""Training masks: generated on the fly by maskgen, or read from a maskgen dataset."""

from __future__ import annotations

import functools
import sys
from typing import Iterator

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

import maskgen
from doodle.images import resize_labels


#: Held-out masks come from this offset of the training seed: a stream training never draws from.
HELD_OUT_SEED_OFFSET = 1_000_003


def held_out_masks(params: maskgen.MaskParams, seed: int, count: int) -> np.ndarray:
    """The masks a run is judged on: its samples and ``scripts/eval_quality.py``'s random maps.

    Parameters
    ----------
    params : maskgen.MaskParams
        The run's mask parameters (those of its on-the-fly masks; a run on a
        mask dataset is judged on masks made with them too).
    seed : int
        The run's seed.
    count : int

    Returns
    -------
    ndarray, uint8, shape (count, params.height, params.width)

    Examples
    --------
    >>> params = maskgen.MaskParams(width=16, height=12, regions=(2, 2))
    >>> held_out_masks(params, seed=0, count=3).shape
    (3, 12, 16)
    """
    return np.stack([maskgen.make_mask(params, seed + HELD_OUT_SEED_OFFSET, i).labels for i in range(count)])


class TrainingMasks(Dataset):
    """Index -> label mask (uint8 tensor (size, size)); deterministic in (seed, index).

    Parameters
    ----------
    k : int
        Number of regions every mask must have (the style's).
    size : int
        Side of the square training masks, in pixels.
    seed : int
    params : maskgen.MaskParams, optional
        Generate masks on the fly with these parameters (``width = height = size``,
        ``regions = (k, k)``).
    dataset_dir : str, optional
        Read masks from a maskgen dataset instead; its K must be ``k``. Masks of
        another size are resized with nearest neighbour. Epochs are reshuffled
        deterministically from ``seed``.
    skip_corrupt : bool
        Replace an unreadable dataset file by the next one (with a warning)
        instead of stopping with its name.
    style_labels : ndarray, uint8, shape (Hs, Ws), optional
        The style's own map. Random masks are blobs, while the maps people
        draw look like the painting's: a ``style_share`` of the masks are
        instead random crops of it (a square of 50-100 % of its shorter
        side, flipped left-right half the time, resized to ``size``).
    style_share : float
        Share of the masks, in [0, 1], taken from ``style_labels``.

    Examples
    --------
    >>> style = np.zeros((20, 30), np.uint8); style[:, 15:] = 1  # left half region 0, right half 1
    >>> data = TrainingMasks(2, 8, seed=0, params=maskgen.MaskParams(width=8, height=8, regions=(2, 2)),
    ...                      style_labels=style, style_share=1.0)
    >>> crops = [data[i].numpy() for i in range(10)]
    >>> crops[0].shape, sorted(np.unique(crops).tolist())
    ((8, 8), [0, 1])
    """

    def __init__(
        self,
        k: int,
        size: int,
        seed: int,
        params: maskgen.MaskParams | None = None,
        dataset_dir: str | None = None,
        skip_corrupt: bool = False,
        style_labels: np.ndarray | None = None,
        style_share: float = 0.0,
    ) -> None:
        if (params is None) == (dataset_dir is None):
            raise ValueError("give exactly one of params or dataset_dir")
        if not 0 <= style_share <= 1 or (style_share > 0 and style_labels is None):
            raise ValueError(f"style_share must be in [0, 1] and needs style_labels; got {style_share}")
        self.style_labels, self.style_share = style_labels, float(style_share)
        self.k, self.size, self.seed, self.params, self.skip_corrupt = k, size, seed, params, skip_corrupt
        self.dataset = None
        if dataset_dir is not None:
            self.dataset = maskgen.read_dataset(dataset_dir)
            lo, hi = self.dataset.k_range
            if (lo, hi) != (k, k):
                found = f"K={lo}" if lo == hi else f"K={lo}-{hi}"
                raise ValueError(
                    f"mask dataset {dataset_dir} has {found} but the style map has {k} regions; "
                    f"generate masks with --regions {k} or pass --regions to match"
                )
            if len(self.dataset) == 0:
                raise ValueError(f"mask dataset {dataset_dir} is empty; run `maskgen generate` first")

    def __len__(self) -> int:
        # Indices are unbounded (a stream); the batch sampler decides which are used.
        return sys.maxsize

    def __getitem__(self, index: int) -> torch.Tensor:
        if self.style_share > 0:
            rng = np.random.default_rng([self.seed, index, 0x57])
            if rng.random() < self.style_share:
                return torch.from_numpy(self._style_crop(rng))
        if self.params is not None:
            return torch.from_numpy(maskgen.make_mask(self.params, self.seed, index).labels)
        n = len(self.dataset)
        for attempt in range(n):
            pos = int(epoch_order(self.seed, index // n, n)[index % n])
            pos = (pos + attempt) % n
            try:
                labels = self.dataset[pos]
            except ValueError as exc:
                if not self.skip_corrupt:
                    raise ValueError(f"{exc}; fix the dataset (`maskgen verify`) or pass --skip-corrupt") from None
                print(f"warning: skipping corrupt mask: {exc}", file=sys.stderr)
                continue
            return torch.from_numpy(resize_labels(labels, (self.size, self.size)))
        raise ValueError(f"every mask of {self.dataset} is unreadable; run `maskgen verify` on it")

    def _style_crop(self, rng: np.random.Generator) -> np.ndarray:
        h, w = self.style_labels.shape
        side = max(1, int(round(min(h, w) * rng.uniform(0.5, 1.0))))
        top, left = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
        crop = self.style_labels[top:top + side, left:left + side]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        return resize_labels(np.ascontiguousarray(crop), (self.size, self.size))


@functools.lru_cache(maxsize=2)
def epoch_order(seed: int, epoch: int, n: int) -> np.ndarray:
    """The order in which epoch ``epoch`` visits ``n`` items: a permutation, a function of ``(seed, epoch, n)``."""
    return np.random.default_rng([seed, epoch, n]).permutation(n)


class StepBatches(Sampler):
    """Yields, for each step in ``[start, steps)``, this rank's batch of mask indices.

    Mask ``(step * world + rank) * batch + j`` is used by rank ``rank`` at ``step``:
    ranks never share masks, and a resumed run draws exactly the masks that an
    uninterrupted run would have.
    """

    def __init__(self, start: int, steps: int, batch: int, rank: int = 0, world: int = 1) -> None:
        self.start, self.steps, self.batch, self.rank, self.world = start, steps, batch, rank, world

    def __len__(self) -> int:
        return max(0, self.steps - self.start)

    def __iter__(self) -> Iterator[list[int]]:
        for step in range(self.start, self.steps):
            first = (step * self.world + self.rank) * self.batch
            yield list(range(first, first + self.batch))
