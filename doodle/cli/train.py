"""``doodle train``: train a feed-forward doodle generator for one style."""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path

import click
from click.core import ParameterSource

from doodle.generators.registry import ARCHS, DEFAULT_ARCH
from doodle.style.loss import DOODLE_COLOUR_WEIGHT, STYLIZER_CONTENT_WEIGHT
from doodle.cli.options import (balance_option, comma_list, device_option, layer_weights_option, loss_net_option, norm_option, precision_option,
                                regions_option, style_layers_option)
from doodle.training.config import RESUME_CHANGES
from maskgen.clitools import RESUMABLE

#: --steps of a --minutes run without one: the budget ends it.
NO_STEP_CAP = 10**9
#: Options that are no part of a run's config.
NOT_STORED = ("out", "resume", "overwrite", "device", "compile_")
GENERATOR_OPTIONS = ("arch", "width", "blocks", "downs", "scales", "norm")


def _stamp(path: Path) -> int | None:
    """``path``'s modification time in ns, None when it does not exist."""
    try:
        return path.stat().st_mtime_ns
    except (FileNotFoundError, NotADirectoryError):
        return None


def _changed_on_resume(ctx: click.Context, config) -> list[str]:
    """The options typed with --resume whose value differs from the run's stored ``config`` (as flags, sorted).

    The typed options are laid over the run's config and compared by
    :meth:`TrainConfig.resume_conflicts`, the check a library resume makes.
    """
    typed = {name: value for name, value in ctx.params.items() if name not in RESUME_CHANGES + NOT_STORED
             and ctx.get_parameter_source(name) is ParameterSource.COMMANDLINE}
    generator = {name: typed.pop(name) for name in GENERATOR_OPTIONS if name in typed}
    asked = dataclasses.replace(config, **typed, generator=generator)
    flags = {param.name: param.opts[0] for param in ctx.command.params}
    # Only what was typed: a typed --size also moves the unset --style-size, which is no flag of the user's.
    return sorted(flags[name] for name in asked.resume_conflicts(config) if name in typed or name in generator)


@click.command()
@click.option("--style", type=click.Path(dir_okay=False), help="Style image (the painting).")
@click.option("--style-map", type=click.Path(dir_okay=False), help="Semantic map of the style image.")
@regions_option
@click.option("--masks", type=click.Path(file_okay=False), default=None,
              help="A maskgen dataset folder with K = the style's regions [default: random masks made on the fly].")
@click.option("--content", type=click.Path(file_okay=False), default=None,
              help="Train a photo stylizer instead (Johnson et al. 2016): a folder of photos (JPEG/PNG, any size; "
              "random --size crops); paint photos with `doodle stylize` afterwards.")
@click.option("--content-maps", type=click.Path(file_okay=False), default=None,
              help="With --content: a folder of the photos' semantic maps (same names, style map's colours); "
              "without it the painting and every photo are one region.")
@click.option("--content-weight", type=float, default=STYLIZER_CONTENT_WEIGHT, show_default=True,
              help="With --content: weight of the content term against the style term (both relative). Lower "
              "than optimize's 1: the stylizer sees the photo and keeps its edges anyway, and more weight kept "
              "the photo's colours instead of the painting's.")
@click.option("--content-layers", callback=comma_list(str), default=None, metavar="L1,L2,...",
              help="With --content: comma-separated content layers [default: relu2_1; Johnson et al. used relu2_2].")
@click.option("--size", type=click.IntRange(min=16), default=None,
              help="Side of the square training masks (or photo crops), and longest side of the style image "
              "[default: 256; with --content 128].")
@click.option("--style-size", type=click.IntRange(min=16), default=None,
              help="Longest side of the style image for the style targets [default: --size; with --content and "
              "no --size: 256].")
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
@click.option("--relative/--raw", default=True, show_default=True,
              help="Relative style loss (each layer's region Gram distance over its target's norm, so that no layer "
              "drowns the others by the scale of its features) or raw Gram distances (the loss of doodle <= 0.4).")
@balance_option
@click.option("--colour-weight", "--color-weight", type=click.FloatRange(min=0), default=None,
              help="Weight of the region colour term: each region's pixel colours held to the colours the painting "
              "uses there (sliced Wasserstein), which Grams alone leave free, most of all along borders "
              f"[default: {DOODLE_COLOUR_WEIGHT:g} for doodles, 0 for photos].")
@click.option("--map-share", type=click.FloatRange(0, 1), default=0.25, show_default=True,
              help="Share of the training masks that are random crops of the style's own map (flipped, rescaled); "
              "the rest are random maskgen masks.")
@loss_net_option
@precision_option
@device_option
@click.option("--arch", type=click.Choice(sorted(ARCHS)), default=DEFAULT_ARCH, show_default=True,
              help="Generator: 'resnet' (strided encoder, mask-conditioned residual blocks at 1/4 resolution, "
              "upsampling decoder) or 'texture' (Ulyanov et al.'s multi-scale texture network, doodle <= 0.4).")
@click.option("--width", type=click.IntRange(min=1), default=None,
              help="Generator width: channels at full resolution (resnet) or per scale (texture).")
