"""Semantic maps from a painting alone: cluster its pixels into solid regions.

Most users have a painting and no map. :func:`segment_painting` makes one
(``doodle map``), at a working size of :data:`WORK_SIDE` pixels on the longest
side:

1. Three groups of features per pixel (:func:`pixel_features`):

   - *colour*: CIELAB, smoothed over :data:`COLOUR_SIGMA` pixels so that single
     brush strokes blend into the colour of their area;
   - *texture*: the local standard deviation of L, a and b at the scales
     :data:`TEXTURE_SIGMAS`: how strongly the colour varies around the pixel,
     which tells a smooth sky from a grassy field of the same mean colour;
   - *position*: ``(y, x)`` as fractions of the longest side, so that regions
     come out compact rather than scattered.

   Colour and texture are both in CIELAB units (about 2 is a just noticeable
   difference), so a change in how much the colour varies weighs as much as
   the same change in colour; position is weighted by :data:`WEIGHTS` so that
   crossing the whole painting counts like a colour change of 30. Fixed
   units, rather than scaling each group to the painting's own spread, keep
   the noise of a group that does not vary from being blown up.
2. K-means (scikit-learn) on those features (:func:`labels_from_features`). Without
   a region count, ``K`` is the one in :data:`AUTO_REGIONS` (3..8) with the
   best silhouette score on :data:`SILHOUETTE_SAMPLE` pixels. Two regions
   (light and dark, say) scored best on both paintings measured and make a
   poor doodle, so the choice starts at three.
3. Solid regions (:func:`solid_regions`): maskgen's majority filter over a
   window of about 1/32 of the longest side; then, in the spirit of maskgen's
   min-area rule, thin regions (bands along the borders of others) and every
   connected piece smaller than :data:`MIN_PIECE_SHARE` of the picture join
   the regions around them (each region keeps its largest piece).
4. Regions numbered by area, largest first: the order in which
   :func:`doodle.palette.fit_palette` lists them, so region ``i`` of the map is
   region ``i`` of a generator trained on it. The labels are resized to the
   painting with nearest neighbour and one more majority filter.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import ndimage
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score

from doodle.images import fit_size, load_rgb, resize_labels, resize_rgb, save_rgb
from doodle.palette import colour_keys, hex_colour
from maskgen.modefilter import majority_filter
from maskgen.palette import PALETTE, write_label_png

#: Longest side, in pixels, at which features are computed and clustered.
WORK_SIDE = 256
#: Smoothing of the colour feature, in working pixels.
COLOUR_SIGMA = 2.0
#: Window scales (Gaussian sigma, working pixels) of the local colour statistics.
TEXTURE_SIGMAS = (2.0, 6.0)
#: Multiplier of each feature group: colour and texture in CIELAB units,
#: position in fractions of the longest side.
WEIGHTS = {"colour": 1.0, "texture": 1.0, "position": 30.0}
#: Region counts ``doodle map`` accepts: maskgen's 20 distinct palette colours.
MIN_REGIONS, MAX_REGIONS = 2, 20
#: Region counts tried by the automatic choice.
AUTO_REGIONS = range(3, 9)
#: Pixels the silhouette score of the automatic choice is computed on.
SILHOUETTE_SAMPLE = 3000
#: A connected piece of a region smaller than this share of the picture joins its surroundings...
MIN_PIECE_SHARE = 0.005
#: ...and so does a region less than this share of which is more than 1/64 of
#: the longest side from its edge (a thin band along other regions' borders).
MIN_CORE_SHARE = 0.25
#: K-means restarts (the best of them is kept).
N_INIT = 4


@dataclass(frozen=True, eq=False)
class PaintingMap:
    """A semantic map found in a painting by :func:`segment_painting`.

    Attributes
    ----------
    labels : np.ndarray
        ``uint8`` ``(H, W)`` region of each pixel of the painting, ``0..k-1``,
        region 0 the largest.
    k : int
        Number of regions in ``labels``.
    clustered : int
        Number of clusters K-means made (asked for, or chosen); more than
        ``k`` when some were too thin or scattered to keep as regions.
    scores : dict of int to float
        Silhouette score of each region count tried by the automatic choice
        (empty when the count was given).
    """

    labels: np.ndarray
    k: int
    clustered: int
    scores: dict[int, float] = field(default_factory=dict)

    def describe(self) -> str:
        """Each region's index, map colour and share of the picture, e.g. ``"0 #e6194b 61%, 1 #3cb44b 39%"``."""
        shares = np.bincount(self.labels.ravel(), minlength=self.k) / self.labels.size
        return ", ".join(f"{i} {hex_colour(PALETTE[i])} {share:.0%}" for i, share in enumerate(shares))


