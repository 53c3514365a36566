"""Colour preservation for photo stylization: luminance-only transfer in YIQ.

Gatys et al. 2016, "Preserving color in neural artistic style transfer": paint
only the luminance. The style's luminance is matched to the photo's mean and
standard deviation, the optimization runs on grey images (the loss network
still takes three equal channels), and the result's luminance is joined to the
photo's chroma (YIQ's I and Q). The output keeps the photo's colours exactly
where no channel clips, and takes the painting's strokes and shading only.

All images are ``float`` ``(H, W, 3)`` RGB in [0, 1].
"""

from __future__ import annotations

import numpy as np

#: RGB -> YIQ (FCC NTSC); Y is Rec. 601 luma.
RGB_TO_YIQ = np.array([[0.299, 0.587, 0.114],
                       [0.596, -0.274, -0.322],
                       [0.211, -0.523, 0.312]], np.float32)
YIQ_TO_RGB = np.linalg.inv(RGB_TO_YIQ).astype(np.float32)


def rgb_to_yiq(image: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` RGB in [0, 1] to ``float32`` ``(H, W, 3)`` YIQ (Y in [0, 1], I and Q signed).

    Examples
    --------
    >>> rgb_to_yiq(np.ones((1, 1, 3))).round(6).tolist()
    [[[1.0, 0.0, 0.0]]]
    """
    return np.asarray(image, np.float32) @ RGB_TO_YIQ.T


def yiq_to_rgb(yiq: np.ndarray) -> np.ndarray:
    """The inverse of :func:`rgb_to_yiq`, clipped to [0, 1] (``float32`` ``(H, W, 3)``)."""
    return np.clip(np.asarray(yiq, np.float32) @ YIQ_TO_RGB.T, 0.0, 1.0)


def luminance_rgb(image: np.ndarray) -> np.ndarray:
    """The luminance of ``image`` as a grey RGB image (three equal channels, ``float32`` ``(H, W, 3)``).

    Examples
    --------
    >>> [round(float(v), 3) for v in luminance_rgb(np.array([[[1.0, 0.0, 0.0]]]))[0, 0]]
    [0.299, 0.299, 0.299]
    """
    y = rgb_to_yiq(image)[..., 0]
    return np.repeat(y[..., None], 3, axis=2)


def match_luminance(style: np.ndarray, content: np.ndarray) -> np.ndarray:
    """The style's luminance with the content's mean and standard deviation, as grey RGB.

    ``L' = (sigma_c / sigma_s) (L_s - mu_s) + mu_c`` (clipped to [0, 1]), so that
    the painting's tones do not pull the photo's overall brightness and contrast
    toward its own. A flat style keeps its (shifted) flat luminance.

    Parameters
    ----------
    style : ndarray, float, shape (Hs, Ws, 3)
    content : ndarray, float, shape (H, W, 3)

    Returns
    -------
    ndarray, float32, shape (Hs, Ws, 3)

    Examples
    --------
    >>> style = np.linspace(0, 1, 12, dtype=np.float32).reshape(2, 2, 3)
    >>> content = np.full((3, 3, 3), 0.4, np.float32)
    >>> round(float(match_luminance(style, content).mean()), 4)  # the photo's mean
    0.4
    """
    ls = rgb_to_yiq(style)[..., 0]
    lc = rgb_to_yiq(content)[..., 0]
    spread = ls.std()
    scale = lc.std() / spread if spread > 0 else 0.0
    matched = np.clip((ls - ls.mean()) * scale + lc.mean(), 0.0, 1.0).astype(np.float32)
    return np.repeat(matched[..., None], 3, axis=2)


def join_chroma(luma: np.ndarray, chroma: np.ndarray) -> np.ndarray:
    """RGB with the luminance of ``luma`` and the I, Q chroma of ``chroma`` (same size).

    Parameters
    ----------
    luma : ndarray, float, shape (H, W, 3)
        The stylized image (grey or not: only its Y counts).
    chroma : ndarray, float, shape (H, W, 3)
        The photo whose colours are kept.

    Returns
    -------
    ndarray, float32, shape (H, W, 3), clipped to [0, 1]

    Examples
    --------
    >>> red = np.array([[[0.8, 0.1, 0.1]]], np.float32)
    >>> out = join_chroma(luminance_rgb(red), red)  # a photo's own luminance gives the photo back
    >>> np.allclose(out, red, atol=1e-5)
    True
    """
    if np.shape(luma) != np.shape(chroma):
        raise ValueError(f"luminance image {np.shape(luma)} and chroma image {np.shape(chroma)} differ in size; "
                         f"resize one to the other")
    yiq = rgb_to_yiq(chroma)
    yiq[..., 0] = rgb_to_yiq(luma)[..., 0]
    return yiq_to_rgb(yiq)
