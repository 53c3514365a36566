"""Training photos for feed-forward stylization: a folder of photos (and their maps) as random square crops."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from doodle.images import IMAGE_SUFFIXES, image_size, list_images, load_rgb, resize_labels, resize_rgb
from doodle.maps.palette import Palette
from doodle.maps.semantic import check_aspect, target_labels
from doodle.training.maskdata import epoch_order


def find_photos(folder: str | os.PathLike, skip_corrupt: bool = False) -> list[Path]:
    """The readable photos of ``folder``, sorted by name.

    Every file's header is read up front, so that a corrupt file is reported
    before training starts, not hours into it.

    Raises
    ------
    ValueError
        ``folder`` is not a folder, holds no photo, or holds an unreadable one
        (unless ``skip_corrupt``: then it is left out with a warning).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"--content {folder} is not a folder; give a folder of photos (JPEG or PNG)")
    photos = []
    for path in list_images(folder):
        try:
            image_size(path)
        except ValueError as exc:
            if not skip_corrupt:
                raise ValueError(f"{exc}; remove it or pass --skip-corrupt") from None
            print(f"warning: skipping unreadable photo: {exc}", file=sys.stderr)
            continue
        photos.append(path)
    if not photos:
        raise ValueError(f"no photos in {folder} (looked for {', '.join(IMAGE_SUFFIXES)} files)")
    return photos


def photo_map(photo: Path, maps_dir: Path) -> Path:
    """The semantic map of ``photo`` in ``maps_dir``: the file with the photo's name stem (a PNG, say)."""
    found = sorted(p for p in maps_dir.glob(photo.stem + ".*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not found:
        raise ValueError(f"photo {photo.name} has no map in {maps_dir} (expected {photo.stem}.png); "
                         f"draw one or remove the photo")
    return found[0]


def photo_and_labels(photo: Path, map_path: Path | None, palette: Palette | None) -> tuple[np.ndarray, np.ndarray]:
    """A photo (uint8 (H, W, 3)) and its region labels (uint8 (H, W); all 0 without a map).

    A map of another size but the photo's aspect ratio is resized to it (nearest neighbour).
    """
    image = load_rgb(photo)
    if map_path is None:
        return image, np.zeros(image.shape[:2], np.uint8)
    rgb_map = load_rgb(map_path)
    check_map_fits_photo(photo, image.shape[:2], map_path, rgb_map.shape[:2])
    return image, resize_labels(target_labels(rgb_map, palette), image.shape[:2])


def check_map_fits_photo(photo: Path, photo_size: tuple[int, int], map_path: Path, map_size: tuple[int, int]) -> None:
    """Refuse a map whose aspect ratio differs from its photo's (sizes are (height, width))."""
    check_aspect(f"map {map_path}", map_size, f"photo {photo}", photo_size, "draw the map over the photo")


class TrainingPhotos(Dataset):
    """Index -> (photo uint8 (3, size, size), labels uint8 (size, size)); deterministic in (seed, index).

    Each index picks a photo (a fresh permutation of the folder every epoch)
    and a random square crop of it: the photo is scaled so that its shorter
    side is 1-1.25x ``size`` (Lanczos), cropped, and flipped left-right half the
    time; its map, if any, goes through the same crop (nearest neighbour).

    Parameters
    ----------
    photos : list of Path
        From :func:`find_photos`.
    size : int
        Side of the crops, in pixels.
    seed : int
    palette : Palette, optional
        The style's regions; needed with ``maps_dir``.
    maps_dir : path-like, optional
        A folder with one map per photo (same file stem), painted with the
        style map's colours. Without it every photo is one region (0).
    """

    def __init__(self, photos: list[Path], size: int, seed: int, palette: Palette | None = None,
                 maps_dir: str | os.PathLike | None = None) -> None:
        if maps_dir is not None and palette is None:
            raise ValueError("photo maps need the style's palette")
        self.photos, self.size, self.seed, self.palette = list(photos), int(size), int(seed), palette
        self.maps = None
        if maps_dir is not None:
            maps_dir = Path(maps_dir)
            if not maps_dir.is_dir():
                raise ValueError(f"--content-maps {maps_dir} is not a folder; give the folder of the photos' maps")
            self.maps = [photo_map(p, maps_dir) for p in self.photos]
            for photo, map_path in zip(self.photos, self.maps):  # headers only: cheap, and before training starts
                check_map_fits_photo(photo, image_size(photo), map_path, image_size(map_path))

    def __len__(self) -> int:
        # Indices are unbounded (a stream); the batch sampler decides which are used.
        return sys.maxsize

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        n = len(self.photos)
        pick = int(epoch_order(self.seed, index // n, n)[index % n])
        rng = np.random.default_rng([self.seed, index, 0x9E])
        image, labels = photo_and_labels(self.photos[pick], None if self.maps is None else self.maps[pick],
                                         self.palette)
        h, w = image.shape[:2]
        scale = self.size * rng.uniform(1.0, 1.25) / min(h, w)
        sh, sw = max(self.size, round(h * scale)), max(self.size, round(w * scale))
        image, labels = resize_rgb(image, (sh, sw)), resize_labels(labels, (sh, sw))
        top, left = int(rng.integers(0, sh - self.size + 1)), int(rng.integers(0, sw - self.size + 1))
        image = image[top:top + self.size, left:left + self.size]
        labels = labels[top:top + self.size, left:left + self.size]
        if rng.random() < 0.5:
            image, labels = image[:, ::-1], labels[:, ::-1]
        return (torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))),
                torch.from_numpy(np.ascontiguousarray(labels)))
