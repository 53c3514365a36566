"""Images to and from bytes for the web server: uploads decoded safely in memory, PNG replies.

Uploads never touch the filesystem under a name the client chose: they are
decoded from the request body. Only a few well-known formats are opened (an
exotic decoder is attack surface a doodle does not need), and the size is read
from the header and checked before any pixel is decoded, so a few kilobytes of
PNG cannot expand to gigabytes.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from doodle.images import PILLOW_ERRORS, ImageTooLarge, pil_to_rgb, refuse_bombs
from doodle.maps.palette import Palette, colorize
from maskgen.errors import one_line

#: Longest accepted side of an uploaded image, in pixels.
MAX_UPLOAD_SIDE = 4096
#: Formats an upload may be in.
UPLOAD_FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "GIF")
_FORMAT_NAMES = ", ".join(UPLOAD_FORMATS[:-1]) + " or " + UPLOAD_FORMATS[-1]


def decode_image(data: bytes, what: str = "map", max_side: int = MAX_UPLOAD_SIDE) -> np.ndarray:
    """Decode an uploaded image to RGB, refusing non-images and oversized ones.

    Parameters
    ----------
    data : bytes
        The file's bytes.
    what : str
        What the image is, for messages.
    max_side : int
        Largest width or height accepted, in pixels.

    Returns
    -------
    np.ndarray
        ``uint8`` ``(H, W, 3)``; alpha is dropped, palette and grey images expanded
        (as :func:`doodle.images.load_rgb`).

    Raises
    ------
    doodle.images.ImageTooLarge
        Width or height over ``max_side``, or more pixels than Pillow decodes safely.
    ValueError
        Empty, truncated, or not a PNG/JPEG/WebP/BMP/GIF image.

    Examples
    --------
    >>> decode_image(encode_png(np.zeros((2, 3, 3), np.uint8))).shape
    (2, 3, 3)
    >>> decode_image(b"GIF89a nonsense")
    Traceback (most recent call last):
    ...
    ValueError: the map is not a PNG, JPEG, WEBP, BMP or GIF image; send a PNG
    """
    if not data:
        raise ValueError(f"the {what} is empty; send a PNG file")
    with refuse_bombs(f"the {what}", "scale it down"):
        try:
            with Image.open(io.BytesIO(data), formats=UPLOAD_FORMATS) as im:
                if im.width > max_side or im.height > max_side:
                    raise ImageTooLarge(
                        f"the {what} is {im.width}x{im.height} pixels, more than {max_side}x{max_side}; "
                        f"scale it down"
                    )
                im.load()
                return pil_to_rgb(im)
        except ImageTooLarge:
            raise
        except Image.UnidentifiedImageError:
            raise ValueError(f"the {what} is not a {_FORMAT_NAMES} image; send a PNG") from None
        except PILLOW_ERRORS as exc:
            raise ValueError(f"the {what} is not a readable image ({one_line(exc)}); send a PNG") from None


def encode_png(rgb: np.ndarray) -> bytes:
    """``uint8`` ``(H, W, 3)`` as PNG bytes.

    zlib level 1: rendered textures barely compress anyway, and the default level
    costs tens of milliseconds per 512x512 image, a good part of a render.
    """
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb)).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def encode_map_png(labels: np.ndarray, palette: Palette) -> bytes:
    """Region labels ``uint8`` ``(H, W)`` as PNG bytes in the palette's exact region colours (what the page's canvas loads)."""
    return encode_png(np.rint(colorize(labels, palette) * 255).astype(np.uint8))
