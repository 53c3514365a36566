"""Palettes of semantic maps: find the region colours of a map, snap maps to them.

A semantic map marks regions with flat colours, but real maps are drawn with
anti-aliased brushes, saved as JPEG or resized: their borders hold in-between
colours and their flat areas hold small noise. This module finds the few
dominant colours of a style map (the palette) and turns any map into labels
``0..K-1`` by nearest palette colour, refusing maps that use colours the palette
does not explain.

Colour distances are Euclidean in 0..255 RGB units (black to white is 441).
All work is done on the distinct colours of a map (plus an inverse index), so a
1024 x 1024 map costs one sort of its pixels.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from sklearn.cluster import KMeans

#: A pixel farther than this from every palette colour is "off-palette".
DEFAULT_MAX_DISTANCE = 80.0
#: A map is refused when more than this share of its pixels is off-palette and
#: not an anti-aliasing blend at a border (see :func:`snap_to_palette`).
MAX_OFF_PALETTE_SHARE = 0.01
#: In-between colours within this many pixels (Chebyshev) of an on-palette pixel
#: count as anti-aliased borders.
BORDER_RADIUS = 2
#: Automatic palette: colours closer than this join the same region...
AUTO_MERGE_DISTANCE = 48.0
#: ...and a region must cover at least this share of the flat pixels.
AUTO_MIN_SHARE = 0.005
#: More automatic regions than this means the image is not a colour map.
AUTO_MAX_REGIONS = 32
#: Pixels whose 8 neighbours are all within this distance are "flat"; borders
#: (where anti-aliasing lives) are not flat.
FLAT_DISTANCE = 24.0
#: Labels are stored as uint8.
MAX_REGIONS = 255


def derive_palette(rgb: np.ndarray, k: int | None = None, seed: int = 0) -> np.ndarray:
    """Find the ``K`` region colours of a semantic map.

    K-means runs on the distinct colours of the map's flat pixels (those whose
    8 neighbours have nearly the same colour), weighted by their pixel counts,
    so anti-aliased borders do not pull the clusters. Each palette colour is
    the most frequent real colour of its cluster, not the cluster mean, so it
    matches the colour the user painted.

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
    np.ndarray
        ``uint8`` ``(K, 3)`` palette, sorted by the area its colour covers
        (largest first), ties broken by colour value.

    Raises
    ------
    ValueError
        ``k`` is out of range or larger than the number of distinct colours, or
        the automatic choice finds more than :data:`AUTO_MAX_REGIONS` regions.

    Examples
    --------
    >>> m = np.zeros((4, 6, 3), np.uint8); m[:, 4:] = (255, 0, 0)
    >>> derive_palette(m).tolist()
    [[0, 0, 0], [255, 0, 0]]
    """
    _check_rgb(rgb)
    colours, inverse, counts = _unique_colours(rgb)
    if k is not None:
        if not 1 <= k <= MAX_REGIONS:
            raise ValueError(f"the number of regions must be between 1 and {MAX_REGIONS}, got {k}")
        if k > len(colours):
            raise ValueError(
                f"the map has only {len(colours)} distinct colour(s), fewer than the {k} regions asked for; "
                f"ask for at most {len(colours)} regions"
            )
    flat = np.bincount(inverse[_flat_pixels(rgb).ravel()], minlength=len(colours))
    need = 1 if k is None else k
    weights = flat if np.count_nonzero(flat) >= need else counts
    points = colours.astype(np.float64)
    used = weights > 0
    if k is None:
        leaders = _auto_leaders(points, weights)
        kmeans = KMeans(n_clusters=len(leaders), init=points[leaders], n_init=1)
    else:
        kmeans = KMeans(n_clusters=k, n_init=4, random_state=seed)
    cluster = kmeans.fit(points[used], sample_weight=weights[used]).labels_
    candidates = np.flatnonzero(used)
    palette = []
    for c in np.unique(cluster):
        members = candidates[cluster == c]
        # np.unique sorted the colours, so argmax breaks count ties by colour.
        palette.append(colours[members[np.argmax(weights[members])]])
    palette = np.array(palette, dtype=np.uint8)
    if k is not None and len(palette) != k:
        raise ValueError(f"could only separate {len(palette)} colour regions in the map, not {k}; ask for fewer regions")
    nearest, _ = _nearest(points, palette)
    area = np.bincount(nearest, weights=counts, minlength=len(palette))
    order = np.lexsort((_keys(palette), -area))
    return palette[order]


def _auto_leaders(points: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Indices of the leader colours of the automatic regions, largest region first."""
    total = weights.sum()
    unclaimed = weights > 0
    leaders, masses = [], []
    # Leaders are visited by decreasing pixel count and are pairwise farther
    # apart than AUTO_MERGE_DISTANCE, so there are at most a few hundred of them.
    for i in np.lexsort((np.arange(len(points)), -weights)):
        if not unclaimed[i]:
            continue
        members = unclaimed & (((points - points[i]) ** 2).sum(axis=1) <= AUTO_MERGE_DISTANCE**2)
        unclaimed &= ~members
        leaders.append(i)
        masses.append(weights[members].sum())
        if not unclaimed.any():
            break
    leaders, masses = np.array(leaders), np.array(masses)
    keep = masses >= AUTO_MIN_SHARE * total
    keep[np.argmax(masses)] = True
    if keep.sum() > AUTO_MAX_REGIONS:
        raise ValueError(
            f"found {keep.sum()} colour regions each covering at least {AUTO_MIN_SHARE:.1%} of the map, "
            f"more than {AUTO_MAX_REGIONS}: this does not look like a semantic map; give the number of regions"
        )
    order = np.argsort(-masses[keep], kind="stable")
    return leaders[keep][order]


