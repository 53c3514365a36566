"""Benchmark a training step against the loss network's own forward and backward pass.

The target (issue 4): one full training step costs at most 1.3x the loss network's
forward+backward at the same batch and size, i.e. the generator, the mask pyramid
and the region Grams are cheap next to VGG. Both are measured in the same run, for
every size and precision asked for::

    python scripts/bench_train.py                      # 128 and 256 px, fp32 and bf16, batch 4
    python scripts/bench_train.py --sizes 64 --repeats 2 --precisions fp32

(a) "vgg": the loss network built by ``load_loss_net`` (truncated after the deepest
style layer, relu5_1 by default), forward of a random ``(B, 3, S, S)`` batch to the
style layers, backward of their sum to the input.

(b) "step": ``doodle.training.train.train_step`` (the function the training loop calls) with
the same pieces ``train`` builds: ``new_generator`` on
``TrainConfig.generator`` (``--arch``), ``Adam(lr=TrainConfig.lr)`` and ``RegionStyleLoss`` of the
style exemplar with ``TrainConfig.style_layers``, and a seeded noise generator per step.
The masks of a batch come from maskgen with ``TrainConfig.mask``, a new batch
for every timed call as in training (one fixed batch once timed bf16 steps at
half their real cost: oneDNN's bf16 matmuls cache a kernel per shape, and a
fixed batch repeats every region's pixel count); making them is not part of
the step (DataLoader workers do it in training) and its time per batch is
listed on its own.

To see where a step's time goes, "loss" times the region style loss alone
(loss network + mask pyramid + region Grams, forward and backward to a random
leaf batch): step - loss is the generator and Adam, loss - vgg the Grams and masks.

Every figure is the median of ``--repeats`` timed calls after ``--warmup`` untimed ones.

(c) "run" (with ``--whole-run STEPS``): a whole ``doodle train`` command in a fresh
process for STEPS steps with the default sample, checkpoint and log intervals and
DataLoader worker, from start-up (imports, numba's cache, style targets) to exit,
wall time / STEPS. Its ratio to (a) is what a user pays per step::

    python scripts/bench_train.py --sizes 128 --precisions bf16 --whole-run 300
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import click
import numpy as np
import torch

import maskgen
from benchtools import median_seconds
from doodle.cli.options import comma_list, default_malloc_option, norm_option
from doodle.generators.registry import ARCHS, DEFAULT_ARCH, new_generator
from doodle.lossnet.vgg import VGGFeatures
from doodle.lossnet.weights import load_loss_net
from doodle.maps.semantic import one_hot
from doodle.precision import autocast
from doodle.style.loss import RegionStyleLoss
from doodle.training.config import TrainConfig
from doodle.training.train import load_training_style, style_loss, train_step
from maskgen.alloc import reuse_freed_memory

EXEMPLAR = Path(__file__).resolve().parents[1] / "datasets" / "exemplar"
TARGET_RATIO = 1.3


def make_masks(config: TrainConfig, k: int, seed: int = 0) -> torch.Tensor:
    """One training batch of one-hot maskgen masks, float32 ``(B, K, S, S)``."""
    params = config.mask_params(k)
    return one_hot(np.stack([maskgen.make_mask(params, seed, i).labels for i in range(config.batch)]), k)


def vgg_pass(net: VGGFeatures, layers: tuple[str, ...], batch: int, size: int, precision: str) -> Callable[[], None]:
    """(a): the loss network's forward to ``layers`` and backward to a random input batch."""
    x = torch.rand(batch, 3, size, size, requires_grad=True)

    def run() -> None:
        x.grad = None
        with autocast(precision):
            feats = net(x, layers)
            total = sum(f.float().sum() for f in feats.values())
        total.backward()

    return run


def loss_pass(loss_fn: RegionStyleLoss, batches: list[torch.Tensor], precision: str) -> Callable[[], None]:
    """The style loss alone: forward and backward to a random leaf batch, each call on the next mask batch."""
    x = torch.rand(batches[0].shape[0], 3, *batches[0].shape[-2:], requires_grad=True)
    call = [0]

    def run() -> None:
        x.grad = None
        call[0] += 1
        with autocast(precision):
            loss, _ = loss_fn(x, batches[call[0] % len(batches)])
        loss.backward()

    return run


def training_step(config: TrainConfig, loss_fn: RegionStyleLoss, batches: list[torch.Tensor],
                  precision: str) -> Callable[[], None]:
    """(b): one step of ``doodle.training.train.train``, each call on the next mask batch (see the module docstring)."""
    torch.manual_seed(config.seed)
    model = new_generator({**config.generator, "k": loss_fn.k}).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    step = [0]

    def run() -> None:
        step[0] += 1
        train_step(model, loss_fn, optimizer, batches[step[0] % len(batches)], torch.Generator().manual_seed(step[0]),
                   precision)

    return run



def whole_run_seconds(config: TrainConfig, precision: str, loss_net: str, threads: int, steps: int) -> float:
    """(c): wall time of ``doodle train`` for ``steps`` steps in a fresh process, start-up to exit."""
    with tempfile.TemporaryDirectory() as tmp:
        command = [sys.executable, "-m", "doodle", "train", "--style", config.style, "--style-map", config.style_map,
                   "--regions", str(config.regions), "--size", str(config.size), "--batch", str(config.batch),
                   "--steps", str(steps), "--precision", precision, "--loss-net", loss_net, "--out", f"{tmp}/run"]
        for key, value in config.generator.items():
            command += [f"--{key}", str(value)]
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True,
                       env={**os.environ, "OMP_NUM_THREADS": str(threads)})
        return time.perf_counter() - start