@click.option("--blocks", type=click.IntRange(min=0), default=None, help="Residual blocks (resnet).")
@click.option("--downs", type=click.IntRange(min=1), default=None,
              help="Strided downsamplings before the residual blocks (resnet) [default: 2 for doodles, blocks at "
              "1/4 resolution; 3 for photo stylizers, blocks at 1/8 with twice the channels].")
@click.option("--scales", type=click.IntRange(min=1), default=None, help="Scales (texture).")
@norm_option
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Run folder.")
@click.option("--resume", is_flag=True,
              help="Continue the run in --out from its last checkpoint, with its own settings: --steps and --minutes "
              "set its new totals (steps, minutes of training), --loss-net must give the network it trained against, "
              "and other options are refused where they differ from the run's (repeating them is fine).")
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
def train(style, style_map, regions, masks, content, content_maps, content_weight, content_layers, size, style_size, batch, steps, minutes, lr, style_layers, layer_weights,
          style_weight, tv_weight, relative, balance, colour_weight, map_share, loss_net, precision, device, arch, width, blocks, downs, scales, norm, seed, out, resume, overwrite, sample_every, lr_half_life,
          lr_min_ratio, checkpoint_every, log_every, workers, compile_, skip_corrupt) -> None:
    """Train a generator that paints any semantic mask in the style of STYLE.

    Each step draws random smooth masks with as many regions as the style map
    (or reads them from --masks), renders them, and lowers the per-region Gram
    loss against the matching regions of the painting. Writes RUN/checkpoint.pt,
    config.json, log.jsonl and samples/. Multi-process:
    torchrun --nproc_per_node=N -m doodle train ...
    """
    from doodle.lossnet.vgg import DEFAULT_STYLE_LAYERS
    from doodle.style.loss import CONTENT_LAYERS
    from doodle.training.config import TrainConfig
    from doodle.training.run_dir import check_resumable
    from doodle.training.train import train as run_training

    if resume and overwrite:
        raise click.UsageError("--resume and --overwrite exclude each other")
    # Ctrl-C's hint: --resume only once this run wrote a checkpoint (or resumed one); an --overwrite
    # run's old checkpoint, still there until the inputs are checked, is not this run's to resume.
    checkpoint = Path(out) / "checkpoint.pt"
    old_stamp = _stamp(checkpoint)
    click.get_current_context().meta[RESUMABLE] = lambda: _stamp(checkpoint) is not None and (
        resume or _stamp(checkpoint) != old_stamp)
    if not resume and not (style and (style_map or (content and not content_maps))):
        raise click.UsageError("--style and --style-map are required (except with --resume, or --content without "
                               "--content-maps: then the painting is one region)")
    if resume:
        ctx = click.get_current_context()
        check_resumable(Path(out))  # before reading the checkpoint: say what to do when there is none
        config = TrainConfig.from_run(out)
        changed = _changed_on_resume(ctx, config)
        if changed:
            raise click.UsageError(f"{', '.join(changed)} differ from the run in {out}: drop them to resume it (only "
                                   f"--steps, --minutes and --loss-net change a resumed run) or start a new one")
        typed_net = ctx.get_parameter_source("loss_net") is ParameterSource.COMMANDLINE
        config = TrainConfig.from_run(out, steps=steps or (NO_STEP_CAP if minutes else None), minutes=minutes,
                                      loss_net=loss_net if typed_net else None)
    else:
        given = {"width": width, "blocks": blocks, "downs": downs, "scales": scales, "norm": norm}
        known = set(inspect.signature(ARCHS[arch].__init__).parameters)
        wrong = [f"--{name}" for name, value in given.items() if value is not None and name not in known]
        if wrong:
            raise click.UsageError(f"{' and '.join(wrong)} do not apply to --arch {arch}")
        generator = {"arch": arch} | {k: v for k, v in given.items() if v is not None}
        config = TrainConfig(
            style=str(Path(style).resolve()), style_map=style_map and str(Path(style_map).resolve()), out=out, regions=regions,
            masks=masks and str(Path(masks).resolve()),
            content=content and str(Path(content).resolve()), content_maps=content_maps and str(Path(content_maps).resolve()),
            content_weight=content_weight, content_layers=content_layers or CONTENT_LAYERS, size=size,
            style_size=style_size, batch=batch, steps=steps or (NO_STEP_CAP if minutes else TrainConfig.steps), minutes=minutes, lr=lr, lr_half_life=lr_half_life,
            lr_min_ratio=lr_min_ratio,
            style_layers=style_layers or DEFAULT_STYLE_LAYERS, layer_weights=layer_weights,
            style_weight=style_weight, tv_weight=tv_weight, relative=relative, balance=balance, colour_weight=colour_weight, map_share=map_share, loss_net=loss_net, precision=precision, seed=seed,
            sample_every=sample_every, checkpoint_every=checkpoint_every, log_every=log_every, workers=workers,
            skip_corrupt=skip_corrupt, generator=generator,
        )
    run_training(config, resume=resume, overwrite=overwrite, log=click.echo, device=device, compile=compile_)
