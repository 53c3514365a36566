"""``doodle demo --photos``: train a photo stylizer on scikit-image's bundled photos, paint held-out ones.

The photos ship inside scikit-image's wheel, so the demo runs offline (their
sources are in ``skimage.data``'s docstrings): ``astronaut`` (Eileen Collins,
NASA, public domain), ``coffee`` (CC0, Rachel Michetti), ``camera`` (CC0, Lav
Varshney), ``immunohistochemistry`` (CMMI, no known copyright restrictions),
``hubble_deep_field`` (NASA, public domain); held out: ``chelsea`` (CC0,
Stefan van der Walt) and ``rocket`` (SpaceX, public domain).
"""

from __future__ import annotations

import shlex
import time
from pathlib import Path
from typing import Callable

import numpy as np

from doodle.demos.exemplar import EXEMPLAR, claim_demo_folder
from doodle.device import resolve_device
from doodle.images import fit_size, load_rgb, resize_rgb, save_rgb, to_array
from doodle.montage import at_height, side_by_side, stack_rows
from doodle.painting.stylize import stylize_photo
from doodle.training.checkpoint import generator_from_checkpoint, load_checkpoint
from doodle.training.config import TrainConfig
from doodle.training.train import train

#: scikit-image photos the stylizer trains on, and those it never sees (judged and shown).
TRAINING_PHOTOS = ("astronaut", "coffee", "camera", "immunohistochemistry", "hubble_deep_field")
HELD_OUT_PHOTOS = ("chelsea", "rocket")


def sample_photo(name: str) -> np.ndarray:
    """scikit-image's bundled photo ``name`` (``skimage.data.<name>``) as uint8 (H, W, 3) RGB.

    Greyscale photos come as grey RGB.
    """
    try:
        import skimage.data
    except ImportError:
        raise ValueError("the sample photos come with scikit-image: pip install scikit-image") from None
    if name not in TRAINING_PHOTOS + HELD_OUT_PHOTOS:
        raise ValueError(f"unknown sample photo {name!r}; choose from {', '.join(TRAINING_PHOTOS + HELD_OUT_PHOTOS)}")
    image = getattr(skimage.data, name)()
    return (np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image[..., :3]).astype(np.uint8)


def write_sample_photos(folder: Path, names: tuple[str, ...]) -> list[Path]:
    """Save the sample photos ``names`` as ``folder/<name>.png``; returns their paths."""
    paths = [folder / f"{name}.png" for name in names]
    for name, path in zip(names, paths):
        save_rgb(path, sample_photo(name))
    return paths


def run_photo_demo(
    out: str | Path = "doodle-demo-photos",
    steps: int = 300,
    size: int = 128,
    batch: int = 4,
    loss_net: str = "auto",
    style: str | Path = EXEMPLAR / "style.png",
    seed: int = 0,
    log: Callable[[str], None] = print,
    device: str = "auto",
) -> Path:
    """Train a photo stylizer for one painting, then paint photos it never saw.

    Parameters
    ----------
    out : path
        Demo folder: ``photos/`` (training photos), ``held_out/``, ``run/``,
        ``stylized/`` and ``demo.png`` (rows of photo | stylized | style). A
        folder made by an earlier demo is replaced; any other non-empty folder
        is refused.
    steps, size, batch : int
        Training steps, side of the training crops (px) and photos per step.
    loss_net : str
        As ``doodle train --loss-net``.
    style : path
        The painting (one region: no maps).
    device : str
        See :func:`doodle.device.resolve_device`.

    Returns
    -------
    Path
        The side-by-side image.
    """
    out = Path(out)
    claim_demo_folder(out)
    write_sample_photos(out / "photos", TRAINING_PHOTOS)
    held_out = write_sample_photos(out / "held_out", HELD_OUT_PHOTOS)

    t0 = time.perf_counter()
    config = TrainConfig(
        style=str(style), style_map=None, content=str(out / "photos"), out=str(out / "run"), size=size, batch=batch,
        steps=steps, loss_net=loss_net, seed=seed, sample_every=max(1, steps // 4),
        checkpoint_every=max(1, steps // 4), lr_half_life=max(1, steps // 2),
    )
    train(config, overwrite=True, log=log, device=device)
    trained = time.perf_counter() - t0

    model, _ = generator_from_checkpoint(load_checkpoint(out / "run" / "checkpoint.pt"))
    model.to(resolve_device(device))
    painting = load_rgb(style)
    rows, t1 = [], time.perf_counter()
    for path in held_out:
        photo = load_rgb(path)
        photo = resize_rgb(photo, fit_size(*photo.shape[:2], 2 * size))
        image = to_array(stylize_photo(model, photo))
        save_rgb(out / "stylized" / path.name, image)
        rows.append(side_by_side([photo, image, at_height(painting, photo.shape[0])]))
    rendered = time.perf_counter() - t1
    save_rgb(out / "demo.png", stack_rows(rows))
    log(f"trained {steps} steps in {trained:.0f} s; stylized {len(held_out)} held-out photos in {rendered:.2f} s")
    log(f"pictures: {out / 'demo.png'} (photo | stylized | style), stylized photos in {out / 'stylized'}")
    log(f"paint your own photos: doodle stylize --checkpoint {shlex.quote(str(out / 'run' / 'checkpoint.pt'))} "
        f"--content PHOTO -o OUT.png")
    return out / "demo.png"
