"""Legends of a style: which map colour paints which part of the painting.

A legend has one row per region: its colour swatches (every colour of the
style map merged into it), its index, colours and share of the painting as
text, a crop of the painting where the region is densest, and a thumbnail of
the whole painting with everything but the region faded. ``doodle legend``
writes one for a style map or a checkpoint, ``doodle train`` writes
``RUN/legend.png``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

from doodle.images import load_rgb, resize_labels, resize_rgb, save_rgb
from doodle.maps.palette import Palette, hex_colour
from doodle.maps.semantic import load_style, load_target_map
from doodle.montage import side_by_side, stack_rows
from doodle.training.checkpoint import checkpoint_palette, load_checkpoint

#: Height of a row, in pixels.
ROW = 96
#: Width of the text column, in pixels.
TEXT_WIDTH = 190
#: The crop is the square window, this share of the painting's shorter side,
#: where the region covers the most pixels.
CROP_SHARE = 0.35
#: Outside the region, crops and thumbnails are blended this much towards white.
FADE = 0.7
#: Checkpoint suffixes ``doodle legend`` recognises; anything else is a map.
CHECKPOINT_SUFFIXES = (".pt", ".pth")


def legend_image(image: np.ndarray, labels: np.ndarray, palette: Palette) -> np.ndarray:
    """Draw the legend of a style: one row per region.

    Parameters
    ----------
    image : np.ndarray
        The painting, ``(H, W, 3)``: ``uint8`` or float in [0, 1].
    labels : np.ndarray
        ``uint8`` ``(H, W)`` its regions, ``0..K-1``.
    palette : Palette
        The regions' map colours.

    Returns
    -------
    np.ndarray
        ``float32`` ``(K * ROW + gaps, width, 3)`` RGB in [0, 1].

    Examples
    --------
    >>> labels = np.zeros((30, 40), np.uint8); labels[20:] = 1
    >>> legend = legend_image(np.zeros((30, 40, 3)), labels, Palette([[[0, 0, 255]], [[255, 0, 0], [200, 0, 0]]]))
    >>> legend.shape[0] == 2 * ROW + 4, legend.dtype
    (True, dtype('float32'))
    """
    rgb = image if image.dtype == np.uint8 else np.rint(np.clip(image, 0, 1) * 255).astype(np.uint8)
    if labels.shape != rgb.shape[:2]:
        raise ValueError(f"labels of shape {labels.shape} do not fit a painting of {rgb.shape[:2]}")
    if labels.size and int(labels.max()) >= palette.k:
        raise ValueError(f"labels use region {int(labels.max())} but the palette has {palette.k} regions")
    shares = np.bincount(labels.ravel(), minlength=palette.k) / labels.size
    widest = max(len(m) for m in palette.members)
    font = ImageFont.load_default(size=14)
    rows = []
    for region, members in enumerate(palette.members):
        inside = labels == region
        swatches = np.ones((ROW, widest * (ROW // 2), 3), np.float32)
        for i, colour in enumerate(members):
            swatches[:, i * (ROW // 2) : (i + 1) * (ROW // 2) - 2] = colour / 255.0
        text = [f"region {region}", "+".join(hex_colour(c) for c in members), f"{shares[region]:.0%} of the painting"]
        if len(members) > 1:
            text.append(f"{len(members)} colours merged")
        rows.append(side_by_side([swatches, _text(text, font), region_crop(rgb, inside), _thumbnail(rgb, inside)]))
    return stack_rows(rows)


def write_legend(path: str | os.PathLike, image: np.ndarray, labels: np.ndarray, palette: Palette) -> None:
    """Write :func:`legend_image` as a PNG, atomically."""
    save_rgb(path, legend_image(image, labels, palette))


def legend_for(
    source: str | os.PathLike,
    out: str | os.PathLike,
    style: str | os.PathLike | None = None,
    regions: int | None = None,
) -> Palette:
    """``doodle legend``: write the legend of a style map or of a checkpoint's style.

    Parameters
    ----------
    source : path-like
        A style map (any image), or a ``.pt``/``.pth`` checkpoint of
        ``doodle train``, whose palette is used and whose style map and painting
        (from its config) are the defaults.
    out : path-like
        The legend PNG.
    style : path-like or None
        The painting; required with a map, the checkpoint's by default.
    regions : int or None
        Regions of a style map (as ``--regions`` of ``doodle train``);
        a checkpoint's own by default.

    Returns
    -------
    Palette
        The regions the legend shows.

    Raises
    ------
    FileNotFoundError, ValueError
        Missing files, no painting given for a map, or maps that do not fit
        the palette.
    """
    source = Path(source)
    if source.suffix.lower() not in CHECKPOINT_SUFFIXES:
        if style is None:
            raise ValueError(f"{source} is a style map: give the painting it was drawn over with --style")
        exemplar = load_style(style, source, regions=regions, log=lambda _msg: None)
        write_legend(out, exemplar.image, exemplar.labels, exemplar.palette)
        return exemplar.palette
    ckpt = load_checkpoint(source)
    palette = checkpoint_palette(ckpt)
    config = ckpt["config"] if isinstance(ckpt["config"], dict) else {}
    style = style if style is not None else config.get("style")
    if style is None or config.get("style_map") is None:
        raise ValueError(f"{source} does not name its painting and style map; give --style")
    image = load_rgb(style)
    # Snapping the style map through the checkpoint's palette (merged colours
    # included) gives the labels training used.
    labels = load_target_map(config["style_map"], palette, size=max(image.shape[:2]))
    if labels.shape != image.shape[:2]:
        labels = resize_labels(labels, image.shape[:2])
    write_legend(out, image, labels, palette)
    return palette


def _text(lines: list[str], font: ImageFont.ImageFont) -> np.ndarray:
    panel = Image.new("RGB", (TEXT_WIDTH, ROW), "white")
    draw = ImageDraw.Draw(panel)
    for i, line in enumerate(lines):
        draw.text((6, 6 + 21 * i), line, fill="black", font=font)
    return np.asarray(panel, np.float32) / 255.0


def region_crop(rgb: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """The square window of the painting where a region is densest, the rest of the window faded.

    Parameters
    ----------
    rgb : ndarray, uint8, shape (H, W, 3)
        The painting.
    inside : ndarray, bool, shape (H, W)
        The region's pixels.

    Returns
    -------
    ndarray, float32, shape (ROW, ROW, 3)
        RGB in [0, 1]; its side is :data:`CROP_SHARE` of the painting's shorter side, resized.
    """
    h, w = inside.shape
    side = max(1, round(CROP_SHARE * min(h, w)))
    density = ndimage.uniform_filter(inside.astype(np.float32), side, mode="constant")
    # The filter centres the window; keep the window inside the painting.
    half = side // 2
    density = density[half : h - side + half + 1, half : w - side + half + 1]
    y, x = np.unravel_index(np.argmax(density), density.shape)
    return _fade(rgb[y : y + side, x : x + side], inside[y : y + side, x : x + side], (ROW, ROW))


def _thumbnail(rgb: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """The whole painting, ROW pixels high, everything but the region faded."""
    h, w = inside.shape
    return _fade(rgb, inside, (ROW, max(1, round(w * ROW / h))))


def _fade(rgb: np.ndarray, inside: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    faded = rgb.astype(np.float32) / 255.0
    faded[~inside] = faded[~inside] * (1 - FADE) + FADE
    return resize_rgb(faded, size)
