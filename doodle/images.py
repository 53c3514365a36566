"""Image I/O for doodles: read any common image as RGB, write PNGs atomically, resize.

Images live in two forms: ``numpy`` arrays ``(H, W, 3)`` (``uint8`` 0..255 or
``float32`` 0..1) for files and maps, and ``torch`` tensors ``(1, 3, H, W)``
``float32`` 0..1 for the networks. Label maps are ``uint8`` ``(H, W)``.

Untrusted files: Pillow refuses images with more than :data:`MAX_IMAGE_PIXELS`
pixels (a "decompression bomb": a few kilobytes of PNG that expand to gigabytes),
and truncated files raise instead of being silently padded.
"""

from __future__ import annotations

import os
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from PIL import Image, ImageOps

from maskgen.errors import one_line
from maskgen.fileio import atomic_path, make_folder

#: Largest image read, in pixels: 4 x 4096 x 4096 (an 8192 x 8192 image). Far
#: above any useful doodle size, far below what would exhaust memory (~200 MB as
#: RGB). Pillow warns above this and errors above twice this; both are refused.
MAX_IMAGE_PIXELS = 4096 * 4096 * 4
Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
# Pillow's default, stated so that nobody flips it: a truncated file must fail.
Image.LOAD_TRUNCATED_IMAGES = False
#: What Pillow raises for a broken file: SyntaxError from some format plugins,
#: OSError for truncation, UnidentifiedImageError (a ValueError)...
PILLOW_ERRORS = (OSError, SyntaxError, ValueError, EOFError)
#: Files taken as images (case-insensitive) where a folder of maps or photos is
#: given; anything else in the folder is ignored.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
#: The EXIF tag of a photo's orientation, and its values that turn the picture by 90 degrees.
EXIF_ORIENTATION, TURNING_ORIENTATIONS = 0x0112, (5, 6, 7, 8)


class ImageTooLarge(ValueError):
    """An image with more pixels than may be decoded safely."""


