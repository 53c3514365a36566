"""Semantic maps from a painting alone: cluster its pixels into solid regions.

Most users have a painting and no map. :func:`segment_painting` makes one
(``doodle map``), at a working size of :data:`WORK_SIDE` pixels on the longest
side:

1. Superpixels (:func:`superpixels`): Felzenszwalb's graph segmentation
   (scikit-image) cuts the painting into a few hundred pieces of nearly one
   colour that follow its edges. Clustering these rather than pixels keeps a
   brush stroke, or a border where two colours blend, inside one piece, so
   it cannot become a region or a speckle of its own.
2. Features of each superpixel (:func:`superpixel_features`), means of those of
   its pixels (:func:`pixel_features`):

   - *colour*: CIELAB;
   - *texture*: the local standard deviation of L, a and b at the scales
     :data:`TEXTURE_SIGMAS`: how strongly the colour varies around the pixel,
     which tells a smooth sky from a grassy field of the same mean colour;
   - *position*: ``(y, x)`` as fractions of the longest side, so that regions
     come out compact rather than scattered.

   Colour and texture are both in CIELAB units (about 2 is a just noticeable
   difference); :data:`WEIGHTS` makes texture count twice and crossing the
   whole painting like a colour change of 30. Fixed units, rather than
   scaling each group to the painting's own spread, keep the noise of a group
   that does not vary from being blown up.
3. K-means (scikit-learn) of the superpixels, each weighted by its pixel
   count. Without a region count, ``K`` is the largest in :data:`AUTO_REGIONS`
   (3..8) whose clusters have a silhouette score on the colours of
   :data:`SILHOUETTE_SAMPLE` pixels within :data:`SILHOUETTE_TOLERANCE` of the
   best (:func:`choose_regions`). The score favours few clusters: two regions
   (light and dark, say) often score best and make a poor doodle, so the
   choice starts at three, and near-ties go to more regions.
4. Solid regions (:func:`solid_regions`): maskgen's majority filter over a
   window of about 1/32 of the longest side; then, in the spirit of maskgen's
   min-area rule, every connected piece smaller than :data:`MIN_PIECE_SHARE`
   of the picture joins the regions around it (each region keeps its largest
   piece).
5. Regions numbered by area, largest first: the order in which
   :func:`doodle.maps.palette.fit_palette` lists them, so region ``i`` of the map is
   region ``i`` of a generator trained on it. The labels are resized to the
   painting with nearest neighbour and one more majority filter.

The choices were measured on seven paintings with hand-made maps
(``scripts/bench_map.py``; the README gives the figures): superpixels
(SLIC or Felzenszwalb) merged by colour alone (a region adjacency graph),
mean shift, pixel-wise K-means with or without the loss network's features
all scored lower on the mean or below plain K-means on some painting.
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
from doodle.lab import srgb_to_lab
from doodle.maps.palette import colour_keys, hex_colour
from maskgen.fileio import make_folder
from maskgen.modefilter import majority_filter
from maskgen.palette import PALETTE, write_label_png

#: Longest side, in pixels, at which features are computed and clustered.
WORK_SIDE = 256
#: Felzenszwalb's scale at the working size: larger makes fewer, larger superpixels
#: (150..250 scored within 0.03 of each other on the mean of the paintings measured).
FELZENSZWALB_SCALE = 200.0
#: Gaussian smoothing before Felzenszwalb's segmentation, in working pixels.
FELZENSZWALB_SIGMA = 0.8
#: Smallest superpixel, in working pixels.
MIN_SUPERPIXEL = 20
#: Window scales (Gaussian sigma, working pixels) of the local colour statistics.
TEXTURE_SIGMAS = (2.0, 6.0)
#: Multiplier of each feature group: colour and texture in CIELAB units,
#: position in fractions of the longest side.
WEIGHTS = {"colour": 1.0, "texture": 2.0, "position": 30.0}
#: Region counts ``doodle map`` accepts: maskgen's 20 distinct palette colours.
MIN_REGIONS, MAX_REGIONS = 2, 20
#: Region counts tried by the automatic choice.
AUTO_REGIONS = range(3, 9)
#: Pixels the silhouette score of the automatic choice is computed on.
SILHOUETTE_SAMPLE = 3000
#: The automatic choice takes the largest count scoring within this of the best silhouette.
#: 0.1..0.25 raised the mean ARI with the automatic count on each of seeds 0, 1, 2 over the
#: paintings measured (0.15 most); under 0.1 it was no better than the best score alone.
SILHOUETTE_TOLERANCE = 0.15
#: A connected piece of a region smaller than this share of the picture joins its surroundings.
MIN_PIECE_SHARE = 0.005
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
    make_folder(Path(out).parent)
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
        :data:`AUTO_REGIONS` (3..8) by silhouette score (:func:`choose_regions`).
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
    groups = pixel_features(small)
    pieces = superpixels(small)
    if pieces.max() + 1 < (regions or MIN_REGIONS):
        # The minimum superpixel size can swallow small flat areas of a painting
        # with few colours: cluster its pixels instead.
        pieces = np.arange(pieces.size).reshape(pieces.shape)
    features, counts = superpixel_features(groups, pieces)
    scores = {}
    if regions is None:
        colours = groups["colour"].reshape(-1, 3)
        regions, scores = choose_regions(features, counts, pieces, colours, most=min(distinct, len(counts)), seed=seed)
    clusters = _kmeans(features, counts, regions, seed)[pieces].astype(np.uint8)
    labels = solid_regions(clusters, regions)
    size = rgb.shape[:2]
    if tuple(size) != labels.shape:
        labels = resize_labels(labels, size)
        # Nearest-neighbour upscaling leaves staircases one working pixel high.
        labels = _by_area(majority_filter(labels, 2 * (max(size) // max(small.shape[:2])) + 1))
    return PaintingMap(labels=labels, k=int(labels.max()) + 1, clustered=regions, scores=scores)


def working_copy(rgb: np.ndarray) -> np.ndarray:
    """The painting with its longest side at most :data:`WORK_SIDE` (Lanczos; never enlarged)."""
    h, w = rgb.shape[:2]
    return resize_rgb(rgb, fit_size(h, w, min(WORK_SIDE, max(h, w))))


def superpixels(rgb: np.ndarray) -> np.ndarray:
    """Felzenszwalb's segmentation of the working copy into pieces of nearly one colour.

    Parameters
    ----------
    rgb : np.ndarray
        ``uint8`` ``(h, w, 3)`` painting at the working size.

    Returns
    -------
    np.ndarray
        ``int`` ``(h, w)`` superpixel of each pixel, ``0..n-1``.

    Examples
    --------
    >>> img = np.zeros((32, 32, 3), np.uint8); img[:, 16:] = 200
    >>> found = superpixels(img)
    >>> set(found[:, :16].ravel()) & set(found[:, 16:].ravel())  # none crosses the edge
    set()
    """
    # Imported here: only map-making needs scikit-image, and the modules importing this
    # one (the CLI, the server) should not pay for loading it.
    from skimage.segmentation import felzenszwalb

    return felzenszwalb(rgb, scale=FELZENSZWALB_SCALE, sigma=FELZENSZWALB_SIGMA, min_size=MIN_SUPERPIXEL)


def superpixel_features(groups: dict[str, np.ndarray], pieces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean features of each superpixel, stacked and weighted like :func:`stack_features`.

    Parameters
    ----------
    groups : dict of str to np.ndarray
        ``(h, w, F)`` per group, from :func:`pixel_features`.
    pieces : np.ndarray
        ``int`` ``(h, w)`` superpixels ``0..n-1``, from :func:`superpixels`.

    Returns
    -------
    features : np.ndarray
        ``float32`` ``(n, F)``, centred on the pixels' mean.
    counts : np.ndarray
        ``float64`` ``(n,)`` pixels of each superpixel.

    Examples
    --------
    >>> groups = {"colour": np.arange(6.0).reshape(1, 2, 3), "position": np.zeros((1, 2, 2))}
    >>> features, counts = superpixel_features(groups, np.array([[0, 1]]))
    >>> features[:, 0].tolist(), counts.tolist()
    ([-1.5, 1.5], [1.0, 1.0])
    """
    flat = pieces.ravel()
    counts = np.bincount(flat).astype(np.float64)
    pixels = stack_features(groups, {name: w for name, w in WEIGHTS.items() if name in groups})
    means = np.stack([np.bincount(flat, column, len(counts)) for column in pixels.T.astype(np.float64)], axis=1)
    return (means / counts[:, None]).astype(np.float32), counts