def check_regions(regions: int | None) -> None:
    """Refuse region counts ``doodle map`` cannot paint in distinct colours.

    Examples
    --------
    >>> check_regions(4); check_regions(None)
    >>> check_regions(1)
    Traceback (most recent call last):
    ValueError: --regions must be between 2 and 20 (maskgen's distinct palette colours), got 1
    """
    if regions is not None and not MIN_REGIONS <= regions <= MAX_REGIONS:
        raise ValueError(
            f"--regions must be between {MIN_REGIONS} and {MAX_REGIONS} (maskgen's distinct palette colours), got {regions}"
        )


def map_painting(
    style: str | os.PathLike,
    out: str | os.PathLike,
    regions: int | None = None,
    preview: str | os.PathLike | None = None,
    seed: int = 0,
) -> PaintingMap:
    """``doodle map``: segment a painting file and write its semantic map.

    Parameters
    ----------
    style : path-like
        The painting (PNG, JPEG, ...).
    out : path-like
        The map: a palette PNG in maskgen's colours (:data:`maskgen.PALETTE`),
        at the painting's size, region ``i`` painted ``PALETTE[i]``; written
        atomically.
    regions : int or None
        Number of regions, 2..20, or ``None`` for the automatic choice.
    preview : path-like or None
        Also write the painting with the region borders drawn over it
        (:func:`draw_borders`).
    seed : int
        Same seed, same map.

    Returns
    -------
    PaintingMap

    Raises
    ------
    FileNotFoundError, ValueError
        A missing or unreadable painting, an output that is not ``.png``, or
        a region count out of range.
    """
    check_regions(regions)
    for path in (out, preview):
        if path is not None and Path(path).suffix.lower() != ".png":
            raise ValueError(f"{path}: maps and previews are written as PNG (exact colours); give a .png name")
    rgb = load_rgb(style)
    found = segment_painting(rgb, regions, seed=seed)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    write_label_png(out, found.labels)
    if preview is not None:
        save_rgb(preview, draw_borders(rgb, found.labels))
    return found


def segment_painting(rgb: np.ndarray, regions: int | None = None, seed: int = 0) -> PaintingMap:
    """Segment a painting into ``regions`` solid regions (the module docstring gives the steps).

    Parameters
    ----------
    rgb : np.ndarray
        ``uint8`` ``(H, W, 3)`` painting.
    regions : int or None
        Number of regions, 2..20; ``None`` picks the count in
        :data:`AUTO_REGIONS` (3..8) with the best silhouette score.
    seed : int
        Seed of K-means and of the silhouette sample: the same seed gives the same map.

    Returns
    -------
    PaintingMap

    Raises
    ------
    ValueError
        A region count out of range, or a painting with fewer pixels or
        distinct colours than regions.

    Examples
    --------
    >>> painting = np.zeros((20, 30, 3), np.uint8); painting[:, 18:] = 255
    >>> found = segment_painting(painting, 2)
    >>> found.k, found.labels[0, ::6].tolist()
    (2, [0, 0, 0, 1, 1])
    """
    check_regions(regions)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected a uint8 RGB painting of shape (H, W, 3), got {rgb.dtype} {rgb.shape}")
    distinct = len(np.unique(colour_keys(rgb)))
    if distinct < (regions or MIN_REGIONS):
        raise ValueError(f"the painting has {distinct} distinct colour(s), too few for {regions or MIN_REGIONS} regions")
    small = working_copy(rgb)
    features = stack_features(pixel_features(small))
    scores = {}
    if regions is None:
        regions, scores = choose_regions(features, most=distinct, seed=seed)
    labels = labels_from_features(features, small.shape[:2], regions, seed=seed, size=rgb.shape[:2])
    return PaintingMap(labels=labels, k=int(labels.max()) + 1, clustered=regions, scores=scores)


