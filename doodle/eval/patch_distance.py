"""Region patch distance: do a region's pixels look like the painting's, with no loss network involved?

A judge that the generator never trains on. Per region, the small pixel
patches of the output and of the painting are compared as two point clouds
in CIELAB patch space by the sliced Wasserstein distance: grain, colour
fringes, streaks and washed-out colour all move the output's patches away from
the painting's, whatever a VGG thinks of them.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from doodle.lab import rgb_to_lab


def region_patch_distance(
    image: np.ndarray,
    labels: np.ndarray,
    style: np.ndarray,
    style_labels: np.ndarray,
    patch: int = 5,
    samples: int = 4096,
    projections: int = 256,
    seed: int = 0,
) -> tuple[float, np.ndarray]:
    """Sliced Wasserstein distance between each region's pixel patches and the painting's.

    For every region present in both maps, up to ``samples`` ``patch x patch``
    CIELAB patches centred in the region are drawn from the output and from the
    style (whole patches only), both clouds are projected on ``projections``
    random unit directions of patch space, and the mean absolute difference of
    their quantiles is averaged over the directions (the sliced 1-Wasserstein
    distance, in CIELAB units per patch direction). The regions' distances are
    then averaged weighted by their area in ``labels``. Pass the style at the
    scale the output should have (e.g. the training's style size), since
    patches compare textures pixel for pixel.

    Parameters
    ----------
    image : ndarray, float, shape (H, W, 3)
        Output, RGB in [0, 1].
    labels : ndarray, integer, shape (H, W)
        The map it was painted for.
    style : ndarray, float, shape (Hs, Ws, 3)
        The painting, RGB in [0, 1].
    style_labels : ndarray, integer, shape (Hs, Ws)
        Its map, the same labels.
    patch : int
        Patch side in pixels (odd).
    samples : int
        Patches drawn per region and image (all of them when fewer).
    projections : int
        Random directions.
    seed : int
        Seed of the draws and directions; same seed, same figure.

    Returns
    -------
    mean : float
        Area-weighted mean over the regions present in both maps.
    per_region : ndarray, float64, shape (K,)
        ``K = max label + 1`` over both maps; NaN for a region missing from either.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> style = rng.random((24, 24, 3)); labels = np.zeros((24, 24), np.uint8); labels[:, 12:] = 1
    >>> same, _ = region_patch_distance(style, labels, style, labels)
    >>> grey, per_region = region_patch_distance(np.full((24, 24, 3), 0.5), labels, style, labels)
    >>> float(same), bool(grey > 5), per_region.shape
    (0.0, True, (2,))
    """
    if patch < 1 or patch % 2 == 0:
        raise ValueError(f"patch must be an odd number of pixels, got {patch}")
    k = int(max(np.max(labels), np.max(style_labels))) + 1
    rng = np.random.default_rng(seed)
    directions = rng.standard_normal((3 * patch * patch, projections))
    directions /= np.linalg.norm(directions, axis=0)
    ours, ours_centres = _patches(image, labels, patch)
    theirs, their_centres = _patches(style, style_labels, patch)
    per_region = np.full(k, np.nan)
    areas = np.zeros(k)
    for region in range(k):
        a = _draw(ours, ours_centres == region, samples, rng)
        b = _draw(theirs, their_centres == region, samples, rng)
        if a is None or b is None:
            continue
        levels = (np.arange(min(len(a), len(b))) + 0.5) / min(len(a), len(b))
        qa = np.quantile(a @ directions, levels, axis=0)
        qb = np.quantile(b @ directions, levels, axis=0)
        per_region[region] = float(np.mean(np.abs(qa - qb)))
        areas[region] = np.count_nonzero(labels == region)
    present = ~np.isnan(per_region)
    if not present.any():
        raise ValueError("no region occurs in both maps (or they are smaller than one patch); "
                         "pass the map the image was painted for and the style's own map")
    return float(np.average(per_region[present], weights=areas[present])), per_region


def _patches(image: np.ndarray, labels: np.ndarray, patch: int) -> tuple[np.ndarray, np.ndarray]:
    """All whole patches as rows of a view, shape (n, 3 * patch^2), and the label at each centre."""
    if np.shape(image)[:2] != np.shape(labels):
        raise ValueError(f"image {np.shape(image)} and map {np.shape(labels)} must be (H, W, 3) and (H, W)")
    lab = rgb_to_lab(image).astype(np.float32)
    windows = sliding_window_view(lab, (patch, patch), axis=(0, 1))  # (H-p+1, W-p+1, 3, p, p)
    half = patch // 2
    centres = np.asarray(labels)[half:labels.shape[0] - half, half:labels.shape[1] - half]
    return windows.reshape(-1, 3 * patch * patch), centres.reshape(-1)


def _draw(rows: np.ndarray, where: np.ndarray, samples: int, rng: np.random.Generator) -> np.ndarray | None:
    index = np.flatnonzero(where)
    if len(index) == 0:
        return None
    if len(index) > samples:
        index = np.sort(rng.choice(index, samples, replace=False))
    return np.asarray(rows[index], np.float64)
