"""Training a feed-forward generator for one painting: a doodle painter, or a photo stylizer.

Doodles (Ulyanov et al.'s texture networks, "online" neural doodles): the
generator paints random masks (and crops of the style's own map) and learns
from the region style loss. Photos (Johnson et al. 2016, ``--content``): it
repaints random crops of photos and learns from the style loss plus a content
loss against each photo. One loop for both; read top to bottom: config ->
style targets -> data -> model/optimizer (or resume) -> loop (loss, step, log,
samples, checkpoint). The config is :mod:`doodle.training.config`, the run
folder :mod:`doodle.training.run_dir`, the learning-rate schedules
:mod:`doodle.training.schedule`.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np
import torch
import torch.distributed as dist
from tqdm.auto import tqdm

from doodle import __version__
from doodle.device import resolve_device
from doodle.generators.base import MaskGenerator
from doodle.generators.registry import build_generator, new_generator
from doodle.images import save_rgb, to_array, to_tensor
from doodle.lossnet.memory import check_fits, estimate_vgg_bytes
from doodle.lossnet.vgg import deepest_layer
from doodle.lossnet.weights import load_loss_net
from doodle.maps.legend import write_legend
from doodle.maps.palette import colorize, format_palette
from doodle.maps.semantic import StyleExemplar, load_style, one_hot
from doodle.montage import side_by_side, stack_rows
from doodle.precision import autocast, grad_scaler, resolve_precision
from doodle.style.loss import RegionStyleLoss
from doodle.training.checkpoint import load_checkpoint, save_checkpoint
from doodle.training.config import TrainConfig
from doodle.training.maskdata import StepBatches, TrainingMasks, held_out_masks
from doodle.training.photodata import TrainingPhotos, find_photos
from doodle.training.plot import update_run_curves
from doodle.training.run_dir import check_run_dir, open_run_dir, rewind_run
from doodle.training.schedule import budget_lr_factor, budget_spent, lr_factor
from maskgen.errors import USER_ERRORS
from maskgen.fileio import atomic_write_text

HELD_OUT_SEED_OFFSET = 1_000_003  # sample masks come from a seed stream training never draws from


def train_step(
    model: torch.nn.Module,
    loss_fn: RegionStyleLoss,
    optimizer: torch.optim.Optimizer,
    masks: torch.Tensor,
    noise: torch.Generator,
    precision: str,
    scaler: torch.amp.GradScaler | None = None,
    photos: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """One optimization step of the generator on a batch of one-hot masks (B, K, H, W).

    A photo stylizer also gets the batch's ``photos`` (B, 3, H, W) in [0, 1]:
    its input and its content targets. Everything runs on the masks' device;
    ``scaler`` (see :func:`doodle.precision.grad_scaler`) is needed for fp16 only.
    Returns the total loss and its parts (see :class:`doodle.style.loss.RegionStyleLoss`).
    """
    with autocast(precision, masks.device):
        images = model(masks, generator=noise, image=photos)
        loss, parts = loss_fn(images, masks, content=photos)
    optimizer.zero_grad(set_to_none=True)
    if scaler is not None and scaler.is_enabled():
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    else:
        loss.backward()
        optimizer.step()
    return loss, parts


def _worker_error(exc: BaseException) -> BaseException | None:
    """The data error a DataLoader worker raised, with its own message (None if ``exc`` is no such error).

    The loader re-raises a worker's exception as the same type with the message
    "Caught ValueError in DataLoader worker process 0. Original Traceback ...",
    the worker's whole traceback: the CLI's one-line error would be that
    traceback, squashed. The original message is the traceback's last entry.
    """
    text = str(exc)
    if not isinstance(exc, USER_ERRORS) or not re.match(r"Caught \w+ in DataLoader worker process \d+\.\nOriginal ", text):
        return None
    name = re.escape(type(exc).__qualname__)
    found = list(re.finditer(rf"^(?:[\w.]+\.)?{name}: ", text, flags=re.MULTILINE))
    if not found:
        return None
    try:
        return type(exc)(text[found[-1].end():].strip())
    except Exception:  # noqa: BLE001 - a type that takes other arguments keeps the loader's message
        return None


def _batches(loader: Iterable) -> Iterator:
    """``loader``'s batches; a bad mask or photo met in a worker stops with that file's one-line message."""
    batches = iter(loader)
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            return
        except USER_ERRORS as exc:
            unwrapped = _worker_error(exc)
            if unwrapped is None:
                raise
            raise unwrapped from None
        yield batch


def _distributed(device: torch.device) -> tuple[int, int]:
    """(rank, world size); initializes the process group when launched by torchrun.

    nccl between GPUs (each rank on its ``LOCAL_RANK``'s, see
    :func:`doodle.device.resolve_device`), gloo between CPU processes.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def loss_net_spec(net_id: str) -> str | None:
    """The ``--loss-net`` that loads the network ``net_id`` names (None for a weights file's: its path does)."""
    if net_id.startswith(("random-vgg19-", "random-vgg16-")):
        return "random" if net_id.startswith("random-vgg19-") else "random-vgg16"
    return {"vgg19-imagenet": "vgg19", "vgg16-hed": "vgg16-hed"}.get(net_id)


