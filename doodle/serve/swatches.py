"""Small pictures of a style for the page: the painting's thumbnail and one texture swatch per region."""

from __future__ import annotations

import numpy as np

from doodle.images import fit_size, resize_rgb
from doodle.maps.legend import region_crop

#: Side of the square region swatches, in pixels.
SWATCH_SIDE = 40
#: Longest side of style thumbnails, in pixels.
THUMBNAIL_SIDE = 160


def thumbnail(image: np.ndarray, longest: int = THUMBNAIL_SIDE) -> np.ndarray:
    """``uint8`` ``(H, W, 3)`` scaled (Lanczos) so that its longest side is at most ``longest``."""
    h, w = image.shape[:2]
    return resize_rgb(image, fit_size(h, w, min(longest, max(h, w))))


def region_swatches(image: np.ndarray, labels: np.ndarray, k: int, side: int = SWATCH_SIDE) -> list[np.ndarray | None]:
    """A square crop of the style image where each region is densest, the legend's (:mod:`doodle.maps.legend`).

    Parameters
    ----------
    image : np.ndarray
        ``uint8`` ``(H, W, 3)`` style image.
    labels : np.ndarray
        ``uint8`` ``(H, W)`` its regions, ``0..k-1``.
    k : int
        Number of regions.
    side : int
        Side of each swatch in pixels.

    Returns
    -------
    list of np.ndarray or None
        ``uint8`` ``(side, side, 3)`` per region, other regions faded as in the
        legend; ``None`` for a region the style map does not paint.

    Examples
    --------
    >>> image = np.zeros((40, 60, 3), np.uint8); image[:, 30:] = 200
    >>> labels = (np.arange(60)[None].repeat(40, 0) >= 30).astype(np.uint8)
    >>> [None if s is None else int(s.mean()) for s in region_swatches(image, labels, 3, side=8)]
    [0, 200, None]
    """
    if image.shape[:2] != labels.shape:
        raise ValueError(f"style image {image.shape[:2]} and labels {labels.shape} differ in size")
    swatches: list[np.ndarray | None] = []
    for region in range(k):
        inside = labels == region
        if not inside.any():
            swatches.append(None)
            continue
        crop = np.rint(region_crop(image, inside) * 255).astype(np.uint8)
        swatches.append(resize_rgb(crop, (side, side)))
    return swatches


def colour_swatch(colour: np.ndarray, side: int = SWATCH_SIDE) -> np.ndarray:
    """A flat ``uint8`` ``(side, side, 3)`` square: the swatch of a region without a style picture."""
    return np.broadcast_to(np.asarray(colour, np.uint8), (side, side, 3)).copy()


def palette_strip(colours: np.ndarray, longest: int = THUMBNAIL_SIDE) -> np.ndarray:
    """Vertical bands of the region colours, ``uint8`` ``(longest * 3 // 4, longest, 3)``: a thumbnail without a painting."""
    colours = np.asarray(colours, np.uint8)
    bands = (np.arange(longest) * len(colours) // longest).astype(np.int64)
    return np.broadcast_to(colours[bands][None], (longest * 3 // 4, longest, 3)).copy()
