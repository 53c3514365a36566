"""Carry semantic masks down the loss network alongside its features."""

from __future__ import annotations

from typing import Iterable

import torch
import torch.nn.functional as F
from torch import nn


def mask_pyramid(net: nn.Module, masks: torch.Tensor, layers: Iterable[str]) -> dict[str, torch.Tensor]:
    """Masks at the resolution of each requested layer of a VGG feature network.

    The masks follow the network: a 3x3 mean (stride 1) at every convolution, so
    that they soften as receptive fields grow, and a 2x2 average at every pooling
    layer, so that they stay aligned with the features for any (also odd) size.

    Parameters
    ----------
    net : doodle.lossnet.vgg.VGGFeatures
        Anything with ``layer_names`` and ``features`` (an ``nn.Sequential``).
    masks : Tensor, shape (B, K, H, W)
        One-hot or soft region masks at the input resolution.
    layers : iterable of str
        Layer names, e.g. ``["relu1_1", "relu3_1"]``.

    Returns
    -------
    dict of str to Tensor
        ``{layer: masks}`` with masks of shape (B, K, h_l, w_l), the spatial size of
        that layer's features.

    Examples
    --------
    >>> from doodle.lossnet.vgg import VGGFeatures
    >>> net = VGGFeatures("vgg19", last_layer="relu2_1")
    >>> m = torch.ones(1, 2, 9, 7)
    >>> mask_pyramid(net, m, ["relu2_1"])["relu2_1"].shape
    torch.Size([1, 2, 4, 3])
    """
    wanted = set(layers)
    missing = wanted - set(net.layer_names)
    if missing:
        raise ValueError(f"layers {sorted(missing)} are not in the loss network; valid: {', '.join(net.layer_names)}")
    out: dict[str, torch.Tensor] = {}
    m = masks
    for name, module in zip(net.layer_names, net.features):
        if not wanted - out.keys():
            break
        if isinstance(module, nn.Conv2d):
            # count_include_pad=False: a border pixel averages only real pixels, so a
            # full-image region stays exactly 1 everywhere.
            m = F.avg_pool2d(m, 3, stride=1, padding=1, count_include_pad=False)
        elif isinstance(module, (nn.AvgPool2d, nn.MaxPool2d)):
            m = F.avg_pool2d(m, 2, stride=2)
        if name in wanted:
            out[name] = m
    return out