def working_copy(rgb: np.ndarray) -> np.ndarray:
    """The painting with its longest side at most :data:`WORK_SIDE` (Lanczos; never enlarged)."""
    h, w = rgb.shape[:2]
    return resize_rgb(rgb, fit_size(h, w, min(WORK_SIDE, max(h, w))))


def choose_regions(features: np.ndarray, most: int = MAX_REGIONS, seed: int = 0) -> tuple[int, dict[int, float]]:
    """The region count in :data:`AUTO_REGIONS` whose K-means has the best silhouette score.

    Parameters
    ----------
    features : np.ndarray
        ``(N, F)`` from :func:`stack_features`.
    most : int
        Largest count to try (a painting's number of distinct colours).
    seed : int
        Seed of K-means and of the :data:`SILHOUETTE_SAMPLE` pixels scored.

    Returns
    -------
    k : int
        The best count (the smaller one on a tie).
    scores : dict of int to float
        Silhouette score of each count tried.
    """
    sample = np.random.default_rng(seed).permutation(len(features))[:SILHOUETTE_SAMPLE]
    scores = {}
    for k in [k for k in AUTO_REGIONS if k <= most] or [most]:
        found = _kmeans(features, k, seed)[sample]
        scores[k] = float(silhouette_score(features[sample], found)) if len(set(found)) > 1 else -1.0
    return max(scores, key=lambda k: (scores[k], -k)), scores