def choose_regions(
    features: np.ndarray, counts: np.ndarray, pieces: np.ndarray, pixels: np.ndarray,
    most: int = MAX_REGIONS, seed: int = 0,
) -> tuple[int, dict[int, float]]:
    """The largest region count in :data:`AUTO_REGIONS` whose clusters score near the best silhouette.

    The score is computed on the colour of pixels. On superpixel means it
    kept rising up to the largest count tried (means make tight clusters at
    any count); with texture and position it chose 3 on all eight pictures
    measured, the exemplar's 4 regions included; on colour alone it finds
    those 4 and scores the same mean ARI on the seven paintings (0.436).
    Still, it falls with the count on nearly every painting, by hundredths to
    tenths per added region, also where the hand-made map has 5 to 7 regions:
    taking the best score alone chose 3 on all seven.

    Parameters
    ----------
    features, counts : np.ndarray
        ``(n, F)`` and ``(n,)`` from :func:`superpixel_features`.
    pieces : np.ndarray
        ``int`` ``(h, w)`` superpixels ``0..n-1``.
    pixels : np.ndarray
        ``(h * w, 3)`` CIELAB colour of each pixel.
    most : int
        Largest count to try (the painting's number of distinct colours or superpixels).
    seed : int
        Seed of K-means and of the :data:`SILHOUETTE_SAMPLE` pixels scored.

    Returns
    -------
    k : int
        The largest count scoring at least the best score minus :data:`SILHOUETTE_TOLERANCE`.
    scores : dict of int to float
        Silhouette score of each count tried.
    """
    sample = np.random.default_rng(seed).permutation(pieces.size)[:SILHOUETTE_SAMPLE]
    scores = {}
    for k in [k for k in AUTO_REGIONS if k <= most] or [most]:
        found = _kmeans(features, counts, k, seed)[pieces.ravel()[sample]]
        scores[k] = float(silhouette_score(pixels[sample], found)) if len(set(found)) > 1 else -1.0
    # The score falls with the count even where the painting has more regions:
    # a near-tie is read as support for the larger count.
    best = max(scores.values())
    return max(k for k, score in scores.items() if score >= best - SILHOUETTE_TOLERANCE), scores