@contextmanager
def refuse_bombs(what: str, fix: str) -> Iterator[None]:
    """Refuse, as :class:`ImageTooLarge`, images that Pillow decodes in the block with too many pixels.

    Between 1x and 2x ``PIL.Image.MAX_IMAGE_PIXELS`` Pillow only warns; those are
    refused too.

    Parameters
    ----------
    what : str
        The image, for the message (``"image PATH"``, ``"the map"``).
    fix : str
        What to do about it, ending the message.

    Examples
    --------
    >>> with refuse_bombs("the map", "scale it down"):
    ...     raise Image.DecompressionBombError("too many pixels")
    Traceback (most recent call last):
    ...
    doodle.images.ImageTooLarge: the map is too large to read safely (too many pixels); scale it down
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            yield
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLarge(f"{what} is too large to read safely ({one_line(exc)}); {fix}") from None


def list_images(folder: Path) -> list[Path]:
    """The files of ``folder`` with an image suffix (:data:`IMAGE_SUFFIXES`), sorted by name."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def load_rgb(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as RGB.

    RGBA and LA lose their alpha channel (maps mark regions by colour only),
    L and P (palette) images are expanded to RGB, 16-bit greyscale is scaled to
    8 bits, and a photo's EXIF orientation is applied (phones store portraits
    as rotated landscapes), so the array is the picture as viewers show it.

    Parameters
    ----------
    path : path-like
        A PNG, JPEG or any other format Pillow reads.

    Returns
    -------
    np.ndarray
        ``uint8`` array of shape ``(H, W, 3)``.

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    ValueError
        ``path`` is not a readable image or is truncated.
    ImageTooLarge
        ``path`` is larger than ``PIL.Image.MAX_IMAGE_PIXELS`` (a ValueError too).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"image not found: {path}")
    with refuse_bombs(f"image {path}", f"resize it below {Image.MAX_IMAGE_PIXELS} pixels"):
        try:
            with Image.open(path) as im:
                im.load()
                return pil_to_rgb(im)
        except PILLOW_ERRORS as exc:
            raise ValueError(f"cannot read image {path}: {one_line(exc)}; give a PNG or JPEG file") from None


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """``(height, width)`` of an image file from its header, without decoding it.

    Lets a command check that a job fits in memory before it loads anything.
    The size is :func:`load_rgb`'s: swapped where the EXIF orientation turns the picture.
    Raises the same one-line errors as :func:`load_rgb` for missing or unreadable files.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"image not found: {path}")
    try:
        with Image.open(path) as im:
            turned = im.getexif().get(EXIF_ORIENTATION, 1) in TURNING_ORIENTATIONS
            return (im.width, im.height) if turned else (im.height, im.width)
    except PILLOW_ERRORS as exc:
        raise ValueError(f"cannot read image {path}: {one_line(exc)}; give a PNG or JPEG file") from None


def pil_to_rgb(im: Image.Image) -> np.ndarray:
    """An opened Pillow image as ``uint8`` ``(H, W, 3)`` RGB, as :func:`load_rgb` reads files.

    Alpha is dropped, L and P are expanded, 16-bit greyscale is scaled (not
    clipped) to 8 bits, the EXIF orientation is applied. For images that arrive
    as bytes, not files.

    Examples
    --------
    >>> pil_to_rgb(Image.new("I;16", (2, 1), 65535))[0, 0].tolist()
    [255, 255, 255]
    """
    im = ImageOps.exif_transpose(im)
    if im.mode.startswith("I;16"):
        # convert("RGB") would clip 16-bit values at 255; scale them instead.
        grey = np.asarray(im, dtype=np.float64) / 257.0
        return np.repeat(np.rint(grey).astype(np.uint8)[:, :, None], 3, axis=2)
    return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()


def save_rgb(path: str | os.PathLike, image: np.ndarray | torch.Tensor) -> None:
    """Write an RGB image as PNG, atomically, creating parent directories.

    Parameters
    ----------
    path : path-like
        Destination; written through a temporary file and renamed, so a reader
        never sees a partial PNG.
    image : np.ndarray or torch.Tensor
        ``uint8`` ``(H, W, 3)``, float ``(H, W, 3)`` in [0, 1], or a tensor
        ``(3, H, W)`` / ``(1, 3, H, W)`` in [0, 1]. Floats are clipped to [0, 1].
    """
    if isinstance(image, torch.Tensor):
        rgb = to_uint8(image)
    else:
        rgb = _array_to_uint8(np.asarray(image))
    path = Path(path)
    make_folder(path.parent)
    with atomic_path(path, suffix=".png") as tmp:
        Image.fromarray(rgb).save(tmp, format="PNG")


def _array_to_uint8(image: np.ndarray) -> np.ndarray:
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an RGB image of shape (H, W, 3), got shape {image.shape}")
    if image.dtype == np.uint8:
        return image
    return np.rint(np.clip(image.astype(np.float32), 0.0, 1.0) * 255.0).astype(np.uint8)


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """An ``(H, W, 3)`` image as the networks' ``float32`` ``(1, 3, H, W)`` tensor in [0, 1].

    ``uint8`` images are scaled by 1/255; float images are taken as they are
    (no 8-bit quantization, so optimized pixels survive a round trip).

    Examples
    --------
    >>> to_tensor(np.full((2, 5, 3), 255, np.uint8)).shape
    torch.Size([1, 3, 2, 5])
    >>> float(to_tensor(np.full((1, 1, 3), 0.3, np.float64))[0, 0, 0, 0])
    0.30000001192092896
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an RGB image of shape (H, W, 3), got shape {image.shape}")
    rgb = image.astype(np.float32) / 255.0 if image.dtype == np.uint8 else image.astype(np.float32)
    return torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1)))[None]


