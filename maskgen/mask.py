"""One random semantic mask: heightmap -> 1-D K-means -> label smoothing -> rules."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from maskgen.components import count_components
from maskgen.heightmap import octave_heightmap
from maskgen.kmeans1d import kmeans1d
from maskgen.modefilter import FILTERS, smooth_labels
from maskgen.rng import mask_stream

KMEANS = ("numba", "sklearn")
MIN_SIZE = 8
MAX_SIZE = 16384


def parse_regions(text: str | int | tuple[int, int]) -> tuple[int, int]:
    """Parse a region count ``"K"`` or range ``"A-B"`` (inclusive) into ``(min, max)``.

    Examples
    --------
    >>> parse_regions("3-6"), parse_regions("4"), parse_regions(5)
    ((3, 6), (4, 4), (5, 5))
    """
    if isinstance(text, tuple):
        return text
    if isinstance(text, (int, np.integer)):
        return int(text), int(text)
    parts = str(text).strip().split("-")
    try:
        values = [int(p) for p in parts]
    except ValueError:
        values = []
    if len(values) not in (1, 2):
        raise ValueError(f"regions must be K or A-B (e.g. 4 or 3-6), got {text!r}")
    return values[0], values[-1]


@dataclass(frozen=True)
class MaskParams:
    """Parameters of random mask generation (everything but the seed and count).

    Parameters
    ----------
    width, height : int
        Mask size in pixels, each in 8..16384.
    regions : tuple of int
        ``(min, max)`` inclusive region count K, 2 <= min <= max <= 255; a fixed K
        is ``(K, K)``. A range draws K per mask (independently of redraws).
    roughness : float
        Diamond-square roughness in (0, 1]; smaller is smoother.
    octaves : int
        Number of heightmaps of increasing roughness summed, 1..8.
    filter : str
        ``"majority"`` (mode), ``"median"`` (2016 behaviour) or ``"none"``.
    filter_size : int
        Odd window side in pixels, 1..255.
    min_area : float
        Fraction of pixels each of the K regions must cover, ``0 <= min_area`` and
        ``min_area * max(regions) <= 1``. Failing masks are redrawn.
    kmeans : str
        ``"numba"`` (exact 1-D K-means) or ``"sklearn"`` (reference path).
    max_redraws : int
        Redraws allowed per mask before giving up with a ``ValueError``.

    Examples
    --------
    >>> p = MaskParams(width=64, height=32, regions=(3, 5))
    >>> MaskParams.from_dict(p.to_dict()) == p
    True
    """

    width: int = 256
    height: int = 256
    regions: tuple[int, int] = (4, 4)
    roughness: float = 0.5
    octaves: int = 1
    filter: str = "majority"
    filter_size: int = 9
    min_area: float = 0.03
    kmeans: str = "numba"
    max_redraws: int = 100

    def __post_init__(self) -> None:
        # JSON gives lists and ints; normalise before validating.
        object.__setattr__(self, "regions", parse_regions(tuple(self.regions) if isinstance(self.regions, list) else self.regions))
        for name in ("width", "height"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or not MIN_SIZE <= value <= MAX_SIZE:
                raise ValueError(f"{name} must be an integer in {MIN_SIZE}..{MAX_SIZE} pixels, got {value!r}")
        lo, hi = self.regions
        if not 2 <= lo <= hi <= 255:
            raise ValueError(f"regions must satisfy 2 <= min <= max <= 255, got {lo}-{hi}")
        if lo > self.width * self.height:
            raise ValueError(f"a {self.width}x{self.height} mask cannot hold {lo} regions; use a larger size")
        if not 0.0 < float(self.roughness) <= 1.0:
            raise ValueError(f"roughness must be in (0, 1], got {self.roughness}")
        if not isinstance(self.octaves, (int, np.integer)) or not 1 <= self.octaves <= 8:
            raise ValueError(f"octaves must be an integer in 1..8, got {self.octaves!r}")
        if self.filter not in FILTERS:
            raise ValueError(f"filter must be one of {', '.join(FILTERS)}, got {self.filter!r}")
        if not isinstance(self.filter_size, (int, np.integer)) or not 1 <= self.filter_size <= 255 or self.filter_size % 2 == 0:
            raise ValueError(f"filter size must be an odd integer in 1..255, got {self.filter_size!r}")
        if not 0.0 <= float(self.min_area) or float(self.min_area) * hi > 1.0:
            raise ValueError(f"min area must be >= 0 with min_area * K <= 1 (K up to {hi}), got {self.min_area}")
        if self.kmeans not in KMEANS:
            raise ValueError(f"kmeans must be one of {', '.join(KMEANS)}, got {self.kmeans!r}")
        if not isinstance(self.max_redraws, (int, np.integer)) or self.max_redraws < 0:
            raise ValueError(f"max redraws must be an integer >= 0, got {self.max_redraws!r}")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict of every field."""
        d = dataclasses.asdict(self)
        d["regions"] = list(self.regions)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "MaskParams":
        """Inverse of :meth:`to_dict`; unknown keys raise ``ValueError``."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown mask parameters {unknown}; expected some of {sorted(names)}")
        return cls(**data)


@dataclass(frozen=True)
class Mask:
    """A generated mask and the facts the manifest records about it.

    Attributes
    ----------
    index : int
        Mask index in the dataset.
    labels : numpy.ndarray
        uint8, shape ``(height, width)``, values ``0..k-1``; label order follows
        increasing mean height.
    k : int
        Number of regions.
    redraws : int
        Draws rejected by the rules before this one (also the sub-stream used).
    areas : tuple of float
        Fraction of pixels of each label, length ``k``.
    components : tuple of int
        4-connected components of each label, length ``k``.
    seed_stream : tuple of int
        ``(seed, index, redraws)``: the ``SeedSequence`` spawn key of the heightmap.
    """

    index: int
    labels: np.ndarray
    k: int
    redraws: int
    areas: tuple[float, ...]
    components: tuple[int, ...]
    seed_stream: tuple[int, int, int]


def _region_count(params: MaskParams, seed: int, index: int) -> int:
    lo, hi = params.regions
    if lo == hi:
        return lo
    # Drawn from the per-mask stream, not the per-draw one: redrawing must not
    # bias K towards counts that pass min_area more easily.
    return int(np.random.default_rng(mask_stream(seed, index)).integers(lo, hi + 1))


def _cluster(heights: np.ndarray, k: int, method: str, stream: np.random.SeedSequence) -> np.ndarray:
    if method == "numba":
        return kmeans1d(heights, k).labels
    from sklearn.cluster import KMeans

    state = int(stream.generate_state(1)[0])
    km = KMeans(n_clusters=k, n_init=10, random_state=state).fit(heights.reshape(-1, 1))
    rank = np.argsort(np.argsort(km.cluster_centers_[:, 0]))
    return rank.astype(np.uint8)[km.labels_].reshape(heights.shape)


def make_mask(params: MaskParams, seed: int, index: int) -> Mask:
    """Generate mask ``index`` of the dataset with ``seed``.

    The result depends only on ``(params, seed, index)``. Draws whose regions
    vanish after filtering or cover less than ``params.min_area`` are redrawn
    from the next sub-stream ``(seed, index, redraw)``. Runs in the calling
    process (safe inside DataLoader workers).

    Parameters
    ----------
    params : MaskParams
        Generation parameters.
    seed : int
        Dataset seed, >= 0.
    index : int
        Mask index, >= 0.

    Returns
    -------
    Mask

    Raises
    ------
    ValueError
        If no draw passes the rules within ``params.max_redraws`` redraws.

    Examples
    --------
    >>> m = make_mask(MaskParams(width=32, height=16, regions=(3, 3), filter_size=3), seed=0, index=5)
    >>> m.labels.shape, m.k, sorted(set(m.labels.ravel().tolist()))
    ((16, 32), 3, [0, 1, 2])
    """
    if seed < 0 or index < 0:
        raise ValueError(f"seed and index must be >= 0, got seed={seed}, index={index}")
    k = _region_count(params, seed, index)
    n = params.width * params.height
    for attempt in range(params.max_redraws + 1):
        stream = mask_stream(seed, index, attempt)
        try:
            heights = octave_heightmap(params.width, params.height, params.roughness, params.octaves, stream)
            labels = smooth_labels(_cluster(heights, k, params.kmeans, stream), params.filter, params.filter_size)
        except ValueError:
            # A degenerate draw (fewer distinct heights than K) is just another failure.
            continue
        counts = np.bincount(labels.ravel(), minlength=k)
        if counts.min() > 0 and counts.min() >= params.min_area * n:
            areas = tuple(float(c) / n for c in counts)
            comps = tuple(int(c) for c in count_components(labels, k))
            return Mask(index, labels, k, attempt, areas, comps, (seed, index, attempt))
    raise ValueError(
        f"mask {index}: no draw kept all {k} regions above min_area={params.min_area} in "
        f"{params.max_redraws + 1} tries; lower --min-area or --filter-size, or raise --max-redraws"
    )