def _check_resumed_loss_net(recorded: str | None, net_id: str, requested: str, checkpoint: Path) -> None:
    """Refuse to resume against another loss network than the checkpoint's (Adam's state fits its loss only)."""
    if recorded is None or recorded == net_id:
        return
    spec = loss_net_spec(recorded)
    fix = f"pass --loss-net {spec}" if spec else "pass --loss-net with the weights file it was trained with"
    raise ValueError(f"{checkpoint} was trained against the loss net {recorded}, but --loss-net {requested} now gives "
                     f"{net_id}; {fix} to resume it, or start a new run to train against {net_id}")


def _load_loss_net_rank0_first(spec: str, layers: tuple[str, ...], seed: int, rank: int, world: int,
                               log: Callable[[str], None]) -> torch.nn.Module:
    """The loss network, resolved (and on a fresh machine fetched) by rank 0 alone.

    The other ranks wait, then load what rank 0 resolved from the cache: fetching
    at once they would race on it, and an ``auto`` that fell back to random
    weights on rank 0 must not find other weights elsewhere.
    """
    resolved: list[str | None] = [None]
    if rank == 0:
        try:
            net = load_loss_net(spec, layers=layers, seed=seed, log=log)
            resolved = [loss_net_spec(net.net_id) if spec == "auto" else spec]
        finally:
            if world > 1:
                dist.broadcast_object_list(resolved, src=0)  # None: rank 0 failed, and says why
        return net
    dist.broadcast_object_list(resolved, src=0)
    if resolved[0] is None:
        raise ValueError("rank 0 could not load the loss network; see its error")
    return load_loss_net(resolved[0], layers=layers, seed=seed, log=log)


def load_training_style(config: TrainConfig, log: Callable[[str], None] = print) -> StyleExemplar:
    """The style exemplar a run trains against: image and labels at ``--style-size`` (default ``--size``).

    A photo stylizer without photo maps sees the painting as one region.
    """
    style_map = None if config.content is not None and config.content_maps is None else config.style_map
    return load_style(config.style, style_map, regions=config.regions, size=config.style_size or config.size, log=log)


def style_loss(config: TrainConfig, net: torch.nn.Module, style: StyleExemplar) -> RegionStyleLoss:
    """The run's region style loss: Gram targets of ``style`` for ``config``'s layers and weights."""
    return RegionStyleLoss(net, to_tensor(style.image), one_hot(style.labels, style.k), layers=config.style_layers,
                           layer_weights=config.layer_weights, style_weight=config.style_weight,
                           tv_weight=config.tv_weight, relative=config.relative,
                           balance=config.balance,
                           colour_weight=config.colour_weight,
                           content_weight=config.content_weight if config.content else 0.0,
                           content_layers=config.content_layers)