def to_array(tensor: torch.Tensor) -> np.ndarray:
    """One image tensor ``(1, 3, H, W)`` or ``(3, H, W)`` as a ``float32`` ``(H, W, 3)`` array.

    The inverse of :func:`to_tensor` for float images (values are not clipped).

    Examples
    --------
    >>> to_array(torch.zeros(1, 3, 2, 5)).shape
    (2, 5, 3)
    """
    t = tensor.detach()
    if t.dim() == 4:
        if t.shape[0] != 1:
            raise ValueError(f"expected one image, got a batch of {t.shape[0]}; convert them one by one")
        t = t[0]
    if t.dim() != 3 or t.shape[0] != 3:
        raise ValueError(f"expected a tensor of shape (3, H, W) or (1, 3, H, W), got {tuple(tensor.shape)}")
    return t.float().cpu().permute(1, 2, 0).contiguous().numpy()


def to_uint8(tensor: torch.Tensor) -> np.ndarray:
    """Convert a ``(3, H, W)`` or ``(1, 3, H, W)`` tensor in [0, 1] to ``uint8`` ``(H, W, 3)``.

    Values are clipped to [0, 1] and rounded to the nearest level.
    """
    return _array_to_uint8(to_array(tensor))


def fit_size(height: int, width: int, longest: int | None) -> tuple[int, int]:
    """Scale ``(height, width)`` so that the longest side is ``longest``, keeping the aspect ratio.

    Parameters
    ----------
    height, width : int
        Current size in pixels.
    longest : int or None
        Wanted length of the longest side; ``None`` keeps the size.

    Returns
    -------
    (int, int)
        New ``(height, width)``, each at least 1, rounded to the nearest pixel.

    Examples
    --------
    >>> fit_size(320, 512, 256)
    (160, 256)
    >>> fit_size(3, 1000, 10)
    (1, 10)
    """
    if height < 1 or width < 1:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    if longest is None:
        return height, width
    if longest < 1:
        raise ValueError(f"size must be a positive number of pixels, got {longest}")
    scale = longest / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def resize_rgb(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize an RGB image with Lanczos filtering (antialiased when shrinking).

    Parameters
    ----------
    image : np.ndarray
        ``uint8`` ``(H, W, 3)`` or float ``(H, W, 3)`` in [0, 1].
    size : (int, int)
        Target ``(height, width)``.

    Returns
    -------
    np.ndarray
        ``(height, width, 3)`` with the dtype of ``image`` (floats as ``float32``
        clipped to [0, 1]).
    """
    height, width = size
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an RGB image of shape (H, W, 3), got shape {image.shape}")
    if image.shape[:2] == (height, width):
        return image.copy()
    if image.dtype == np.uint8:
        return np.asarray(Image.fromarray(image).resize((width, height), Image.Resampling.LANCZOS))
    # Float images: one 32-bit channel at a time keeps full precision.
    channels = [
        np.asarray(Image.fromarray(image[:, :, c].astype(np.float32)).resize((width, height), Image.Resampling.LANCZOS))
        for c in range(3)
    ]
    return np.clip(np.stack(channels, axis=2), 0.0, 1.0).astype(np.float32)


def resize_labels(labels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize a label map with nearest neighbour (labels are never blended).

    Output pixel ``(i, j)`` takes the input pixel under its centre.

    Parameters
    ----------
    labels : np.ndarray
        Integer ``(H, W)`` array.
    size : (int, int)
        Target ``(height, width)``.

    Returns
    -------
    np.ndarray
        ``(height, width)`` array with the dtype of ``labels``.

    Examples
    --------
    >>> resize_labels(np.array([[0, 1], [2, 3]], np.uint8), (4, 4))[:, 0].tolist()
    [0, 0, 2, 2]
    """
    height, width = size
    if labels.ndim != 2:
        raise ValueError(f"expected a label map of shape (H, W), got shape {labels.shape}")
    if height < 1 or width < 1:
        raise ValueError(f"size must be positive, got {width}x{height}")
    rows = ((np.arange(height) + 0.5) * labels.shape[0] / height).astype(np.int64)
    cols = ((np.arange(width) + 0.5) * labels.shape[1] / width).astype(np.int64)
    return labels[np.minimum(rows, labels.shape[0] - 1)[:, None], np.minimum(cols, labels.shape[1] - 1)[None, :]]
