"""Palettes of semantic maps: find the regions of a style map, snap maps to them.

A semantic map marks regions with flat colours, but real maps are drawn with
anti-aliased brushes, saved as JPEG or resized: their borders hold in-between
colours and their flat areas hold small noise. A user may also ask for fewer
regions than the map has colours (``--regions 4`` on a map painted with two
similar reds), and K-means then merges colours into one region, as the 2016
tools did. This module finds the regions of a style map, a :class:`Palette`
that lists for each region every colour of the map that belongs to it, labels
the style map by that clustering, and snaps any other map through the same
palette: each colour goes to the region of the nearest colour the style map
used, and maps with colours far from all of them are refused.

Colour distances are Euclidean in 0..255 RGB units (black to white is 441).
All work is done on the distinct colours of a map (plus an inverse index), so a
1024 x 1024 map costs one sort of its pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import ndimage
from sklearn.cluster import KMeans

#: A pixel farther than this from every colour of the palette is "off-palette".
DEFAULT_MAX_DISTANCE = 80.0
#: A map is refused when more than this share of its pixels is off-palette and
#: not an anti-aliasing blend at a border (see :func:`snap_to_palette`).
MAX_OFF_PALETTE_SHARE = 0.01
#: In-between colours within this many pixels (Chebyshev) of an on-palette pixel
#: count as anti-aliased borders.
BORDER_RADIUS = 2
#: Colours closer than this are one painted colour (noise around it); farther
#: ones start a new region (automatic palette) or a new member of a region.
AUTO_MERGE_DISTANCE = 48.0
#: Automatic palette: a region must cover at least this share of the flat pixels.
AUTO_MIN_SHARE = 0.005
#: More automatic regions than this means the image is not a colour map.
AUTO_MAX_REGIONS = 32
#: A colour merged into a region is remembered when it covers at least this
#: share of the flat pixels (less is noise or a stray pixel)...
MEMBER_MIN_SHARE = 0.001
#: ...and at most this many colours are remembered per region, most frequent first.
MAX_MEMBERS = 8
#: Pixels whose 8 neighbours are all within this distance are "flat"; borders
#: (where anti-aliasing lives) are not flat.
FLAT_DISTANCE = 24.0
#: Most regions a palette holds: labels are stored as uint8. (Not the most
#: ``doodle map`` makes: :data:`doodle.maps.segment.MAX_REGIONS`, maskgen's colours.)
MAX_PALETTE_REGIONS = 255


@dataclass(frozen=True, eq=False)
class Palette:
    """The regions of a style map: for each region, the map colours that belong to it.

    Where an array is expected a palette acts as its ``uint8`` ``(K, 3)``
    region colours: ``np.asarray(palette)``, ``len(palette)``.

    Parameters
    ----------
    members : sequence of array-like
        One ``(M_i, 3)`` array of 0..255 RGB colours per region, ``M_i >= 1``.
        The first is the region's colour (the most frequent one in the style
        map); any others were merged into the region by the clustering.

    Examples
    --------
    >>> p = Palette([[[255, 51, 31], [192, 0, 0]], [[0, 0, 255]]])
    >>> p.k, p.colours.tolist()
    (2, [[255, 51, 31], [0, 0, 255]])
    >>> str(p)
    '0 #ff331f+#c00000, 1 #0000ff'
    """

    members: tuple[np.ndarray, ...]

    def __post_init__(self) -> None:
        regions = tuple(_check_colours(colours, f"region {i}") for i, colours in enumerate(self.members))
        if not 1 <= len(regions) <= MAX_PALETTE_REGIONS:
            raise ValueError(f"a palette has 1 to {MAX_PALETTE_REGIONS} regions, got {len(regions)}")
        for colours in regions:
            colours.setflags(write=False)
        object.__setattr__(self, "members", regions)

    @classmethod
    def from_colours(cls, colours: np.ndarray | Sequence) -> "Palette":
        """A palette of one colour per region, e.g. from a checkpoint written before merging existed.

        Examples
        --------
        >>> str(Palette.from_colours([[0, 255, 0], [255, 255, 255]]))
        '0 #00ff00, 1 #ffffff'
        """
        return cls(tuple(c[None] for c in _check_colours(colours, "palette")))

    @property
    def colours(self) -> np.ndarray:
        """``uint8`` ``(K, 3)``: the colour of each region."""
        return np.stack([m[0] for m in self.members])

    @property
    def k(self) -> int:
        """Number of regions ``K``."""
        return len(self.members)

    def __len__(self) -> int:
        return self.k

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        return self.colours if dtype is None else self.colours.astype(dtype)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Palette) and self.tolists() == other.tolists()

    def __str__(self) -> str:
        return format_palette(self)

    def tolists(self) -> list[list[list[int]]]:
        """Plain ints, one list of ``[r, g, b]`` per region (JSON and checkpoints)."""
        return [m.astype(int).tolist() for m in self.members]

    def flat(self) -> tuple[np.ndarray, np.ndarray]:
        """Every member colour ``uint8`` ``(M, 3)`` and its region ``int64`` ``(M,)``, region by region."""
        region = np.concatenate([np.full(len(m), i, np.int64) for i, m in enumerate(self.members)])
        return np.concatenate(self.members), region


def as_palette(palette: Palette | np.ndarray | Sequence) -> Palette:
    """``palette`` itself, or a ``(K, 3)`` array of region colours as a :class:`Palette`."""
    return palette if isinstance(palette, Palette) else Palette.from_colours(palette)


def fit_palette(rgb: np.ndarray, k: int | None = None, seed: int = 0) -> tuple[Palette, np.ndarray]:
    """Find the ``K`` regions of a style map and label the map with them.

    K-means runs on the distinct colours of the map's flat pixels (those whose
    8 neighbours have nearly the same colour), weighted by their pixel counts,
    so anti-aliased borders do not pull the clusters. Every clustered colour
    labels its pixels with its cluster's region, however far it is from the
    region's colour: with ``k`` smaller than the number of painted colours the
    closest colours share a region. The other colours (borders) are snapped
    like any map (:func:`snap_to_palette`).

    Each region's colour is the most frequent real colour of its cluster, not
    the cluster mean, so it matches the colour the user painted. Its other
    members are the cluster's other painted colours: flat colours farther
    than :data:`AUTO_MERGE_DISTANCE` from the more frequent ones, covering at
    least :data:`MEMBER_MIN_SHARE` of the flat pixels, at most
    :data:`MAX_MEMBERS` per region.

    With ``k=None`` the number of regions is chosen automatically: flat colours
    are visited from the most frequent down; each one farther than
    :data:`AUTO_MERGE_DISTANCE` from all earlier leaders starts a new cluster and
    gathers the unclaimed colours within that distance; clusters covering at
    least :data:`AUTO_MIN_SHARE` (0.5 %) of the flat pixels are regions. Thin
    regions with no flat pixel (lines 1-2 pixels wide) are not found this way:
    give ``k`` for such maps.

    Parameters
    ----------
    rgb : np.ndarray
        ``uint8`` ``(H, W, 3)`` semantic map (alpha already dropped).
    k : int or None
        Number of regions, 1..255, or ``None`` for the automatic choice.
    seed : int
        Seed of the K-means initialisation when ``k`` is given.

    Returns
    -------
    palette : Palette
        Regions sorted by the area they cover in the map (largest first),
        ties broken by colour value.
    labels : np.ndarray
        ``uint8`` ``(H, W)`` region of every pixel, ``0..K-1``.

    Raises
    ------
    ValueError
        ``k`` is out of range or larger than the number of distinct colours,
        the automatic choice finds more than :data:`AUTO_MAX_REGIONS` regions,
        or the map's borders hold colours that no blend of its colours explains.

    Examples
    --------
    >>> m = np.zeros((4, 12, 3), np.uint8); m[:, 4:] = (255, 0, 0); m[:, 9:] = (200, 0, 0)
    >>> palette, labels = fit_palette(m, 2)
    >>> str(palette), labels[0].tolist()
    ('0 #ff0000+#c80000, 1 #000000', [1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0])
    """
    _check_rgb(rgb)
    colours, inverse, counts = _unique_colours(rgb)
    if k is not None:
        if not 1 <= k <= MAX_PALETTE_REGIONS:
            raise ValueError(f"the number of regions must be between 1 and {MAX_PALETTE_REGIONS}, got {k}")
        if k > len(colours):
            raise ValueError(
                f"the map has only {len(colours)} distinct colour(s), fewer than the {k} regions asked for; "
                f"ask for at most {len(colours)} regions"
            )
    flat = np.bincount(inverse[_flat_pixels(rgb).ravel()], minlength=len(colours))
    need = 1 if k is None else k
    weights = flat if np.count_nonzero(flat) >= need else counts
    points = colours.astype(np.float64)
    used = np.flatnonzero(weights > 0)
    if k is None:
        leaders, _ = _auto_leaders(points, weights)
        kmeans = KMeans(n_clusters=len(leaders), init=points[leaders], n_init=1)
    else:
        kmeans = KMeans(n_clusters=k, n_init=4, random_state=seed)
    cluster = kmeans.fit(points[used], sample_weight=weights[used]).labels_
    groups = [used[cluster == c] for c in np.unique(cluster)]
    if k is not None and len(groups) != k:
        raise ValueError(f"could only separate {len(groups)} colour regions in the map, not {k}; ask for fewer regions")
    min_mass = MEMBER_MIN_SHARE * weights[used].sum()
    members = []
    for group in groups:
        leaders, masses = _leaders(points[group], weights[group])
        # The first leader is the cluster's most frequent colour: always kept.
        keep = leaders[(masses >= min_mass) | (np.arange(len(leaders)) == 0)][:MAX_MEMBERS]
        members.append(colours[group[keep]])
    region = np.full(len(colours), -1, np.int64)
    for r, group in enumerate(groups):
        region[group] = r
    palette = Palette(tuple(members))
    labels = _snap(colours, inverse, rgb.shape[:2], palette, DEFAULT_MAX_DISTANCE, fixed=region)
    area = np.bincount(labels.ravel(), minlength=palette.k)
    order = np.lexsort((colour_keys(palette.colours), -area))
    rank = np.empty(palette.k, np.uint8)
    rank[order] = np.arange(palette.k)
    return Palette(tuple(palette.members[i] for i in order)), rank[labels]


def _leaders(points: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Greedy leader clustering of weighted colours: leader indices and the mass each claims.

    Colours are visited by decreasing weight (ties by index); an unclaimed one
    becomes a leader and claims every unclaimed colour within
    :data:`AUTO_MERGE_DISTANCE`. Leaders come back in visiting order, so the
    first is the heaviest colour.
    """
    unclaimed = weights > 0
    leaders, masses = [], []
    # Leaders are pairwise farther apart than AUTO_MERGE_DISTANCE, so there are
    # at most a few hundred of them.
    for i in np.lexsort((np.arange(len(points)), -weights)):
        if not unclaimed[i]:
            continue
        claimed = unclaimed & (((points - points[i]) ** 2).sum(axis=1) <= AUTO_MERGE_DISTANCE**2)
        unclaimed &= ~claimed
        leaders.append(i)
        masses.append(weights[claimed].sum())
        if not unclaimed.any():
            break
    return np.array(leaders, np.int64), np.array(masses, np.float64)


