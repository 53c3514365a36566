"""CIELAB colours: the perceptual space the map maker and the pixel judges measure in."""

from __future__ import annotations

import numpy as np


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


def rgb_to_lab(image: np.ndarray) -> np.ndarray:
    """CIELAB of a float RGB image in [0, 1] (clipped): ``(H, W, 3)`` -> ``float64`` ``(H, W, 3)``.

    Examples
    --------
    >>> rgb_to_lab(np.array([[[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]]]))[..., 0].round(1).tolist()  # L of white, black
    [[100.0, 0.0]]
    """
    image = np.asarray(image, np.float64)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an RGB array of shape (H, W, 3), got shape {image.shape}")
    return srgb_to_lab(np.clip(image, 0.0, 1.0) * 255.0)
