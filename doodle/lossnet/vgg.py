"""VGG-16 / VGG-19 feature extractors used as the loss network.

Written without torchvision but laid out exactly like ``torchvision.models.vgg19().features``
(and ``vgg16``): module ``N`` of ``features`` holds the same layer, so state-dict keys
``features.N.weight`` / ``features.N.bias`` load unchanged. Every module also has a
Caffe-style name (``conv1_1``, ``relu1_1``, ``pool1``, ...), which is how losses
ask for activations.

It also fills a network with seeded random weights (:func:`init_random_`); reading
weight files lives in :mod:`doodle.lossnet.weights`.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import Tensor, nn

# Output channels of the 3x3 convolutions, block by block; a 2x2 pool ends every block.
BLOCK_WIDTHS: dict[str, tuple[tuple[int, ...], ...]] = {
    "vgg16": ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512)),
    "vgg19": ((64, 64), (128, 128), (256,) * 4, (512,) * 4, (512,) * 4),
}

ARCHS = tuple(BLOCK_WIDTHS)
_POOLINGS = ("avg", "max")
_PREPROCESSINGS = ("torchvision", "caffe")

DEFAULT_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
"""The style layers of Gatys et al. (one per block), the default of every style loss."""

# torchvision's models were trained on RGB in [0, 1] normalized by these ImageNet statistics.
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)
# Caffe models (the original VGG, HED) take BGR in [0, 255] minus this mean, in BGR order.
_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


def _names(blocks: tuple[tuple[int, ...], ...]) -> list[str]:
    names = []
    for b, widths in enumerate(blocks, start=1):
        for i in range(1, len(widths) + 1):
            names += [f"conv{b}_{i}", f"relu{b}_{i}"]
        names.append(f"pool{b}")
    return names


VGG_LAYER_NAMES: dict[str, list[str]] = {arch: _names(blocks) for arch, blocks in BLOCK_WIDTHS.items()}
"""Name of every module of ``features``, by index, for each architecture."""


def conv_shapes(arch: str) -> dict[str, tuple[int, ...]]:
    """Expected state-dict shapes of the convolutions of ``arch``.

    Returns
    -------
    dict
        ``{"features.N.weight": (out, in, 3, 3), "features.N.bias": (out,), ...}`` in layer order.

    Examples
    --------
    >>> conv_shapes("vgg16")["features.0.weight"]
    (64, 3, 3, 3)
    """
    _check_choice("arch", arch, ARCHS)
    shapes: dict[str, tuple[int, ...]] = {}
    index, c_in = 0, 3
    for widths in BLOCK_WIDTHS[arch]:
        for c_out in widths:
            shapes[f"features.{index}.weight"] = (c_out, c_in, 3, 3)
            shapes[f"features.{index}.bias"] = (c_out,)
            index, c_in = index + 2, c_out  # conv then ReLU
        index += 1  # pool
    return shapes


def _check_choice(what: str, value: str, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ValueError(f"unknown {what} {value!r}: choose one of {', '.join(choices)}")


def check_layers(arch: str, layers: Sequence[str]) -> None:
    """Raise ``ValueError`` (listing the valid names) if a layer name is not in ``arch``."""
    valid = VGG_LAYER_NAMES[arch]
    bad = [name for name in layers if name not in valid]
    if bad:
        raise ValueError(f"unknown {arch} layer(s) {', '.join(bad)}: valid names are {', '.join(valid)}")
    if not layers:
        raise ValueError("no layers requested: give at least one of " + ", ".join(valid))


def deepest_layer(arch: str, layers: Sequence[str]) -> str:
    """The layer of ``layers`` that comes last in ``arch`` (after validating the names)."""
    check_layers(arch, layers)
    return max(layers, key=VGG_LAYER_NAMES[arch].index)


class VGGFeatures(nn.Module):
    """Frozen VGG convolutional trunk, truncated after ``last_layer``.

    Parameters
    ----------
    arch : {"vgg19", "vgg16"}
    last_layer : str
        Deepest layer kept, e.g. ``"relu5_1"``; later modules are never built.
    pooling : {"avg", "max"}
        2x2 stride-2 pooling. Average pooling (Gatys et al., Ulyanov et al.) gives
        smoother gradients for image synthesis.
    preprocessing : {"torchvision", "caffe"}
        How :meth:`forward` maps an RGB image in [0, 1] to the network input; it must
        match the weights (torchvision: ImageNet mean/std; Caffe: BGR, 0..255, minus mean).

    Attributes
    ----------
    features : nn.Sequential
        Conv2d(3x3, padding=1) / ReLU / pooling modules at torchvision's indices.
    layer_names : list of str
        Names of the modules of ``features``, in order.
    net_id : str
        Which weights are loaded (set by :func:`init_random_` or :func:`doodle.lossnet.weights.load_loss_net`),
        ``"uninitialized"`` until then.

    Examples
    --------
    >>> net = VGGFeatures("vgg19", last_layer="relu2_1")
    >>> out = net(torch.rand(1, 3, 9, 7), ["relu1_1", "relu2_1"])
    >>> tuple(out["relu2_1"].shape)
    (1, 128, 4, 3)
    """

    def __init__(
        self,
        arch: str = "vgg19",
        last_layer: str = "relu5_1",
        pooling: str = "avg",
        preprocessing: str = "torchvision",
    ) -> None:
        super().__init__()
        _check_choice("architecture", arch, ARCHS)
        _check_choice("pooling", pooling, _POOLINGS)
        _check_choice("preprocessing", preprocessing, _PREPROCESSINGS)
        check_layers(arch, [last_layer])
        self.arch, self.pooling, self.preprocessing = arch, pooling, preprocessing
        self.net_id = "uninitialized"

        modules: list[nn.Module] = []
        c_in = 3
        for widths in BLOCK_WIDTHS[arch]:
            for c_out in widths:
                modules += [nn.Conv2d(c_in, c_out, kernel_size=3, padding=1), nn.ReLU(inplace=False)]
                c_in = c_out
            modules.append(nn.AvgPool2d(2, 2) if pooling == "avg" else nn.MaxPool2d(2, 2))
        n_kept = VGG_LAYER_NAMES[arch].index(last_layer) + 1
        self.features = nn.Sequential(*modules[:n_kept])
        self.layer_names = VGG_LAYER_NAMES[arch][:n_kept]

        if preprocessing == "torchvision":
            shift, scale = torch.tensor(_IMAGENET_MEAN), 1.0 / torch.tensor(_IMAGENET_STD)
        else:
            # Applied after the RGB->BGR flip: x_bgr * 255 - mean_bgr.
            shift, scale = torch.tensor(_CAFFE_MEAN_BGR) / 255.0, torch.full((3,), 255.0)
        # Not persistent: the state dict keeps exactly torchvision's keys.
        self.register_buffer("_shift", shift.view(1, 3, 1, 1), persistent=False)
        self.register_buffer("_scale", scale.view(1, 3, 1, 1), persistent=False)

        self.requires_grad_(False)
        self.eval()

    def preprocess(self, image: Tensor) -> Tensor:
        """Map an RGB image batch ``(B, 3, H, W)`` in [0, 1] to the network's input space."""
        if image.ndim != 4 or image.shape[1] != 3:
            raise ValueError(f"expected an RGB batch of shape (B, 3, H, W), got {tuple(image.shape)}")
        if self.preprocessing == "caffe":
            image = image.flip(1)
        return (image - self._shift) * self._scale

    def forward(self, image: Tensor, layers: Sequence[str]) -> dict[str, Tensor]:
        """Activations of the requested layers.

        Parameters
        ----------
        image : Tensor, shape (B, 3, H, W), float
            RGB in [0, 1]; any H, W >= 1 (each pool floors the size).
        layers : sequence of str
            Layer names among :attr:`layer_names`.

        Returns
        -------
        dict of str to Tensor
            ``{name: (B, C_l, H_l, W_l)}`` in channels-last memory format; the forward
            pass stops after the deepest one.
        """
        wanted = set(layers)
        missing = wanted.difference(self.layer_names)
        if missing:
            raise ValueError(
                f"layer(s) {', '.join(sorted(missing))} not in this network (truncated after "
                f"{self.layer_names[-1]}): valid names are {', '.join(self.layer_names)}"
            )
        out: dict[str, Tensor] = {}
        # Channels-last runs the convolutions 10-20% faster on CPU and makes each
        # feature map a (pixels x channels) matrix, which the region Grams gather from.
        x = self.preprocess(image).contiguous(memory_format=torch.channels_last)
        if not wanted:
            return out
        deepest = max(self.layer_names.index(name) for name in wanted)
        n_pools = sum(name.startswith("pool") for name in self.layer_names[: deepest + 1])
        if min(image.shape[-2:]) < 2**n_pools:
            raise ValueError(
                f"image of {image.shape[-2]}x{image.shape[-1]} pixels is too small for layer "
                f"{self.layer_names[deepest]}: it needs at least {2**n_pools} pixels per side"
            )
        for name, module in zip(self.layer_names, self.features):
            if len(out) == len(wanted):
                break
            x = module(x)
            if name in wanted:
                out[name] = x
        return out

    def extra_repr(self) -> str:
        return f"arch={self.arch}, pooling={self.pooling}, preprocessing={self.preprocessing}, net_id={self.net_id}"


