"""``doodle train``: train a feed-forward doodle generator for one style."""

from __future__ import annotations

from pathlib import Path

import click

from doodle.cli.options import (device_option, layer_weights_option, loss_net_option, norm_option, precision_option,
                                regions_option, style_layers_option)

#: --steps of a --minutes run without one: the budget ends it.
NO_STEP_CAP = 10**9


@click.command()
@click.option("--style", type=click.Path(dir_okay=False), help="Style image (the painting).")
@click.option("--style-map", type=click.Path(dir_okay=False), help="Semantic map of the style image.")
@regions_option
@click.option("--masks", type=click.Path(file_okay=False), default=None,
              help="A maskgen dataset folder with K = the style's regions [default: random masks made on the fly].")
@click.option("--size", type=click.IntRange(min=16), default=256, show_default=True,
              help="Side of the square training masks, and longest side of the style image.")
@click.option("--style-size", type=click.IntRange(min=16), default=None,
              help="Longest side of the style image for the style targets [default: --size].")
@click.option("--batch", type=click.IntRange(min=1), default=4, show_default=True)
@click.option("--steps", type=click.IntRange(min=1), default=None,
              help="Total training steps [default: 2000; with --resume: the run's own, or raise it to train longer].")
@click.option("--minutes", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Stop after this many minutes of training; the learning rate then falls from --lr to "
              "--lr-min-ratio x --lr on a cosine over the budget (instead of halving every --lr-half-life steps), "
              "and --steps only caps the run [default: no cap]. Which step a budget ends at depends on the machine.")
@click.option("--lr", type=float, default=0.003, show_default=True,
              help="Adam learning rate; halves every --lr-half-life steps (0.002-0.005 did best on the exemplar).")
@click.option("--lr-half-life", type=click.IntRange(min=1), default=1000, show_default=True)
@click.option("--lr-min-ratio", type=click.FloatRange(min=0, max=1), default=0.05, show_default=True,
              help="The decay stops at this fraction of --lr (raising it to 0.2 late in a long run hurt).")
@style_layers_option
@layer_weights_option
@click.option("--style-weight", type=float, default=1.0, show_default=True)
@click.option("--tv-weight", type=float, default=0.0, show_default=True)
@loss_net_option
@precision_option
@device_option
@click.option("--width", type=click.IntRange(min=1), default=None, help="Generator width (channels per scale).")
@click.option("--scales", type=click.IntRange(min=1), default=None, help="Generator scales.")
@norm_option
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Run folder.")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its last checkpoint.")
@click.option("--overwrite", is_flag=True, help="Replace the run in --out.")
@click.option("--sample-every", type=click.IntRange(min=1), default=100, show_default=True)
@click.option("--checkpoint-every", type=click.IntRange(min=1), default=100, show_default=True)
@click.option("--log-every", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--workers", type=click.IntRange(min=0), default=1, show_default=True,
              help="DataLoader worker processes making masks.")
@click.option("--compile", "compile_", is_flag=True,
              help="torch.compile the generator for the training steps (pays on GPUs; on a 2-core CPU it was "
              "slower: 230 vs 183 ms a step at 128 px, after a 60 s compile).")
@click.option("--skip-corrupt", is_flag=True, help="Skip unreadable mask files (with a warning) instead of stopping.")
def train(style, style_map, regions, masks, size, style_size, batch, steps, minutes, lr, style_layers, layer_weights,
          style_weight, tv_weight, loss_net, precision, device, width, scales, norm, seed, out, resume, overwrite, sample_every, lr_half_life,
          lr_min_ratio, checkpoint_every, log_every, workers, compile_, skip_corrupt) -> None:
    """Train a generator that paints any semantic mask in the style of STYLE.

    Each step draws random smooth masks with as many regions as the style map
    (or reads them from --masks), renders them, and lowers the per-region Gram
    loss against the matching regions of the painting. Writes RUN/checkpoint.pt,
    config.json, log.jsonl and samples/. Multi-process:
    torchrun --nproc_per_node=N -m doodle train ...
    """
    from doodle.train import TrainConfig, train as run_training
    from doodle.vgg import DEFAULT_STYLE_LAYERS

    if resume and overwrite:
        raise click.UsageError("--resume and --overwrite exclude each other")
    if not resume and not (style and style_map):
        raise click.UsageError("--style and --style-map are required (except with --resume)")
    if resume:
        config = TrainConfig.from_run(out, steps=steps)
    else:
        generator = {k: v for k, v in (("width", width), ("scales", scales), ("norm", norm)) if v is not None}
        config = TrainConfig(
            style=str(Path(style).resolve()), style_map=str(Path(style_map).resolve()), out=out, regions=regions, masks=masks, size=size,
            style_size=style_size, batch=batch, steps=steps or (NO_STEP_CAP if minutes else TrainConfig.steps), minutes=minutes, lr=lr, lr_half_life=lr_half_life,
            lr_min_ratio=lr_min_ratio,
            style_layers=style_layers or DEFAULT_STYLE_LAYERS, layer_weights=layer_weights,
            style_weight=style_weight, tv_weight=tv_weight, loss_net=loss_net, precision=precision, seed=seed,
            sample_every=sample_every, checkpoint_every=checkpoint_every, log_every=log_every, workers=workers,
            skip_corrupt=skip_corrupt, generator=generator,
        )
    run_training(config, resume=resume, overwrite=overwrite, log=click.echo, device=device, compile=compile_)
