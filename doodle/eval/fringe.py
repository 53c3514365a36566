"""Colour fringes: pixels in colours the painting never uses, along region borders and inside regions.

A judge that the generator never trains on. A generator that blends two
regions' features at a border can paint a line of pink or cyan there that no
Gram matrix objects to; a person sees it at once. The painting's colours are
its occupied CIELAB bins, grown by one bin so that a near miss is not a
fringe; every output pixel outside them counts.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from doodle.eval.fidelity import interior_mask
from doodle.lab import rgb_to_lab

#: Lowest L, a, b of the bin grid; sRGB's gamut lies within L 0..100, a and b -128..128.
_ORIGIN = np.array([0.0, -128.0, -128.0])
_EXTENT = np.array([100.0, 256.0, 256.0])


def painting_colours(painting: np.ndarray, bin_size: float = 6.0, min_share: float = 2e-5, grow: int = 1) -> np.ndarray:
    """The CIELAB bins a painting uses, grown by ``grow`` bins in every direction.

    Parameters
    ----------
    painting : ndarray, float, shape (H, W, 3)
        RGB in [0, 1].
    bin_size : float
        Bin side in CIELAB units.
    min_share : float
        A bin counts when at least this share of the painting's pixels (and at
        least one) falls in it, so that a few stray pixels do not admit a colour.
    grow : int
        Bins added around every used bin.

    Returns
    -------
    ndarray of bool, shape (nL, na, nb)
        Occupancy of the bin grid (see :func:`off_painting`).

    Examples
    --------
    >>> grid = painting_colours(np.zeros((4, 4, 3)), grow=0)
    >>> int(grid.sum()), bool(grid[0, 21, 21])  # black: L = a = b = 0
    (1, True)
    """
    bins = _bins(painting, bin_size)
    shape = tuple(int(n) for n in np.ceil(_EXTENT / bin_size) + 1)
    counts = np.zeros(shape, np.int64)
    np.add.at(counts, tuple(bins.reshape(-1, 3).T), 1)
    used = counts >= max(1.0, min_share * bins.size / 3)
    if grow:
        used = ndimage.binary_dilation(used, structure=np.ones((3, 3, 3), bool), iterations=grow)
    return used


def off_painting(image: np.ndarray, colours: np.ndarray, bin_size: float = 6.0) -> np.ndarray:
    """Which pixels of ``image`` fall outside the painting's colours.

    Parameters
    ----------
    image : ndarray, float, shape (H, W, 3)
        RGB in [0, 1].
    colours : ndarray of bool
        From :func:`painting_colours` with the same ``bin_size``.

    Returns
    -------
    ndarray of bool, shape (H, W)
    """
    bins = _bins(image, bin_size)
    return ~colours[bins[..., 0], bins[..., 1], bins[..., 2]]


def fringe_share(image: np.ndarray, labels: np.ndarray, colours: np.ndarray, border: int = 3,
                 bin_size: float = 6.0) -> dict[str, float]:
    """Share of pixels in colours the painting never uses, near region borders and inside regions.

    Parameters
    ----------
    image : ndarray, float, shape (H, W, 3)
        Output, RGB in [0, 1].
    labels : ndarray, integer, shape (H, W)
        The map it was painted for.
    colours : ndarray of bool
        The painting's colours (:func:`painting_colours`).
    border : int
        Pixels within this many pixels (chessboard distance) of a region border
        form the border band; the image edge is not a border.

    Returns
    -------
    dict
        ``"border"`` and ``"interior"``: shares in [0, 1] (0 where the band or
        the interior is empty).

    Examples
    --------
    >>> painting = np.zeros((8, 8, 3)); painting[:, 4:] = 1.0
    >>> labels = np.zeros((8, 8), np.uint8); labels[:, 4:] = 1
    >>> fringed = painting.copy(); fringed[:, 3:5] = [1.0, 0.0, 1.0]  # a magenta line on the border
    >>> fringe_share(fringed, labels, painting_colours(painting), border=2)
    {'border': 0.5, 'interior': 0.0}
    """
    off = off_painting(image, colours, bin_size)
    inside = interior_mask(labels, border)
    return {"border": float(off[~inside].mean()) if (~inside).any() else 0.0,
            "interior": float(off[inside].mean()) if inside.any() else 0.0}


def _bins(image: np.ndarray, bin_size: float) -> np.ndarray:
    lab = rgb_to_lab(image)
    top = np.ceil(_EXTENT / bin_size).astype(np.int64)
    return np.clip(np.floor((lab - _ORIGIN) / bin_size).astype(np.int64), 0, top)