def pixel_features(rgb: np.ndarray) -> dict[str, np.ndarray]:
    """Colour, texture and position features of every pixel.

    Parameters
    ----------
    rgb : np.ndarray
        ``uint8`` ``(h, w, 3)`` painting at the working size.

    Returns
    -------
    dict of str to np.ndarray
        ``float32`` ``(h, w, F)`` per group: ``"colour"`` (CIELAB, F = 3),
        ``"texture"`` (local standard deviation of L, a, b at each of
        :data:`TEXTURE_SIGMAS`, F = 6) and ``"position"`` (y, x over the
        longest side, F = 2).

    Examples
    --------
    >>> {name: f.shape for name, f in pixel_features(np.zeros((4, 6, 3), np.uint8)).items()}
    {'colour': (4, 6, 3), 'texture': (4, 6, 6), 'position': (4, 6, 2)}
    """
    lab = srgb_to_lab(rgb)
    channels = [lab[..., c] for c in range(3)]
    texture = []
    for sigma in TEXTURE_SIGMAS:
        for c in channels:
            mean = ndimage.gaussian_filter(c, sigma)
            texture.append(np.sqrt(np.maximum(ndimage.gaussian_filter(c * c, sigma) - mean * mean, 0.0)))
    h, w = rgb.shape[:2]
    position = np.stack(np.mgrid[0:h, 0:w], axis=-1) / max(h, w)
    return {
        "colour": lab.astype(np.float32),
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
    """Make regions solid: majority filter, then small pieces join their surroundings.

    The window of maskgen's majority filter is about 1/32 of the longest side
    (odd, at least 3). Then every 4-connected piece of a region smaller than
    :data:`MIN_PIECE_SHARE` of the picture, except the largest piece of each
    region, takes the label of the nearest pixel that stays.

    Parameters
    ----------
    labels : np.ndarray
        ``uint8`` ``(h, w)`` labels ``0..k-1``.
    k : int
        Number of labels.

    Returns
    -------
    np.ndarray
        ``uint8`` ``(h, w)``, renumbered ``0..k'-1`` by area (a region the
        majority filter removed is gone).

    Examples
    --------
    >>> labels = np.zeros((40, 40), np.uint8); labels[20:] = 1; labels[5, 5] = labels[30:32, 30:32] = 2
    >>> np.bincount(solid_regions(labels, 3).ravel()).tolist()
    [800, 800]
    """
    h, w = labels.shape
    labels = majority_filter(labels, max(3, 2 * (max(h, w) // 64) + 1))
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


def _kmeans(features: np.ndarray, counts: np.ndarray, k: int, seed: int) -> np.ndarray:
    return KMeans(n_clusters=k, n_init=N_INIT, random_state=seed).fit_predict(features, sample_weight=counts)


def _by_area(labels: np.ndarray) -> np.ndarray:
    """Renumber the labels present ``0..k'-1`` by decreasing area (ties: lower label first)."""
    counts = np.bincount(labels.ravel(), minlength=256)
    order = np.lexsort((np.arange(256), -counts))
    rank = np.empty(256, np.uint8)
    rank[order] = np.arange(256)
    return rank[labels]