def init_random_(net: VGGFeatures, seed: int = 0, probe_size: int = 128) -> VGGFeatures:
    """Fill ``net`` with seeded random convolutions that keep activations at unit RMS.

    He-normal kernels (std ``sqrt(2 / fan_in)``) and zero biases keep the mean square of
    the activations only on average: pooling and zero padding still shrink it with depth
    (about 3x from relu1_1 to relu5_1 with average pooling). Each kernel is therefore
    rescaled, in order, so that its ReLU output has RMS 1 on a seeded noise image of
    ``probe_size`` pixels (layer-sequential unit variance, Mishkin & Matas 2016). With the
    default probe, relu1_1..relu5_1 RMS on other noise images stays within 0.85..1.2
    (80 to 512 pixels, avg pooling); smaller images lose more to zero padding.

    Parameters
    ----------
    net : VGGFeatures
        Modified in place; returned for chaining.
    seed : int
        Same seed, same weights (on any machine: generated on the CPU).
    probe_size : int
        Side of the calibration image, in pixels.

    Returns
    -------
    VGGFeatures
        ``net``, with ``net_id`` set to ``"random-<arch>-seed<seed>"``.

    Examples
    --------
    >>> net = init_random_(VGGFeatures("vgg16", last_layer="relu2_1"), seed=1)
    >>> net.net_id
    'random-vgg16-seed1'
    >>> out = net(torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0)), ["relu2_1"])
    >>> 0.8 < out["relu2_1"].square().mean().sqrt().item() < 1.25
    True
    """
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        x = net.preprocess(torch.rand(1, 3, probe_size, probe_size, generator=generator))
        for module in net.features:
            if isinstance(module, nn.Conv2d):
                fan_in = module.in_channels * module.kernel_size[0] * module.kernel_size[1]
                kernel = torch.randn(module.weight.shape, generator=generator) * math.sqrt(2.0 / fan_in)
                module.weight.copy_(kernel)
                module.bias.zero_()
                # ReLU is positively homogeneous and the bias is zero: dividing the kernel
                # by the output RMS makes that RMS exactly 1.
                module.weight.div_(torch.relu(module(x)).square().mean().sqrt().clamp_min(1e-12))
            x = module(x)
    net.net_id = f"random-{net.arch}-seed{seed}"
    return net