def save_samples(path: Path, model: MaskGenerator, masks: np.ndarray, palette: np.ndarray, seed: int,
                 precision: str, photos: np.ndarray | None = None) -> None:
    """One PNG with a row per mask ``(N, H, W)``: the mask in its colours (or the photo) | the painting.

    ``photos`` (N, H, W, 3) uint8: the inputs of a photo stylizer.
    """
    device = next(model.parameters()).device
    model.eval()
    image_in = None if photos is None else torch.cat([to_tensor(p) for p in photos]).to(device)
    with torch.no_grad(), autocast(precision, device):
        images = model(one_hot(masks, model.k).to(device), generator=torch.Generator(device).manual_seed(seed),
                       image=image_in)
        images = images.float().clamp(0, 1)
    model.train()
    inputs = [colorize(m, palette) for m in masks] if photos is None else list(photos)
    rows = [side_by_side([first, to_array(image)], gap=0) for first, image in zip(inputs, images)]
    save_rgb(path, stack_rows(rows, gap=0))


def train(
    config: TrainConfig,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    log: Callable[[str], None] = print,
    device: str = "auto",
    compile: bool = False,
) -> MaskGenerator:
    """Train (or resume) a doodle generator for one style; returns the trained model.

    Files written by rank 0 in ``config.out``: ``checkpoint.pt``, ``config.json``,
    ``log.jsonl``, ``legend.png`` (:mod:`doodle.maps.legend`) and ``samples/step_XXXXXX.png``. Every random draw (masks, noise,
    initialization) is a function of ``(seed, step, rank)``, so a resumed run repeats
    exactly what the uninterrupted one would have done on the same kind of device.
    The device (``--device``, see :func:`doodle.device.resolve_device`) is not part
    of the run: a run started on a GPU resumes on a CPU and back. ``compile``
    wraps the generator in ``torch.compile`` for the training steps (checkpoints
    hold the plain module's weights; on this project's 2-core CPU it was slower).
    """
    target = resolve_device(device)
    rank, world = _distributed(target)
    out = Path(config.out)
    if rank == 0:
        # Only checked here: --overwrite clears the old run once the inputs below are checked (open_run_dir).
        check_run_dir(out, resume=resume, overwrite=overwrite)
    ckpt = load_checkpoint(out / "checkpoint.pt") if resume else None
    if ckpt is not None:
        conflicts = config.resume_conflicts(TrainConfig.from_checkpoint(ckpt, out))
        if conflicts:
            named = "; ".join(f"{name} ({mine}; the run's {theirs})" for name, (mine, theirs) in conflicts.items())
            raise ValueError(f"{named}: not the settings of the run in {out}, which a resume takes "
                             f"from its checkpoint but for steps, minutes and loss_net; use "
                             f"TrainConfig.from_run(out, steps=...) or start a new run")
    if ckpt is not None and int(ckpt["step"]) > config.steps:
        # Else the resume trains nothing and still stores the smaller total as the run's.
        raise ValueError(f"{out / 'checkpoint.pt'} is at step {int(ckpt['step'])}, past --steps {config.steps}; "
                         f"pass a larger --steps to train it further")
    say = log if rank == 0 else (lambda _msg: None)
    if device == "auto" and target.type == "cuda":
        say(f"device: {target} ({torch.cuda.get_device_name(target)}; --device auto)")

    # Refuse a job that cannot fit before loading anything (VGG-19 is the larger net).
    deepest = deepest_layer("vgg19", config.style_layers)
    style_side = config.style_size or config.size
    check_fits(
        estimate_vgg_bytes(config.size, config.size, batch=config.batch, last_layer=deepest)
        + estimate_vgg_bytes(style_side, style_side, last_layer=deepest, backward=False),
        f"training at --size {config.size} --batch {config.batch}",
    )

    # Style exemplar.
    style = load_training_style(config, log=say)
    k = style.k
    if ckpt is not None and ckpt["config"].get("k", k) != k:
        raise ValueError(f"the checkpoint was trained with {ckpt['config']['k']} regions but the style map now has {k}")

    # Data (checked before the slow loading): a deterministic stream, different for every rank; held-out masks (or the first photos) for the samples.
    sample_photos = None
    if config.content is not None:
        photos = find_photos(config.content, skip_corrupt=config.skip_corrupt)
        data = TrainingPhotos(photos, config.size, config.seed, style.palette, config.content_maps)
        say(f"content: {len(photos)} photos in {config.content}"
            + (f", maps in {config.content_maps}" if config.content_maps else " (one region: no --content-maps)"))
        first = [data[i] for i in range(min(config.samples, len(photos)))]
        sample_photos = np.stack([p.permute(1, 2, 0).numpy() for p, _ in first])
        held_out = np.stack([labels.numpy() for _, labels in first])
    else:
        data = TrainingMasks(k, config.size, config.seed, params=None if config.masks else config.mask_params(k),
                             dataset_dir=config.masks, skip_corrupt=config.skip_corrupt, style_labels=style.labels,
                             style_share=config.map_share)
        held_out = held_out_masks(config.mask_params(k), config.seed, config.samples)

    # Loss network and style targets (computed once).
    precision = resolve_precision(config.precision, target)
    layers = config.style_layers + (config.content_layers if config.content is not None else ())
    net = _load_loss_net_rank0_first(config.loss_net, layers, config.seed, rank, world, log=say).to(target)
    if ckpt is not None:
        _check_resumed_loss_net(ckpt.get("loss_net"), net.net_id, config.loss_net, out / "checkpoint.pt")
    say(f"style: {k} regions, palette {format_palette(style.palette)}; precision {precision}; {world} process(es)")
    loss_fn = style_loss(config, net, style).to(target)

    # Model and optimizer, fresh or from the checkpoint.
    torch.manual_seed(config.seed)
    if ckpt is None:
        # A stylizer's residual blocks work at 1/8 resolution: the reach to paint the deep layers'
        # statistics over a photo (scripts/bench_stylize.py; doodles keep 1/4).
        photo = {"noise_channels": 0, "image_channels": 3, "downs": 3} if config.content is not None else {}
        model = new_generator({**photo, **config.generator, "k": k})
    else:
        # A resumed run rebuilds what it trained from its stored generator config, which names every
        # option of its day; a missing one (e.g. downs) reads as that day's network, not today's defaults.
        model = build_generator({**ckpt["config"]["generator"], "k": k})
    model.init_region_colors(to_tensor(style.image)[0], one_hot(style.labels, k)[0])
    model.to(target)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    scaler = grad_scaler(precision, target)
    start = 0
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        try:
            optimizer.load_state_dict(ckpt["optimizer"])
        except ValueError:
            raise ValueError(f"{out / 'checkpoint.pt'} holds optimizer state for another generator (written by doodle "
                             f"{ckpt.get('version', '?')}); resume it with that version or start a new run") from None
        if "scaler" in ckpt and scaler.is_enabled():
            scaler.load_state_dict(ckpt["scaler"])
        start = int(ckpt["step"])
        say(f"resuming {out} at step {start}")
    full_config = config.to_dict() | {"k": k, "generator": model.to_config()}
    ddp_model = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model
    if compile:
        ddp_model = torch.compile(ddp_model)
    elapsed = 0.0  # training seconds before this process: the --minutes schedule's position
    if rank == 0:
        # The style, data, loss net, targets and generator are all checked: only now may an old run go.
        open_run_dir(out, resume=resume)
        write_legend(out / "legend.png", style.image, style.labels, style.palette)  # which colour paints what
        atomic_write_text(out / "config.json", json.dumps(full_config, indent=2) + "\n")
        (out / "samples").mkdir(exist_ok=True)
        kept = rewind_run(out, start)
        # Checkpoints written before they stored it: the last log line at or before them is the nearest.
        elapsed = float(kept[-1].get("elapsed_s", 0.0)) if kept else 0.0
    if ckpt is not None and "elapsed_s" in ckpt:
        elapsed = float(ckpt["elapsed_s"])
    end = config.steps
    if ckpt is not None and (budget_spent(config.minutes, elapsed, world, target) or 0.0) >= 1.0:
        # Else the loop's first step would find the budget spent only after training it.
        say(f"{out} has spent its --minutes {config.minutes:g} budget at step {start}; "
            f"pass a larger --minutes to train it further")
        end = start

    loader = torch.utils.data.DataLoader(
        data, batch_sampler=StepBatches(start, end, config.batch, rank, world),
        num_workers=config.workers, persistent_workers=False, pin_memory=target.type == "cuda",
    )
    bar = tqdm(total=config.steps if config.minutes is None else None, initial=start, disable=rank != 0 or not progress, desc="train", unit="step",
               dynamic_ncols=True)
    model.train()
    t0 = tick = time.perf_counter()
    tick_step = step = start
    for step, item in enumerate(_batches(loader), start=start + 1):
        spent = budget_spent(config.minutes, elapsed + time.perf_counter() - t0, world, target)
        if spent is None:
            lr = config.lr * lr_factor(step - 1, config.lr_half_life, config.lr_min_ratio)
        else:
            lr = config.lr * budget_lr_factor(spent, config.lr_min_ratio)
        for group in optimizer.param_groups:
            group["lr"] = lr
        noise = torch.Generator(target).manual_seed(
            int(np.random.SeedSequence([config.seed, step, rank]).generate_state(1)[0]))
        photos, labels = item if config.content is not None else (None, item)
        if photos is not None:
            photos = photos.to(target, non_blocking=True).float().div_(255)
        batch = one_hot(labels.to(target, non_blocking=True), k)
        loss, parts = train_step(ddp_model, loss_fn, optimizer, batch, noise, precision, scaler, photos)
        last = step == config.steps or (spent is not None and spent >= 1.0)
        losses = torch.stack([torch.as_tensor(v, device=target).detach().float().reshape(())
                              for v in (loss, *parts.values())])
        if world > 1:
            # The mean of all ranks is what is logged, and what every rank checks: a rank raising alone
            # would leave the others waiting in the next all-reduce.
            dist.all_reduce(losses)
            losses /= world
        loss_value, *part_values = losses.tolist()
        if not math.isfinite(loss_value):
            raise ValueError(f"loss became {loss_value} at step {step}; lower --lr or use --precision fp32")
        if rank == 0:
            bar.update(1)
            bar.set_postfix(loss=f"{loss_value:.4g}")
            if step % config.log_every == 0 or last:
                now = time.perf_counter()
                entry = {"step": step, "loss": loss_value, "layers": dict(zip(parts, part_values)), "lr": lr,
                         "steps_per_s": (step - tick_step) / max(now - tick, 1e-9), "elapsed_s": elapsed + now - t0}
                tick, tick_step = now, step
                with open(out / "log.jsonl", "a") as f:
                    f.write(json.dumps(entry) + "\n")
            if step % config.sample_every == 0 or last:
                save_samples(out / "samples" / f"step_{step:06d}.png", model, held_out, style.palette, config.seed,
                             precision, sample_photos)
                update_run_curves(out)  # RUN/curves.png, when matplotlib is installed
            if step % config.checkpoint_every == 0 or last:
                save_checkpoint(out / "checkpoint.pt", {
                    "model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step,
                    "config": full_config, "palette": style.palette, "loss_net": net.net_id,
                    "version": __version__, "elapsed_s": elapsed + time.perf_counter() - t0,
                } | ({"scaler": scaler.state_dict()} if scaler.is_enabled() else {}))
        if last:
            break
    bar.close()
    if rank == 0 and step == start and not (out / "samples" / f"step_{step:06d}.png").exists():
        save_samples(out / "samples" / f"step_{step:06d}.png", model, held_out, style.palette, config.seed, precision,
                     sample_photos)
    if dist.is_initialized():
        dist.barrier()
    say(f"trained to step {step}; checkpoint {out / 'checkpoint.pt'}, samples in {out / 'samples'}")
    return model