def labels_from_features(
    features: np.ndarray, shape: tuple[int, int], k: int, seed: int = 0, size: tuple[int, int] | None = None
) -> np.ndarray:
    """K-means of the pixels, solid regions, resized to the painting, numbered by area.

    Parameters
    ----------
    features : np.ndarray
        ``(h * w, F)`` from :func:`stack_features`.
    shape : (int, int)
        ``(h, w)`` of the working copy the features describe.
    k : int
        Number of clusters.
    seed : int
        Seed of K-means.
    size : (int, int) or None
        ``(H, W)`` of the painting; ``None`` keeps ``shape``.

    Returns
    -------
    np.ndarray
        ``uint8`` ``(H, W)`` labels ``0..k'-1``, ``k' <= k``, region 0 the largest.

    Examples
    --------
    >>> img = np.zeros((32, 32, 3), np.uint8); img[20:] = 200  # a black top, a grey bottom
    >>> labels_from_features(stack_features(pixel_features(img)), (32, 32), 2)[::4, 0].tolist()
    [0, 0, 0, 0, 0, 1, 1, 1]
    """
    labels = solid_regions(_kmeans(features, k, seed).reshape(shape).astype(np.uint8), k)
    if size is not None and tuple(size) != tuple(shape):
        labels = resize_labels(labels, size)
        # Nearest-neighbour upscaling leaves staircases one working pixel high.
        labels = majority_filter(labels, 2 * (max(size) // max(shape)) + 1)
    return _by_area(labels)


def pixel_features(rgb: np.ndarray) -> dict[str, np.ndarray]:
    """Colour, texture and position features of every pixel.

    Parameters
    ----------
    rgb : np.ndarray
        ``uint8`` ``(h, w, 3)`` painting at the working size.

    Returns
    -------
    dict of str to np.ndarray
        ``float32`` ``(h, w, F)`` per group: ``"colour"`` (CIELAB smoothed
        over :data:`COLOUR_SIGMA`, F = 3), ``"texture"`` (local standard
        deviation of L, a, b at each of :data:`TEXTURE_SIGMAS`, F = 6) and
        ``"position"`` (y, x over the longest side, F = 2).

    Examples
    --------
    >>> {name: f.shape for name, f in pixel_features(np.zeros((4, 6, 3), np.uint8)).items()}
    {'colour': (4, 6, 3), 'texture': (4, 6, 6), 'position': (4, 6, 2)}
    """
    lab = srgb_to_lab(rgb)
    channels = [lab[..., c] for c in range(3)]
    colour = np.stack([ndimage.gaussian_filter(c, COLOUR_SIGMA) for c in channels], axis=-1)
    texture = []
    for sigma in TEXTURE_SIGMAS:
        for c in channels:
            mean = ndimage.gaussian_filter(c, sigma)
            texture.append(np.sqrt(np.maximum(ndimage.gaussian_filter(c * c, sigma) - mean * mean, 0.0)))
    h, w = rgb.shape[:2]
    position = np.stack(np.mgrid[0:h, 0:w], axis=-1) / max(h, w)
    return {
        "colour": colour.astype(np.float32),
        "texture": np.stack(texture, axis=-1).astype(np.float32),
        "position": position.astype(np.float32),
    }


def stack_features(groups: dict[str, np.ndarray], weights: dict[str, float] | None = None) -> np.ndarray:
    """One ``float32`` ``(h * w, F)`` matrix of the groups named in ``weights``, each centred and weighted.

    ``weights`` defaults to :data:`WEIGHTS`; a weight of 0 leaves a group out.

    Examples
    --------
    >>> stack_features({"colour": np.ones((2, 3, 3)), "position": np.zeros((2, 3, 2))}, {"colour": 1.0}).shape
    (6, 3)
    """
    weights = WEIGHTS if weights is None else weights
    parts = []
    for name, weight in weights.items():
        if weight:
            f = groups[name].reshape(-1, groups[name].shape[-1]).astype(np.float32)
            parts.append((f - f.mean(axis=0)) * weight)
    return np.concatenate(parts, axis=1)


def solid_regions(labels: np.ndarray, k: int) -> np.ndarray:
    """Make regions solid: majority filter, then thin regions and small pieces join their surroundings.

    The window of maskgen's majority filter is about 1/32 of the longest side
    (odd, at least 3). A region is *thin* when less than
    :data:`MIN_CORE_SHARE` of it survives an erosion by 1/64 of the longest
    side: a band along the borders of others, where the colour is a blend and
    the texture is the edge itself. Then every 4-connected piece of a region
    smaller than :data:`MIN_PIECE_SHARE` of the picture, except the largest
    piece of each region, goes the same way: its pixels take the label of the
    nearest pixel that stays.

    Parameters
    ----------
    labels : np.ndarray
        ``uint8`` ``(h, w)`` labels ``0..k-1``.
    k : int
        Number of labels.

    Returns
    -------
    np.ndarray
        ``uint8`` ``(h, w)``; a thin region is gone and the labels are
        renumbered ``0..k'-1`` by area.

    Examples
    --------
    >>> labels = np.zeros((40, 40), np.uint8); labels[20:] = 1; labels[5, 5] = labels[30:32, 30:32] = 2
    >>> np.bincount(solid_regions(labels, 3).ravel()).tolist()
    [800, 800]
    >>> labels[19:21] = 2  # a band two pixels wide between the two halves
    >>> np.bincount(solid_regions(labels, 3).ravel()).tolist()
    [800, 800]
    """
    h, w = labels.shape
    labels = majority_filter(labels, max(3, 2 * (max(h, w) // 64) + 1))
    depth = max(1, max(h, w) // 64)
    thin = np.zeros(labels.shape, bool)
    for region in range(k):
        inside = labels == region
        core = ndimage.binary_erosion(inside, iterations=depth, border_value=1)
        if inside.any() and core.sum() < MIN_CORE_SHARE * inside.sum():
            thin |= inside
    labels = _fill(labels, thin)
    small = np.zeros(labels.shape, bool)
    for region in range(k):
        pieces, n = ndimage.label(labels == region)
        if n == 0:
            continue
        sizes = np.bincount(pieces.ravel())[1:]
        tiny = sizes < MIN_PIECE_SHARE * labels.size
        tiny[np.argmax(sizes)] = False
        small |= tiny[np.maximum(pieces - 1, 0)] & (pieces > 0)
    return _by_area(_fill(labels, small))


def _fill(labels: np.ndarray, gone: np.ndarray) -> np.ndarray:
    """``labels`` with each ``gone`` pixel taking the label of the nearest pixel that is not."""
    if not gone.any() or gone.all():
        return labels
    _, (rows, cols) = ndimage.distance_transform_edt(gone, return_indices=True)
    return labels[rows, cols]


def draw_borders(rgb: np.ndarray, labels: np.ndarray, width: int | None = None) -> np.ndarray:
    """The painting with each region outlined in its map colour, for checking a map by eye.

    Parameters
    ----------
    rgb : np.ndarray
        ``uint8`` ``(H, W, 3)`` painting.
    labels : np.ndarray
        ``uint8`` ``(H, W)`` its regions.
    width : int or None
        Outline width on each side of a border, in pixels; default about
        1/200 of the longest side, at least 1.

    Returns
    -------
    np.ndarray
        ``uint8`` ``(H, W, 3)``: borders in the region's maskgen palette
        colour, edged in black so they show on any painting.
    """
    if labels.shape != rgb.shape[:2]:
        raise ValueError(f"labels of shape {labels.shape} do not fit a painting of {rgb.shape[:2]}")
    width = width or max(1, max(labels.shape) // 200)
    edge = np.zeros(labels.shape, bool)
    edge[1:] |= labels[1:] != labels[:-1]
    edge[:-1] |= labels[1:] != labels[:-1]
    edge[:, 1:] |= labels[:, 1:] != labels[:, :-1]
    edge[:, :-1] |= labels[:, 1:] != labels[:, :-1]
    line = ndimage.binary_dilation(edge, iterations=width - 1) if width > 1 else edge
    rim = ndimage.binary_dilation(line) & ~line
    out = rgb.copy()
    out[rim] = 0
    out[line] = PALETTE[labels[line]]
    return out


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """CIELAB (D65) of sRGB colours: ``uint8`` ``(..., 3)`` -> ``float64`` ``(..., 3)`` L in 0..100.

    Examples
    --------
    >>> srgb_to_lab(np.array([[255, 0, 0], [0, 0, 255]], np.uint8)).round(1).tolist()
    [[53.2, 80.1, 67.2], [32.3, 79.2, -107.9]]
    """
    c = rgb.astype(np.float64) / 255.0
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    to_xyz = np.array([[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750], [0.0193339, 0.1191920, 0.9503041]])
    xyz = linear @ to_xyz.T / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], axis=-1)


def _kmeans(features: np.ndarray, k: int, seed: int) -> np.ndarray:
    return KMeans(n_clusters=k, n_init=N_INIT, random_state=seed).fit_predict(features)


def _by_area(labels: np.ndarray) -> np.ndarray:
    """Renumber the labels present ``0..k'-1`` by decreasing area (ties: lower label first)."""
    counts = np.bincount(labels.ravel(), minlength=256)
    order = np.lexsort((np.arange(256), -counts))
    rank = np.empty(256, np.uint8)
    rank[order] = np.arange(256)
    return rank[labels]
