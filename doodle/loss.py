"""The semantic style loss: per-region Gram distances, optional content and smoothness terms."""

from __future__ import annotations

from typing import Mapping, Sequence

import torch
from torch import nn

from doodle.gram import region_gram, region_gram_distance
from doodle.pyramid import mask_pyramid

# A region whose soft mask sums to less than this (in feature-map pixels) at some
# layer has no usable statistics there: it is skipped rather than divided by ~0.
MIN_REGION_AREA = 1e-3


class RegionStyleLoss(nn.Module):
    """Region Gram loss against one style exemplar, with targets computed once.

    ``loss = style_weight * sum_l w_l * sum_r ||G_{l,r}(image) - G_{l,r}(style)||_F^2``
    (averaged over the batch), plus ``content_weight * mse(relu4_2)`` when a content
    image is set and ``tv_weight * total_variation``. Every region counts the same
    whatever its area (Grams are area-normalized), so small regions of a random mask
    are learned as strongly as large ones; regions absent from either the style or
    the image at a layer are skipped.

    Parameters
    ----------
    net : doodle.vgg.VGGFeatures
        Frozen loss network; must reach the deepest layer used.
    style_image : Tensor, shape (1, 3, Hs, Ws), RGB in [0, 1]
    style_masks : Tensor, shape (1, K, Hs, Ws)
        One-hot region masks of the style's semantic map.
    layers : sequence of str
        Style layers.
    layer_weights : sequence of float, optional
        One weight per style layer (default 1 each).
    style_weight, content_weight, tv_weight : float
    content_layer : str
    content_image : Tensor, shape (1, 3, H, W), optional
        Only for the optimization-based doodle (the output's size).
    """

    def __init__(
        self,
        net: nn.Module,
        style_image: torch.Tensor,
        style_masks: torch.Tensor,
        layers: Sequence[str] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"),
        layer_weights: Sequence[float] | None = None,
        style_weight: float = 1.0,
        content_weight: float = 0.0,
        content_layer: str = "relu4_2",
        content_image: torch.Tensor | None = None,
        tv_weight: float = 0.0,
    ) -> None:
        super().__init__()
        if layer_weights is None:
            layer_weights = [1.0] * len(layers)
        if len(layer_weights) != len(layers):
            raise ValueError(f"got {len(layer_weights)} layer weights for {len(layers)} style layers; give one per layer")
        if style_masks.shape[-2:] != style_image.shape[-2:]:
            raise ValueError("style masks and style image differ in size; resize the map to the image first")
        self.net = net
        self.layers = list(layers)
        self.layer_weights = [float(w) for w in layer_weights]
        self.style_weight = float(style_weight)
        self.content_weight = float(content_weight)
        self.content_layer = content_layer
        self.tv_weight = float(tv_weight)
        self.k = style_masks.shape[1]
        with torch.no_grad():
            feats = net(style_image, self.layers)
            pyramid = mask_pyramid(net, style_masks, self.layers)
            for name in self.layers:
                grams, areas = region_gram(feats[name], pyramid[name])
                self.register_buffer(f"target_{name}", grams[0])
                self.register_buffer(f"valid_{name}", areas[0] > MIN_REGION_AREA)
            content = None
            if content_image is not None and content_weight > 0:
                content = net(content_image, [content_layer])[content_layer].float()
        self.register_buffer("content_target", content)

    def forward(self, image: torch.Tensor, masks: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Loss of a batch of images whose regions are given by ``masks``.

        Parameters
        ----------
        image : Tensor, shape (B, 3, H, W), RGB in [0, 1]
        masks : Tensor, shape (B, K, H, W)

        Returns
        -------
        total : Tensor, scalar float32
        parts : dict of str to Tensor
            Unweighted per-layer style losses (keys are layer names) and, when used,
            ``"content"`` and ``"tv"``.
        """
        if masks.shape[1] != self.k:
            raise ValueError(f"masks have {masks.shape[1]} regions but the style has {self.k}")
        wanted = list(self.layers)
        if self.content_target is not None:
            wanted.append(self.content_layer)
        feats = self.net(image, wanted)
        pyramid = mask_pyramid(self.net, masks, self.layers)
        parts: dict[str, torch.Tensor] = {}
        total = image.new_zeros((), dtype=torch.float32)
        for name, weight in zip(self.layers, self.layer_weights):
            masks_l = pyramid[name]
            valid = (masks_l.flatten(2).sum(-1) > MIN_REGION_AREA) & getattr(self, f"valid_{name}")
            dist = region_gram_distance(feats[name], masks_l, getattr(self, f"target_{name}"), valid)  # (B, K)
            parts[name] = dist.sum() / image.shape[0]
            total = total + self.style_weight * weight * parts[name]
        if self.content_target is not None:
            parts["content"] = (feats[self.content_layer].float() - self.content_target).pow(2).mean()
            total = total + self.content_weight * parts["content"]
        if self.tv_weight > 0:
            parts["tv"] = total_variation(image)
            total = total + self.tv_weight * parts["tv"]
        return total, parts


def total_variation(image: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of neighbouring pixels of (B, C, H, W) images."""
    dy = (image[..., 1:, :] - image[..., :-1, :]).float().pow(2).mean() if image.shape[-2] > 1 else 0.0
    dx = (image[..., :, 1:] - image[..., :, :-1]).float().pow(2).mean() if image.shape[-1] > 1 else 0.0
    return image.new_zeros((), dtype=torch.float32) + dy + dx


def style_losses_as_floats(parts: Mapping[str, torch.Tensor]) -> dict[str, float]:
    """Detach loss parts to plain floats for logs and progress bars."""
    return {k: float(v.detach()) for k, v in parts.items()}
