"""``doodle demo``: train on the built-in exemplar and render its doodles, end to end."""

from __future__ import annotations

import shlex
import time
from pathlib import Path
from typing import Callable

import maskgen
from doodle.device import resolve_device
from doodle.images import load_rgb, save_rgb, to_array
from doodle.maps.palette import colorize
from doodle.maps.semantic import load_target_map
from doodle.montage import at_height, side_by_side, stack_rows
from doodle.painting.render import render_labels
from doodle.training.checkpoint import generator_from_checkpoint, load_checkpoint
from doodle.training.config import TrainConfig
from doodle.training.train import train
from maskgen.fileio import make_folder

EXEMPLAR = Path(__file__).resolve().parents[2] / "datasets" / "exemplar"
MARKER = ".doodle-demo"
#: The demo's few steps train at balance 0.5 with colour weight 8, not at ``doodle train``'s
#: defaults: in 300 steps equal say's deep layers still painted pink halos along the hills, which the
#: 10-minute runs (1100-1500 steps) no longer paint (README "Generator v3": equal say); 0.5 paints clean in 300.
DEMO_BALANCE, DEMO_COLOUR_WEIGHT = 0.5, 8.0


def run_demo(
    out: str | Path = "doodle-demo",
    steps: int = 300,
    size: int = 128,
    batch: int = 4,
    loss_net: str = "auto",
    exemplar: str | Path = EXEMPLAR,
    random_masks: int = 3,
    seed: int = 0,
    log: Callable[[str], None] = print,
    device: str = "auto",
) -> Path:
    """Train a small generator on an exemplar, render its targets and random masks.

    Parameters
    ----------
    out : path
        Demo folder: ``run/`` (the training run), ``renders/`` and ``demo.png``
        (rows of map | output | style). A folder made by an earlier demo is
        replaced; any other non-empty folder is refused.
    steps, size, batch : int
        Training steps, side of the training masks (px) and masks per step.
    loss_net : str
        As ``doodle train --loss-net``.
    exemplar : path
        Folder with ``style.png``, ``style_map.png`` and ``target_*.png``.
    random_masks : int
        Random maskgen masks rendered besides the targets.
    device : str
        Where to train and render (see :func:`doodle.device.resolve_device`).

    Returns
    -------
    Path
        The side-by-side image.
    """
    exemplar, out = Path(exemplar), Path(out)
    style_path, map_path = exemplar / "style.png", exemplar / "style_map.png"
    if not style_path.exists() or not map_path.exists():
        raise FileNotFoundError(
            f"exemplar not found in {exemplar}; run `python scripts/make_exemplar.py` in a clone of the repository "
            "or pass --exemplar DIR with style.png, style_map.png and target_*.png"
        )
    targets = sorted(exemplar.glob("target_*.png"))
    claim_demo_folder(out)

    t0 = time.perf_counter()
    config = TrainConfig(
        style=str(style_path), style_map=str(map_path), out=str(out / "run"), size=size, batch=batch, steps=steps,
        loss_net=loss_net, seed=seed, sample_every=max(1, steps // 4), checkpoint_every=max(1, steps // 4),
        style_size=2 * size, lr_half_life=max(1, steps // 2), balance=DEMO_BALANCE, colour_weight=DEMO_COLOUR_WEIGHT,
    )
    train(config, overwrite=True, log=log, device=device)
    trained = time.perf_counter() - t0

    model, palette = generator_from_checkpoint(load_checkpoint(out / "run" / "checkpoint.pt"))
    model.to(resolve_device(device))
    style = load_rgb(style_path)
    maps = [(p.stem, load_target_map(p, palette)) for p in targets]
    params = maskgen.MaskParams(width=size * 3 // 2, height=size, regions=(len(palette), len(palette)))
    maps += [(f"random_{i}", maskgen.make_mask(params, seed + 7, i).labels) for i in range(random_masks)]
    rows = []
    t1 = time.perf_counter()
    for name, labels in maps:
        image = to_array(render_labels(model, labels, seed=seed))
        save_rgb(out / "renders" / f"{name}.png", image)
        h, w = labels.shape
        rows.append(side_by_side([colorize(labels, palette), image, at_height(style, h)]))
    rendered = time.perf_counter() - t1
    grid = stack_rows(rows)
    save_rgb(out / "demo.png", grid)
    log(f"trained {steps} steps in {trained:.0f} s; rendered {len(maps)} doodles in {rendered:.2f} s")
    log(f"pictures: {out / 'demo.png'} (map | output | style), renders in {out / 'renders'}, "
        f"training samples in {out / 'run' / 'samples'}")
    log(f"draw your own doodles in the browser: doodle serve --checkpoint {shlex.quote(str(out / 'run' / 'checkpoint.pt'))}")
    return out / "demo.png"


def claim_demo_folder(out: Path) -> None:
    """Create ``out`` for a demo; a folder an earlier demo made is reused, any other non-empty one refused."""
    if out.exists() and any(out.iterdir()) and not (out / MARKER).exists():
        raise ValueError(f"{out} is not empty and was not made by `doodle demo`; pass another --out")
    make_folder(out)
    (out / MARKER).write_text("made by doodle demo; the next demo run may replace this folder\n")
