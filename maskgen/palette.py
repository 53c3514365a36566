"""The mask palette and label PNG files.

Masks are stored as 8-bit palette ("P") PNGs whose pixel values *are* the
labels, so any image viewer shows them in colour and any reader gets the labels
back without a colour lookup.
"""

from __future__ import annotations

import colorsys
import io
import os
from pathlib import Path

import numpy as np
from PIL import Image

from maskgen.fileio import atomic_write_bytes

# Sasha Trubetskoy's "20 simple, distinct colours" (no black), then white.
_DISTINCT = [
    (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48),
    (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212),
    (0, 128, 128), (128, 0, 0), (170, 110, 40), (255, 250, 200), (220, 190, 255),
    (170, 255, 195), (128, 128, 0), (255, 215, 180), (0, 0, 128), (128, 128, 128),
    (255, 255, 255),
]  # fmt: skip


def _extended_palette() -> np.ndarray:
    colours = list(_DISTINCT)
    # Golden-ratio hue steps with cycling saturation/value; value >= 0.55 keeps
    # every entry far from black.
    i = 0
    while len(colours) < 256:
        hue = (i * 0.6180339887498949) % 1.0
        sat = (0.45, 0.7, 0.95)[i % 3]
        val = (0.95, 0.75, 0.55)[(i // 3) % 3]
        colours.append(tuple(round(255 * c) for c in colorsys.hsv_to_rgb(hue, sat, val)))
        i += 1
    return np.array(colours, dtype=np.uint8)


PALETTE: np.ndarray = _extended_palette()
"""(256, 3) uint8 RGB colour of each label: 20 hand-picked distinct colours, white, then generated hues."""
PALETTE.setflags(write=False)

PNG_COMPRESS_LEVEL = 3  # zlib level 3 is both smaller and faster than 1 on smooth label images


def encode_label_png(labels: np.ndarray) -> bytes:
    """Encode a label image as palette PNG bytes.

    Parameters
    ----------
    labels : numpy.ndarray
        uint8, shape ``(height, width)``.

    Returns
    -------
    bytes
        PNG file contents with :data:`PALETTE`.
    """
    if labels.ndim != 2 or labels.dtype != np.uint8:
        raise ValueError(f"labels must be a 2-D uint8 array, got {labels.ndim}-D {labels.dtype}")
    img = Image.frombytes("P", (labels.shape[1], labels.shape[0]), labels.tobytes())
    img.putpalette(PALETTE.tobytes())
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=False, compress_level=PNG_COMPRESS_LEVEL)
    return buf.getvalue()


def write_label_png(path: str | os.PathLike, labels: np.ndarray) -> None:
    """Write ``labels`` to ``path`` as a palette PNG, atomically (temp file + rename)."""
    atomic_write_bytes(path, encode_label_png(labels))


def read_label_png(path: str | os.PathLike) -> np.ndarray:
    """Read the labels of a palette PNG written by :func:`write_label_png`.

    Parameters
    ----------
    path : path-like
        PNG file.

    Returns
    -------
    numpy.ndarray
        uint8, shape ``(height, width)``: the palette indices.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If it is truncated, not a PNG, or not a palette image (message names the file).
    """
    path = Path(path)
    try:
        with Image.open(path) as img:
            img.load()
            if img.mode != "P":
                raise ValueError(f"{path}: mode {img.mode}, not a palette (P) mask; regenerate it with maskgen generate")
            return np.asarray(img, dtype=np.uint8).copy()
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: mask file missing; run maskgen verify on the dataset") from None
    except (OSError, SyntaxError, Image.DecompressionBombError) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise ValueError(f"{path}: unreadable or truncated PNG ({reason}); delete it and rerun maskgen generate --resume") from None