def snap_to_palette(rgb: np.ndarray, palette: np.ndarray, max_distance: float | None = None) -> np.ndarray:
    """Label every pixel with its nearest palette colour, refusing unexplained colours.

    Rule: a pixel is *off-palette* when it is farther than ``max_distance`` from
    every palette colour. An off-palette pixel is still accepted as an
    anti-aliasing blend when its colour lies within ``max_distance`` of the
    segment between two palette colours *and* it is within
    :data:`BORDER_RADIUS` pixels of an on-palette pixel. The map is refused
    when the remaining, unexplained pixels are more than
    :data:`MAX_OFF_PALETTE_SHARE` (1 %) of the map. Accepted pixels, blends
    included, take the label of their nearest palette colour.

    Parameters
    ----------
    rgb : np.ndarray
        ``uint8`` ``(H, W, 3)`` map.
    palette : np.ndarray
        ``uint8`` ``(K, 3)`` palette, ``1 <= K <= 255``.
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
    """
    _check_rgb(rgb)
    palette = _check_palette(palette)
    max_distance = DEFAULT_MAX_DISTANCE if max_distance is None else float(max_distance)
    if not max_distance >= 0:
        raise ValueError(f"max_distance must be a non-negative RGB distance, got {max_distance}")
    colours, inverse, counts = _unique_colours(rgb)
    points = colours.astype(np.float64)
    nearest, distance = _nearest(points, palette)
    labels = nearest.astype(np.uint8)[inverse].reshape(rgb.shape[:2])
    off = distance > max_distance
    if not off.any():
        return labels
    blend = np.zeros_like(off)
    if len(palette) >= 2:
        blend[off] = _segment_distance(points[off], palette) <= max_distance
    on_pixels = ~off[inverse].reshape(labels.shape)
    border = ndimage.binary_dilation(on_pixels, structure=np.ones((2 * BORDER_RADIUS + 1,) * 2, bool))
    unexplained = off[inverse].reshape(labels.shape) & ~(blend[inverse].reshape(labels.shape) & border)
    share = unexplained.mean()
    if share > MAX_OFF_PALETTE_SHARE:
        bad = np.bincount(inverse[unexplained.ravel()], minlength=len(colours))
        worst = int(np.argmax(bad))
        raise ValueError(
            f"{share:.1%} of the map's pixels are farther than {max_distance:g} from every palette colour, "
            f"most often {_hex(colours[worst])} ({bad[worst] / unexplained.size:.1%} of the pixels, "
            f"{distance[worst]:.0f} from the nearest palette colour); palette: {format_palette(palette)}; "
            f"paint the map with the palette colours only"
        )
    return labels


def format_palette(palette: np.ndarray) -> str:
    """Format a palette for messages, e.g. ``"0 #00ff00, 1 #ffffff"``.

    Examples
    --------
    >>> format_palette(np.array([[0, 255, 0], [255, 255, 255]], np.uint8))
    '0 #00ff00, 1 #ffffff'
    """
    return ", ".join(f"{i} {_hex(c)}" for i, c in enumerate(np.asarray(palette)))


def _hex(colour: np.ndarray) -> str:
    r, g, b = (int(v) for v in colour)
    return f"#{r:02x}{g:02x}{b:02x}"


def _check_rgb(rgb: np.ndarray) -> None:
    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        what = f"{rgb.dtype} array of shape {rgb.shape}" if isinstance(rgb, np.ndarray) else type(rgb).__name__
        raise ValueError(f"expected a uint8 RGB map of shape (H, W, 3), got a {what}")
    if rgb.shape[0] < 1 or rgb.shape[1] < 1:
        raise ValueError(f"the map is empty (shape {rgb.shape})")


def _check_palette(palette: np.ndarray) -> np.ndarray:
    palette = np.asarray(palette)
    if palette.ndim != 2 or palette.shape[1] != 3 or not 1 <= len(palette) <= MAX_REGIONS:
        raise ValueError(f"a palette is a (K, 3) array of RGB colours with 1 <= K <= {MAX_REGIONS}, got shape {palette.shape}")
    if palette.dtype != np.uint8:
        if palette.min() < 0 or palette.max() > 255:
            raise ValueError("palette colours must be 0..255 RGB values")
        palette = palette.astype(np.uint8)
    return palette


def _keys(colours: np.ndarray) -> np.ndarray:
    c = colours.astype(np.int64)
    return (c[..., 0] << 16) | (c[..., 1] << 8) | c[..., 2]


def _unique_colours(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct colours ``(M, 3)`` sorted by value, pixel -> colour index ``(H*W,)``, counts ``(M,)``."""
    # One 24-bit key per pixel sorts far faster than np.unique(axis=0) on rows.
    keys, inverse, counts = np.unique(_keys(rgb).ravel(), return_inverse=True, return_counts=True)
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


def _segment_distance(points: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """Distance from each point ``(M, 3)`` to the nearest two-colour blend of the palette."""
    pal = palette.astype(np.float64)
    best = np.full(len(points), np.inf)
    for a in range(len(pal) - 1):
        direction = pal[a + 1 :] - pal[a]  # (P, 3): segments from colour a to each later colour
        offset = points[:, None, :] - pal[a]  # (M, 1, 3) broadcast against (P, 3)
        t = np.clip((offset * direction).sum(axis=2) / (direction**2).sum(axis=1), 0.0, 1.0)
        gap = ((offset - t[:, :, None] * direction) ** 2).sum(axis=2)
        best = np.minimum(best, np.sqrt(gap.min(axis=1)))
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
