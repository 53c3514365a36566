"""What the server does with an upload, as plain functions of bytes: snap it, render it, make random maps.

A map goes through the same steps as in ``doodle render`` (snap every colour
to the style palette at full size, then a nearest-neighbour resize to the
output size, then one forward pass), so the same map and seed give the same
pixels.
"""

from __future__ import annotations

import time
from typing import NamedTuple

import numpy as np

import maskgen
from doodle.images import ImageTooLarge, fit_size, to_uint8
from doodle.maps.palette import Palette
from doodle.maps.semantic import target_labels
from doodle.painting.render import render_labels
from doodle.serve.imagebytes import decode_image, encode_map_png, encode_png
from doodle.serve.styles import ServedStyle

#: Longest side of a render or a random map, in pixels (sizes the page offers: up to 1024).
MAX_RENDER_SIDE = 1024
#: Smallest random map side (maskgen needs room for its filter and regions).
MIN_MAP_SIDE = 16


class OffPalette(ValueError):
    """A map painted with colours the style does not know."""


class Rendered(NamedTuple):
    """A render as the server sends it."""

    png: bytes
    seconds: float  #: server time: decode, snap, forward pass and PNG encoding
    width: int
    height: int


def map_labels(data: bytes, palette: Palette, size: int | None = None) -> np.ndarray:
    """Decode an uploaded map and label it with the style's regions.

    Parameters
    ----------
    data : bytes
        PNG (or JPEG...) bytes of a map painted with the palette colours.
    palette : Palette
        The style's regions.
    size : int or None
        Longest side of the result (nearest-neighbour resize); ``None`` keeps
        the map's size.

    Returns
    -------
    np.ndarray
        ``uint8`` ``(H, W)`` labels.

    Raises
    ------
    ImageTooLarge
        The upload, or the requested size, is over the limits.
    OffPalette
        Colours far from every palette colour; the message lists the palette.
    ValueError
        Not an image.
    """
    rgb = decode_image(data)
    out = fit_size(*rgb.shape[:2], size)
    if max(out) > MAX_RENDER_SIDE:
        raise ImageTooLarge(
            f"the result would be {out[1]}x{out[0]} pixels; at most {MAX_RENDER_SIDE} on the longest side: "
            f"send size={MAX_RENDER_SIDE} or less"
        )
    try:
        return target_labels(rgb, palette, size)
    except ValueError as exc:
        raise OffPalette(f"the map does not match the style palette: {exc}") from None


def render_map(style: ServedStyle, data: bytes, seed: int = 0, size: int | None = None,
               precision: str = "auto") -> Rendered:
    """Render an uploaded map with a style's generator: PNG bytes and the server time it took.

    See :func:`map_labels` for ``data``, ``size`` and the errors, and
    :func:`doodle.painting.render.render_labels` for ``seed`` and ``precision``.
    """
    start = time.perf_counter()
    labels = map_labels(data, style.palette, size)
    rgb = to_uint8(render_labels(style.model, labels, seed=seed, precision=precision))
    png = encode_png(rgb)
    return Rendered(png, time.perf_counter() - start, rgb.shape[1], rgb.shape[0])


def snapped_map(style: ServedStyle, data: bytes, size: int | None = None) -> bytes:
    """An uploaded map repainted in the exact region colours, as PNG: what the page's canvas loads."""
    return encode_map_png(map_labels(data, style.palette, size), style.palette)


def random_map(style: ServedStyle, width: int, height: int, seed: int) -> bytes:
    """A fresh maskgen map with the style's K, in its region colours, as PNG.

    It uses the run's mask settings, so it looks like what the generator was
    trained on. A one-region style gets a plain map.

    Examples
    --------
    >>> import torch
    >>> from doodle.generators.texture import DoodleGenerator
    >>> style = ServedStyle("s", DoodleGenerator(k=3, scales=2, width=4), Palette.from_colours(
    ...     [[255, 0, 0], [0, 255, 0], [0, 0, 255]]), step=0, loss_net="random")
    >>> from doodle.serve.imagebytes import decode_image
    >>> rgb = decode_image(random_map(style, 64, 48, seed=1))
    >>> rgb.shape, len(np.unique(rgb.reshape(-1, 3), axis=0))
    ((48, 64, 3), 3)
    """
    for name, side in (("width", width), ("height", height)):
        if not MIN_MAP_SIDE <= side <= MAX_RENDER_SIDE:
            raise ValueError(f"{name} must be {MIN_MAP_SIDE}..{MAX_RENDER_SIDE} pixels, got {side}")
    if style.k < 2:
        labels = np.zeros((height, width), np.uint8)
    else:
        params = maskgen.MaskParams(width=width, height=height, regions=(style.k, style.k), **style.mask)
        try:
            labels = maskgen.make_mask(params, seed, 0).labels
        except ValueError:
            # maskgen's own message names its command-line options, which a browser user does not have.
            raise ValueError(f"no random {width}x{height} map keeps all {style.k} regions of this style large enough "
                             f"to paint; try a larger map or another seed") from None
    return encode_map_png(labels, style.palette)
