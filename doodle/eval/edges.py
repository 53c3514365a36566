"""How much of a photo's structure a stylized image keeps: correlation of edge maps."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from doodle.style.color import rgb_to_yiq


def edge_map(image: np.ndarray, sigma: float = 1.5) -> np.ndarray:
    """Sobel gradient magnitude of the luminance, blurred with a Gaussian.

    Parameters
    ----------
    image : ndarray, float, shape (H, W, 3)
        RGB in [0, 1].
    sigma : float
        Gaussian blur of the magnitude, in pixels: it forgives edges that moved
        by a pixel or two and averages a painting's brush strokes.

    Returns
    -------
    ndarray, float64, shape (H, W)
    """
    y = rgb_to_yiq(image)[..., 0].astype(np.float64)
    magnitude = np.hypot(ndimage.sobel(y, axis=0), ndimage.sobel(y, axis=1))
    return ndimage.gaussian_filter(magnitude, sigma)


def edge_correlation(image: np.ndarray, reference: np.ndarray, sigma: float = 1.5) -> float:
    """Pearson correlation of the edge maps (:func:`edge_map`) of two images of one size.

    1 when ``image`` has the reference's edges at the same places with
    proportional strengths; about 0 when its edges have nothing to do with them.
    Compare at the output size (resize the photo to the stylized image).

    Parameters
    ----------
    image, reference : ndarray, float, shape (H, W, 3)
        RGB in [0, 1].
    sigma : float
        Blur of both edge maps, in pixels.

    Returns
    -------
    float
        In [-1, 1]; 0 when either edge map is flat.

    Examples
    --------
    >>> photo = np.zeros((32, 32, 3), np.float32); photo[8:24, 8:24] = 1
    >>> round(edge_correlation(0.2 + 0.5 * photo, photo), 6)  # contrast does not matter
    1.0
    >>> left, top = np.zeros_like(photo), np.zeros_like(photo)
    >>> left[:, :16], top[:16] = 1, 1
    >>> edge_correlation(left, top) < 0.1  # a vertical edge against a horizontal one
    True
    """
    if np.shape(image) != np.shape(reference):
        raise ValueError(f"images of {np.shape(image)[:2]} and {np.shape(reference)[:2]} pixels cannot be compared; "
                         f"resize the reference to the image first")
    a, b = edge_map(image, sigma).ravel(), edge_map(reference, sigma).ravel()
    a, b = a - a.mean(), b - b.mean()
    norm = np.sqrt((a @ a) * (b @ b))
    return float(a @ b / norm) if norm > 0 else 0.0
