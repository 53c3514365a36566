"""Region fidelity: does an output image paint each region of its map with that region's colours?

A Gram loss says whether textures match in the loss network's eyes; region
fidelity is a cheaper, network-free check of the semantic half of a doodle. A
Gaussian colour model per region is fitted on the style image and its map, each
output pixel is labelled by the most likely region, and the score is the share of
pixels whose label agrees with the target map, ignoring a band around region
borders (where a painting legitimately blends regions).

Colours are box-averaged before fitting and classifying: a single brush stroke
or grain speck is not a region, the texture's average colour is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

# Added to every covariance so that flat (zero-variance) regions still give an
# invertible matrix; 1e-4 is a colour standard deviation of 0.01 (2.5/255).
COVARIANCE_FLOOR = 1e-4


@dataclass(frozen=True)
class RegionColourModel:
    """Per-region Gaussian model of locally averaged colours.

    Build it with :func:`fit_region_colour_model`.

    Attributes
    ----------
    means : ndarray, float64, shape (k, 3)
        Mean averaged colour of each region, RGB in [0, 1].
    covariances : ndarray, float64, shape (k, 3, 3)
        Regularized colour covariance of each region.
    present : ndarray, bool, shape (k,)
        Whether the region occurs in the style map; absent regions are never predicted.
    blur : int
        Radius in pixels of the box average applied before fitting and classifying.
    """

    means: np.ndarray
    covariances: np.ndarray
    present: np.ndarray
    blur: int

    @property
    def k(self) -> int:
        """Number of region labels the model knows (labels ``0 .. k-1``)."""
        return len(self.means)

    def log_likelihoods(self, image: np.ndarray) -> np.ndarray:
        """Gaussian log-likelihood of every pixel's averaged colour under every region.

        Parameters
        ----------
        image : ndarray, float, shape (H, W, 3)
            RGB image in [0, 1].

        Returns
        -------
        ndarray, float64, shape (H, W, k)
            Log-likelihoods up to a shared constant; ``-inf`` for absent regions.
        """
        colours = _local_average(_check_image(image, "image"), self.blur).reshape(-1, 3)
        out = np.full((len(colours), self.k), -np.inf)
        for label in np.flatnonzero(self.present):
            inverse = np.linalg.inv(self.covariances[label])
            _, logdet = np.linalg.slogdet(self.covariances[label])
            diff = colours - self.means[label]
            mahalanobis = np.einsum("ni,ij,nj->n", diff, inverse, diff)
            out[:, label] = -0.5 * (mahalanobis + logdet)
        return out.reshape(*image.shape[:2], self.k)

    def classify(self, image: np.ndarray) -> np.ndarray:
        """Label every pixel with its most likely region.

        Parameters
        ----------
        image : ndarray, float, shape (H, W, 3)
            RGB image in [0, 1].

        Returns
        -------
        ndarray, uint8, shape (H, W)
            Maximum-likelihood region label of each pixel.

        Examples
        --------
        >>> style = np.zeros((4, 4, 3)); style[:, 2:] = 1.0
        >>> labels = np.zeros((4, 4), np.uint8); labels[:, 2:] = 1
        >>> model = fit_region_colour_model(style, labels, k=2, blur=0)
        >>> model.classify(1.0 - style)[0]
        array([1, 1, 0, 0], dtype=uint8)
        """
        return np.argmax(self.log_likelihoods(image), axis=-1).astype(np.uint8)


def fit_region_colour_model(style: np.ndarray, labels: np.ndarray, k: int, blur: int = 5) -> RegionColourModel:
    """Fit a Gaussian of locally averaged colours to every region of a style image.

    Parameters
    ----------
    style : ndarray, float, shape (H, W, 3)
        Style image, RGB in [0, 1].
    labels : ndarray, uint8, shape (H, W)
        Its semantic map, region labels in ``0 .. k-1``.
    k : int
        Number of region labels (regions missing from ``labels`` are allowed).
    blur : int
        Radius in pixels of the box average (window ``2 * blur + 1``) applied to
        the colours before fitting; 0 uses raw pixel colours.

    Returns
    -------
    RegionColourModel

    Examples
    --------
    >>> style = np.zeros((4, 4, 3)); style[:, 2:] = 1.0
    >>> labels = np.zeros((4, 4), np.uint8); labels[:, 2:] = 1
    >>> fit_region_colour_model(style, labels, k=2, blur=0).means
    array([[0., 0., 0.],
           [1., 1., 1.]])
    """
    style = _check_image(style, "style")
    labels = _check_labels(labels, style.shape[:2], k, "labels")
    if blur < 0:
        raise ValueError(f"blur must be >= 0, got {blur}")
    colours = _local_average(style, blur).reshape(-1, 3)
    flat_labels = labels.reshape(-1)
    means = np.zeros((k, 3))
    covariances = np.tile(np.eye(3) * COVARIANCE_FLOOR, (k, 1, 1))
    present = np.zeros(k, dtype=bool)
    for label in np.unique(flat_labels):
        region = colours[flat_labels == label]
        means[label] = region.mean(axis=0)
        if len(region) > 1:
            covariances[label] += np.cov(region, rowvar=False)
        present[label] = True
    return RegionColourModel(means=means, covariances=covariances, present=present, blur=blur)


def interior_mask(labels: np.ndarray, border: int) -> np.ndarray:
    """Pixels farther than ``border`` pixels (chessboard distance) from any region border.

    The image edge is not a region border.

    Parameters
    ----------
    labels : ndarray, integer, shape (H, W)
        Semantic map.
    border : int
        Width in pixels of the excluded band on each side of a border; 0 keeps every pixel.

    Returns
    -------
    ndarray, bool, shape (H, W)

    Examples
    --------
    >>> interior_mask(np.array([[0, 0, 0, 1, 1, 1]]), border=1).astype(int)
    array([[1, 1, 0, 0, 1, 1]])
    """
    if border < 0:
        raise ValueError(f"border must be >= 0, got {border}")
    labels = np.asarray(labels)
    if border == 0:
        return np.ones(labels.shape, dtype=bool)
    square = np.ones((2 * border + 1, 2 * border + 1), dtype=bool)
    mask = np.zeros(labels.shape, dtype=bool)
    for label in np.unique(labels):
        mask |= ndimage.binary_erosion(labels == label, structure=square, border_value=1)
    return mask


def region_fidelity(
    image: np.ndarray, target_labels: np.ndarray, model: RegionColourModel, border: int = 4
) -> float:
    """Share of interior pixels whose colour-model label matches the target map.

    Parameters
    ----------
    image : ndarray, float, shape (H, W, 3)
        Output image, RGB in [0, 1].
    target_labels : ndarray, uint8, shape (H, W)
        The semantic map the image was painted for, labels in ``0 .. model.k-1``.
    model : RegionColourModel
        Colour model fitted on the style image and its map.
    border : int
        Pixels within this many pixels of a region border of ``target_labels``
        are excluded. Regions absent from the map simply contribute no pixels.

    Returns
    -------
    float
        Agreement in [0, 1]; chance level is roughly the largest region's share.

    Raises
    ------
    ValueError
        If no pixel is farther than ``border`` from a region border (rather than
        returning nan, which would silently poison averages).

    Examples
    --------
    >>> style = np.zeros((8, 8, 3)); style[:, 4:] = 1.0
    >>> labels = np.zeros((8, 8), np.uint8); labels[:, 4:] = 1
    >>> model = fit_region_colour_model(style, labels, k=2, blur=1)
    >>> region_fidelity(style, labels, model, border=1), region_fidelity(1 - style, labels, model, border=1)
    (1.0, 0.0)
    """
    image = _check_image(image, "image")
    target_labels = _check_labels(target_labels, image.shape[:2], model.k, "target_labels")
    interior = interior_mask(target_labels, border)
    if not interior.any():
        raise ValueError(
            f"no pixel of the {target_labels.shape[1]}x{target_labels.shape[0]} target map is farther than "
            f"border={border} pixels from a region border; use a smaller border"
        )
    predicted = model.classify(image)
    return float(np.mean(predicted[interior] == target_labels[interior]))


def fidelity_by_region(
    image: np.ndarray, target_labels: np.ndarray, model: RegionColourModel, border: int = 4
) -> np.ndarray:
    """Region fidelity of every region on its own, so that one mis-painted small region shows.

    Parameters
    ----------
    image, target_labels, model, border
        As in :func:`region_fidelity`.

    Returns
    -------
    ndarray, float64, shape (model.k,)
        Share of each region's interior pixels labelled as that region; NaN for
        a region with no interior pixel in ``target_labels``.

    Examples
    --------
    >>> style = np.zeros((8, 8, 3)); style[:, 4:] = 1.0
    >>> labels = np.zeros((8, 8), np.uint8); labels[:, 4:] = 1
    >>> model = fit_region_colour_model(style, labels, k=3, blur=1)
    >>> painted = style.copy(); painted[:, 4:] = 0.0  # region 1 painted like region 0
    >>> fidelity_by_region(painted, labels, model, border=1).tolist()
    [1.0, 0.0, nan]
    """
    image = _check_image(image, "image")
    target_labels = _check_labels(target_labels, image.shape[:2], model.k, "target_labels")
    interior = interior_mask(target_labels, border)
    truth = target_labels[interior]
    hits = np.bincount(truth[model.classify(image)[interior] == truth], minlength=model.k)
    totals = np.bincount(truth, minlength=model.k)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, hits / np.maximum(totals, 1), np.nan)


def fidelity_scale(
    style: np.ndarray,
    style_labels: np.ndarray,
    target_labels: np.ndarray,
    model: RegionColourModel,
    border: int = 4,
    seed: int = 0,
) -> dict[str, float]:
    """Reference figures that put a region fidelity in scale.

    Parameters
    ----------
    style : ndarray, float, shape (Hs, Ws, 3)
        Style image the model was fitted on, RGB in [0, 1].
    style_labels : ndarray, uint8, shape (Hs, Ws)
        Its semantic map.
    target_labels : ndarray, uint8, shape (H, W)
        Target map that outputs are scored against.
    model : RegionColourModel
    border : int
        As in :func:`region_fidelity`.
    seed : int
        Seed of the uniform noise image.

    Returns
    -------
    dict
        ``"noise"``: fidelity of uniform RGB noise on ``target_labels`` (the floor);
        ``"style"``: fidelity of the style image on its own map (the ceiling a
        perfect stylization can expect).
    """
    noise = np.random.default_rng(seed).random((*np.shape(target_labels)[:2], 3))
    return {
        "noise": region_fidelity(noise, target_labels, model, border),
        "style": region_fidelity(style, style_labels, model, border),
    }


def _local_average(image: np.ndarray, blur: int) -> np.ndarray:
    if blur == 0:
        return image
    # Reflect at the image edge so edge pixels average over their own region.
    return ndimage.uniform_filter(image, size=(2 * blur + 1, 2 * blur + 1, 1), mode="reflect")


def _check_image(image: np.ndarray, name: str) -> np.ndarray:
    image = np.asarray(image, dtype=np.float64)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"{name} must be an RGB array of shape (H, W, 3), got shape {image.shape}")
    if not np.isfinite(image).all():
        raise ValueError(f"{name} contains NaN or infinite values; pass RGB floats in [0, 1]")
    return image


def _check_labels(labels: np.ndarray, shape: tuple[int, ...], k: int, name: str) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.shape != tuple(shape):
        raise ValueError(f"{name} has shape {labels.shape} but the image is {tuple(shape)}; pass a map of the same size")
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{name} must hold integer region labels, got dtype {labels.dtype}")
    if not 1 <= k <= 256:
        raise ValueError(f"k must be in 1..256, got {k}")
    if labels.size and (labels.min() < 0 or labels.max() >= k):
        raise ValueError(f"{name} holds labels {labels.min()}..{labels.max()} but k={k}; labels must be in 0..{k - 1}")
    return labels