@click.command()
@click.option("--sizes", default="128,256", show_default=True, callback=comma_list(int), help="Comma-separated square training sizes (px).")
@click.option("--batch", type=click.IntRange(min=1), default=4, show_default=True)
@click.option("--precisions", default="fp32,bf16", show_default=True, help="Comma-separated: fp32, bf16.")
@click.option("--repeats", type=click.IntRange(min=1), default=5, show_default=True, help="Timed calls (median).")
@click.option("--warmup", type=click.IntRange(min=0), default=2, show_default=True, help="Untimed calls first.")
@click.option("--loss-net", default="random", show_default=True,
              help="Loss network (random costs exactly what real VGG-19 weights cost).")
@click.option("--threads", type=click.IntRange(min=1), default=2, show_default=True, help="torch.set_num_threads.")
@click.option("--style", type=click.Path(dir_okay=False, exists=True), default=str(EXEMPLAR / "style.png"),
              show_default=True)
@click.option("--style-map", type=click.Path(dir_okay=False, exists=True), default=str(EXEMPLAR / "style_map.png"),
              show_default=True)
@click.option("--regions", type=click.IntRange(min=1), default=4, show_default=True)
@click.option("--arch", type=click.Choice(sorted(ARCHS)), default=DEFAULT_ARCH, show_default=True,
              help="Generator architecture (as doodle train --arch).")
@click.option("--width", type=click.IntRange(min=1), default=None,
              help="Generator width [default: the architecture's].")
@norm_option
@default_malloc_option
@click.option("--whole-run", type=click.IntRange(min=1), default=None, metavar="STEPS",
              help="Also time a whole `doodle train` command of STEPS steps in a fresh process (see (c)).")
def main(sizes, batch, precisions, repeats, warmup, loss_net, threads, style, style_map, regions, arch, width,
         norm, default_malloc, whole_run) -> None:
    """Time a doodle training step against VGG forward+backward (target: ratio <= 1.3)."""
    torch.set_num_threads(threads)
    heap_reuse = "off (--default-malloc)" if default_malloc else reuse_freed_memory().describe()
    if not sizes:
        raise click.BadParameter("give at least one size, e.g. 128,256", param_hint="--sizes")
    precisions = [p.strip() for p in precisions.split(",") if p.strip()]
    bad = sorted(set(precisions) - {"fp32", "bf16"})
    if bad:
        raise click.BadParameter(f"unknown precision(s) {', '.join(bad)}; use fp32 and/or bf16",
                                 param_hint="--precisions")
    native_bf16 = torch.ops.mkldnn._is_mkldnn_bf16_supported()
    overrides = {"arch": arch} | {key: v for key, v in (("width", width), ("norm", norm)) if v is not None}
    base = TrainConfig(style=style, style_map=style_map, out="(not written)", regions=regions, batch=batch,
                       generator=overrides)
    net = load_loss_net(loss_net, layers=base.style_layers, log=lambda _msg: None)
    generator = new_generator({**base.generator, "k": regions}).to_config()
    click.echo(f"torch {torch.__version__}, {threads} thread(s), freed memory reused: {heap_reuse}, "
               f"native bf16: {native_bf16}; loss net {net.net_id} "
               f"to {net.layer_names[-1]}; generator {generator}; "
               f"batch {batch}; median of {repeats} after {warmup} warm-up")
    header = (f"{'size':>5} {'prec':>5} {'vgg f+b ms':>11} {'loss ms':>8} {'step ms':>9} {'ratio':>6} {'steps/s':>8} "
              f"{'img/s':>7} {'masks ms':>9}" + (f" {'run ms/step':>11} {'run ratio':>9}" if whole_run else ""))
    click.echo(header)
    click.echo("-" * len(header))
    rows = []
    for size in sizes:
        config = TrainConfig(**(base.to_dict() | {"size": size}))
        mask_s = median_seconds(lambda: make_masks(config, regions), repeats=repeats, warmup=1)
        # Other batches for the step than for the loss: else the step would find the loss's kernels cached.
        batches = [make_masks(config, regions, config.seed + i) for i in range(2 * (warmup + repeats))]
        loss_fn = style_loss(config, net, load_training_style(config, log=lambda _msg: None))
        for precision in precisions:
            vgg_s = median_seconds(vgg_pass(net, config.style_layers, batch, size, precision), repeats, warmup)
            loss_s = median_seconds(loss_pass(loss_fn, batches[::2], precision), repeats, warmup)
            step_s = median_seconds(training_step(config, loss_fn, batches[1::2], precision), repeats, warmup)
            ratio = step_s / vgg_s
            rows.append(ratio)
            run = ""
            if whole_run:
                run_s = whole_run_seconds(config, precision, loss_net, threads, whole_run) / whole_run
                run = f" {run_s * 1e3:>11.1f} {run_s / vgg_s:>9.2f}"
            click.echo(f"{size:>5} {precision:>5} {vgg_s * 1e3:>11.1f} {loss_s * 1e3:>8.1f} {step_s * 1e3:>9.1f} "
                       f"{ratio:>6.2f} {1 / step_s:>8.2f} {batch / step_s:>7.1f} {mask_s * 1e3:>9.1f}{run}")
    worst = max(rows)
    verdict = "meets" if worst <= TARGET_RATIO else "MISSES"
    click.echo(f"worst step/vgg ratio {worst:.2f}: {verdict} the target <= {TARGET_RATIO}"
               + ("" if native_bf16 or "bf16" not in precisions else " (bf16 is emulated on this CPU: slow)"))


if __name__ == "__main__":
    main()