def _auto_leaders(points: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Leaders of the automatic regions and their masses, largest region first."""
    leaders, masses = _leaders(points, weights)
    keep = masses >= AUTO_MIN_SHARE * weights.sum()
    keep[np.argmax(masses)] = True
    if keep.sum() > AUTO_MAX_REGIONS:
        raise ValueError(
            f"found {keep.sum()} colour regions each covering at least {AUTO_MIN_SHARE:.1%} of the map, "
            f"more than {AUTO_MAX_REGIONS}: this does not look like a semantic map; give the number of regions"
        )
    order = np.argsort(-masses[keep], kind="stable")
    return leaders[keep][order], masses[keep][order]


def snap_to_palette(
    rgb: np.ndarray, palette: Palette | np.ndarray, max_distance: float | None = None
) -> np.ndarray:
    """Label every pixel with the region of its nearest palette colour, refusing unexplained colours.

    The palette's colours are all the members of all regions, so a colour the
    clustering merged into a region (and its blends) labels that region.

    Rule: a pixel is *off-palette* when it is farther than ``max_distance`` from
    every palette colour. An off-palette pixel is still accepted as an
    anti-aliasing blend when its colour lies within ``max_distance`` of the
    segment between two palette colours *and* it is within
    :data:`BORDER_RADIUS` pixels of an on-palette pixel. The map is refused
    when the remaining, unexplained pixels are more than
    :data:`MAX_OFF_PALETTE_SHARE` (1 %) of the map. Accepted pixels, blends
    included, take the region of their nearest palette colour.

    Parameters
    ----------
    rgb : np.ndarray
        ``uint8`` ``(H, W, 3)`` map.
    palette : Palette or np.ndarray
        The style map's regions, or a ``uint8`` ``(K, 3)`` array of one colour
        per region, ``1 <= K <= 255``.
    max_distance : float or None
        RGB distance (0..255 units) beyond which a colour is off-palette;
        ``None`` uses :data:`DEFAULT_MAX_DISTANCE` (80); ``float("inf")``
        accepts every colour.

    Returns
    -------
    np.ndarray
        ``uint8`` ``(H, W)`` labels in ``0..K-1``; ties go to the lower label.

    Raises
    ------
    ValueError
        The map has too many unexplained colours; the message gives the palette
        as hex, the most common offending colour and its share of the pixels.

    Examples
    --------
    >>> pal = np.array([[0, 0, 0], [255, 255, 255]], np.uint8)
    >>> m = np.array([[[10, 0, 5], [120, 120, 120], [250, 255, 255]]], np.uint8)
    >>> snap_to_palette(m, pal).tolist()
    [[0, 0, 1]]
    >>> snap_to_palette(np.array([[[190, 0, 0]]], np.uint8), Palette([[[255, 51, 31], [192, 0, 0]], [[0, 0, 0]]])).tolist()
    [[0]]
    """
    _check_rgb(rgb)
    palette = as_palette(palette)
    max_distance = DEFAULT_MAX_DISTANCE if max_distance is None else float(max_distance)
    if not max_distance >= 0:
        raise ValueError(f"max_distance must be a non-negative RGB distance, got {max_distance}")
    colours, inverse, _ = _unique_colours(rgb)
    return _snap(colours, inverse, rgb.shape[:2], palette, max_distance)


def _snap(
    colours: np.ndarray,
    inverse: np.ndarray,
    shape: tuple[int, int],
    palette: Palette,
    max_distance: float,
    fixed: np.ndarray | None = None,
) -> np.ndarray:
    """:func:`snap_to_palette` on a map's distinct colours; ``fixed[i] >= 0`` gives colour ``i`` that region outright."""
    points = colours.astype(np.float64)
    member, member_region = palette.flat()
    nearest, distance = _nearest(points, member)
    region = member_region[nearest]
    off = distance > max_distance
    if fixed is not None:
        region = np.where(fixed >= 0, fixed, region)
        off &= fixed < 0
    labels = region.astype(np.uint8)[inverse].reshape(shape)
    if not off.any():
        return labels
    blend = np.zeros_like(off)
    if len(member) >= 2:
        blend[off] = _segment_distance(points[off], member) <= max_distance
    off_pixels = off[inverse].reshape(shape)
    border = ndimage.binary_dilation(~off_pixels, structure=np.ones((2 * BORDER_RADIUS + 1,) * 2, bool))
    unexplained = off_pixels & ~(blend[inverse].reshape(shape) & border)
    share = unexplained.mean()
    if share > MAX_OFF_PALETTE_SHARE:
        bad = np.bincount(inverse[unexplained.ravel()], minlength=len(colours))
        worst = int(np.argmax(bad))
        raise ValueError(
            f"{share:.1%} of the map's pixels are farther than {max_distance:g} from every palette colour, "
            f"most often {hex_colour(colours[worst])} ({bad[worst] / unexplained.size:.1%} of the pixels, "
            f"{distance[worst]:.0f} from the nearest palette colour); palette: {format_palette(palette)}; "
            f"paint the map with the palette colours only"
        )
    return labels


def colorize(labels: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """Paint a label map in its palette colours, for pictures people look at.

    Parameters
    ----------
    labels : ndarray, integer, shape (..., H, W)
        Region indices ``0 .. K-1``.
    palette : ndarray, uint8, shape (K, 3)

    Returns
    -------
    ndarray, float32, shape (..., H, W, 3)
        RGB in [0, 1].

    Examples
    --------
    >>> colorize(np.array([[0, 1]]), np.array([[0, 0, 0], [255, 0, 255]], np.uint8))
    array([[[0., 0., 0.],
            [1., 0., 1.]]], dtype=float32)
    """
    return np.asarray(palette)[labels].astype(np.float32) / 255.0


def format_palette(palette: Palette | np.ndarray) -> str:
    """Format a palette for messages: each region's index and colours, merged ones joined by ``+``.

    Examples
    --------
    >>> format_palette(np.array([[0, 255, 0], [255, 255, 255]], np.uint8))
    '0 #00ff00, 1 #ffffff'
    """
    return ", ".join(f"{i} " + "+".join(hex_colour(c) for c in m) for i, m in enumerate(as_palette(palette).members))


def hex_colour(colour: np.ndarray | Sequence[int]) -> str:
    """``"#rrggbb"`` of one RGB colour.

    Examples
    --------
    >>> hex_colour([255, 51, 31])
    '#ff331f'
    """
    r, g, b = (int(v) for v in colour)
    return f"#{r:02x}{g:02x}{b:02x}"


def _check_rgb(rgb: np.ndarray) -> None:
    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        what = f"{rgb.dtype} array of shape {rgb.shape}" if isinstance(rgb, np.ndarray) else type(rgb).__name__
        raise ValueError(f"expected a uint8 RGB map of shape (H, W, 3), got a {what}")
    if rgb.shape[0] < 1 or rgb.shape[1] < 1:
        raise ValueError(f"the map is empty (shape {rgb.shape})")


def _check_colours(colours: np.ndarray | Sequence, what: str) -> np.ndarray:
    """A ``(M, 3)`` array of 0..255 colours, ``M >= 1``, as ``uint8``."""
    colours = np.asarray(colours)
    if colours.ndim != 2 or colours.shape[1] != 3 or len(colours) < 1 or colours.dtype.kind not in "iuf":
        raise ValueError(f"{what}: expected a (K, 3) array of RGB colours, K >= 1, got shape {colours.shape}")
    if colours.dtype != np.uint8:
        if colours.min() < 0 or colours.max() > 255 or (colours != np.round(colours)).any():
            raise ValueError(f"{what}: palette colours must be whole 0..255 RGB values")
        colours = colours.astype(np.uint8)
    return colours.copy()


def colour_keys(colours: np.ndarray) -> np.ndarray:
    """One ``int64`` 24-bit key per RGB colour ``(..., 3)``: sorting keys is far faster than rows.

    Examples
    --------
    >>> colour_keys(np.array([[1, 2, 3]], np.uint8)).tolist()
    [66051]
    """
    c = colours.astype(np.int64)
    return (c[..., 0] << 16) | (c[..., 1] << 8) | c[..., 2]


def _unique_colours(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct colours ``(M, 3)`` sorted by value, pixel -> colour index ``(H*W,)``, counts ``(M,)``."""
    keys, inverse, counts = np.unique(colour_keys(rgb).ravel(), return_inverse=True, return_counts=True)
    colours = np.stack([(keys >> 16) & 255, (keys >> 8) & 255, keys & 255], axis=1).astype(np.uint8)
    return colours, inverse.ravel(), counts


def _nearest(points: np.ndarray, palette: np.ndarray, chunk: int = 1 << 16) -> tuple[np.ndarray, np.ndarray]:
    """Index of and distance to the nearest palette colour for each point ``(M, 3)``."""
    pal = palette.astype(np.float64)
    index = np.empty(len(points), np.int64)
    dist2 = np.empty(len(points), np.float64)
    for start in range(0, len(points), chunk):  # bounds memory at chunk x K
        d2 = ((points[start : start + chunk, None, :] - pal[None]) ** 2).sum(axis=2)
        index[start : start + chunk] = np.argmin(d2, axis=1)
        dist2[start : start + chunk] = d2.min(axis=1)
    return index, np.sqrt(dist2)


def _segment_distance(points: np.ndarray, palette: np.ndarray, chunk: int = 1 << 14) -> np.ndarray:
    """Distance from each point ``(M, 3)`` to the nearest two-colour blend of the palette."""
    pal = palette.astype(np.float64)
    best = np.full(len(points), np.inf)
    for start in range(0, len(points), chunk):  # bounds memory at chunk x palette size
        part = points[start : start + chunk]
        for a in range(len(pal) - 1):
            direction = pal[a + 1 :] - pal[a]  # (P, 3): segments from colour a to each later colour
            offset = part[:, None, :] - pal[a]  # (M, 1, 3) broadcast against (P, 3)
            length2 = np.maximum((direction**2).sum(axis=1), 1e-12)  # equal members: a point, not a segment
            t = np.clip((offset * direction).sum(axis=2) / length2, 0.0, 1.0)
            gap = ((offset - t[:, :, None] * direction) ** 2).sum(axis=2)
            best[start : start + chunk] = np.minimum(best[start : start + chunk], np.sqrt(gap.min(axis=1)))
    return best


def _flat_pixels(rgb: np.ndarray) -> np.ndarray:
    """``(H, W)`` bool: pixels whose 8 neighbours are within :data:`FLAT_DISTANCE`."""
    x = rgb.astype(np.int32)
    padded = np.pad(x, ((1, 1), (1, 1), (0, 0)), mode="edge")
    h, w = rgb.shape[:2]
    flat = np.ones((h, w), bool)
    for dy in (0, 1, 2):
        for dx in (0, 1, 2):
            if (dy, dx) != (1, 1):
                flat &= ((padded[dy : dy + h, dx : dx + w] - x) ** 2).sum(axis=2) <= FLAT_DISTANCE**2
    return flat
