"""The semantic style loss: per-region Gram distances, optional content and smoothness terms."""

from __future__ import annotations

from typing import Mapping, Sequence

import torch
from torch import nn

from doodle.lossnet.vgg import DEFAULT_STYLE_LAYERS
from doodle.maps.semantic import mask_labels
from doodle.style.gram import region_gram, region_gram_distance
from doodle.style.histogram import colour_directions, region_colour_distance, region_colour_targets
from doodle.style.pyramid import mask_pyramid

# A region whose soft mask sums to less than this (in feature-map pixels) at some
# layer has no usable statistics there: it is skipped rather than divided by ~0.
MIN_REGION_AREA = 1e-3
#: Default content layers. Gatys et al. used relu4_2; with the relative content term
#: (where features fire, not how strongly) relu2_1 keeps a photo's edges at the same
#: style distance far better (scripts/bench_content.py), and deeper layers stay available.
CONTENT_LAYERS = ("relu2_1",)
#: ``--content-weight`` of a photo stylizer. It sees the photo as input and keeps its
#: edges through its architecture, so the content term only has to hold them: at 1
#: (optimize's balance) it also held the photo's colours and kept the painting out.
#: 10 minutes on the exemplar, held-out photos (chelsea / rocket, 256 px): style
#: distance 4.20x / 4.20x optimize's at 1, 2.95x / 3.90x at 0.3; edge correlation
#: 0.81 / 0.83 -> 0.66 / 0.77 (target >= 0.55; scripts/bench_stylize.py).
STYLIZER_CONTENT_WEIGHT = 0.3
#: Softening of the relative content term's unit norms, as a share of the photo's channel norm.
PATTERN_SOFTNESS = 0.1


#: ``balance`` of the relative style term of ``doodle optimize --relative`` doodles: halfway
#: between the raw loss's weighting (0, the cleanest pixels) and equal say (1), at which an
#: optimization without a colour term paints rainbow outlines along borders.
OPTIMIZE_BALANCE = 0.5
#: ``balance`` of doodle generators (``doodle train``). At 0.5 relu4_1 and relu5_1 had ~1e-2 and
#: ~5e-4 of relu1_1's say and the deep statistics were left loose; at 1 (every layer an equal say,
#: as the relative distance judges) the Monet's regions were told apart worse than optimize's and its
#: distance varied most between seeds. 0.85 gives the deep layers 0.15 of a decade less say per
#: decade of their energy (README "Generator v3": balance 0.85).
DOODLE_BALANCE = 0.85
#: ``balance`` of photos: photo stylizers (``doodle train --content``) and ``doodle optimize --content``.
PHOTO_BALANCE = 1.0
#: ``colour_weight`` of doodle generators (``doodle train --colour-weight``). At equal say the deep
#: layers make up most of the loss (~1 against ~0.1 at balance 0.5), so the colour term needs about
#: three times the weight it had there (8) to hold the regions' colours: on the Monet, 8 -> 24 took
#: the patch distance 0.83x -> 0.66x and border fringes 0.85x -> 0.65x optimize's at the same
#: relative distance (1.20x / 1.19x); 48 bought little more (0.62x / 0.48x, 1.23x). Measured at balance 1,
#: kept at :data:`DOODLE_BALANCE`.
DOODLE_COLOUR_WEIGHT = 24.0


def resolve_balance(balance: float | None, photo: bool) -> float:
    """``doodle optimize``'s ``balance``: as given, else :data:`OPTIMIZE_BALANCE` for doodles, :data:`PHOTO_BALANCE` for photos.

    Examples
    --------
    >>> resolve_balance(None, photo=False), resolve_balance(None, photo=True), resolve_balance(0.2, photo=True)
    (0.5, 1.0, 0.2)
    """
    if balance is None:
        return PHOTO_BALANCE if photo else OPTIMIZE_BALANCE
    return float(balance)


class RegionStyleLoss(nn.Module):
    """Region Gram loss against one style exemplar, with targets computed once.

    ``loss = style_weight * sum_l w_l * sum_r ||G_{l,r}(image) - G_{l,r}(style)||_F^2``
    (averaged over the batch), plus ``content_weight * mean_c mse(F_c(image), F_c(content))``
    over the content layers ``c`` when a content image is set, and
    ``tv_weight * total_variation``. Every region counts the same whatever its area
    (Grams are area-normalized), so small regions of a random mask are learned as
    strongly as large ones; regions absent from either the style or the image at a
    layer are skipped.

    ``relative=True`` makes every term scale-free, so that no layer or term
    outweighs another by the scale of its features, whatever the loss network or
    image size. The style term of layer ``l`` becomes
    ``D_l / (E_l^b E_1^(1-b))``, with ``D_l = sum_r ||G_lr - T_lr||^2`` and
    ``E_l = sum_r ||T_lr||^2`` over the regions present in the image, ``E_1``
    that of the first style layer and ``b = balance``. With ``b = 1`` every
    layer has an equal say (``D_l / E_l``, :meth:`relative_distances`); the raw
    loss (``relative=False``) weighs layer ``l`` by ``E_l``, which falls by
    about 10^6 from relu1_1 to relu5_1 with VGG features, so the deep layers
    have no say. With equal say the deepest layers, whose masks are the most
    blurred, win their statistics with rainbow outlines along region borders
    and garbled region shapes (``scripts/bench_objective.py``); a generator
    trained that way paints them too. Judged by pixels (patch distance,
    off-painting colours), a generator trained on Grams alone paints best at
    ``b = 0`` and worse as ``b`` grows, while the deep layers' statistics
    improve: ``b`` trades one for the other, unless the colour term below
    holds the pixels (doodle generators train at :data:`DOODLE_BALANCE` with
    it). ``b = 0`` is the raw loss's weighting divided by the first layer's
    energy, so the loss is about 1 for any painting and loss network. The
    content term of layer ``c``
    compares where each feature channel ``k`` fires, not how strongly:
    ``mean_k ||F_ck / n(F_ck) - P_ck / n(P_ck)||^2`` over the channels that fire
    on the photo (``F_ck``, ``P_ck``: the channel's ``h * w`` activations in the
    image and the photo; ``n(x) = sqrt(||x||^2 + (0.1 ||P_ck||)^2)``, a unit norm
    softened by :data:`PATTERN_SOFTNESS`), averaged over the content layers.
    How strongly features fire is what the style's Grams prescribe (the exemplar
    painting's HED features carry 0.7-4.7x the energy of the benchmark photos'),
    so a content term that also held the photo's magnitudes,
    ``||F - P||^2 / ||P||^2``, fights the style and loses the photo's structure
    first (``scripts/bench_content.py``). Both terms are 0 at their target and
    about 1 (per style layer) for an unrelated image, so weights of 1 balance them.

    ``colour_weight`` adds ``colour_weight * D_colour``, the sliced Wasserstein
    distance of every region's pixel colours to the painting's
    (:func:`doodle.style.histogram.region_colour_distance`; regions by the
    masks' largest channel at full resolution): Grams leave a region free to
    take colours beside the painting's, most of all along borders.

    Parameters
    ----------
    net : doodle.lossnet.vgg.VGGFeatures
        Frozen loss network; must reach the deepest layer used.
    style_image : Tensor, shape (1, 3, Hs, Ws), RGB in [0, 1]
    style_masks : Tensor, shape (1, K, Hs, Ws)
        One-hot region masks of the style's semantic map.
    layers : sequence of str
        Style layers.
    layer_weights : sequence of float, optional
        One weight per style layer (default 1 each).
    style_weight, content_weight, tv_weight : float
    content_layers : sequence of str
        Layers of the content term (default :data:`CONTENT_LAYERS`).
    content_image : Tensor, shape (1, 3, H, W), optional
        Only for the optimization-based doodle (the output's size).
    relative : bool
        Relative style and content terms (above) instead of raw distances.
    balance : float
        ``b`` in [0, 1] of the relative style term (above); 1 gives every layer
        an equal say.
    colour_weight : float
        Weight of the region colour term (above); 0 leaves it out.
    """

    def __init__(
        self,
        net: nn.Module,
        style_image: torch.Tensor,
        style_masks: torch.Tensor,
        layers: Sequence[str] = DEFAULT_STYLE_LAYERS,
        layer_weights: Sequence[float] | None = None,
        style_weight: float = 1.0,
        content_weight: float = 0.0,
        content_layers: Sequence[str] = CONTENT_LAYERS,
        content_image: torch.Tensor | None = None,
        tv_weight: float = 0.0,
        relative: bool = False,
        balance: float = 1.0,
        colour_weight: float = 0.0,
    ) -> None:
        super().__init__()
        if not 0.0 <= balance <= 1.0:
            raise ValueError(f"balance must be in [0, 1], got {balance}")
        if colour_weight < 0:
            raise ValueError(f"the colour weight must be >= 0, got {colour_weight}")
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
        self.tv_weight = float(tv_weight)
        self.relative = bool(relative)
        self.balance = float(balance)
        self.k = style_masks.shape[1]
        self.colour_weight = float(colour_weight)
        if self.colour_weight > 0:
            self.register_buffer("colour_directions", colour_directions())
            targets = region_colour_targets(style_image[0], style_masks[0].argmax(0), self.k, self.colour_directions)
            for r, target in enumerate(targets):
                self.register_buffer(f"colour_target_{r}", target)
        with torch.no_grad():
            feats = net(style_image, self.layers)
            pyramid = mask_pyramid(net, style_masks, self.layers)
            for name in self.layers:
                grams, areas = region_gram(feats[name], pyramid[name])
                self.register_buffer(f"target_{name}", grams[0])
                self.register_buffer(f"valid_{name}", areas[0] > MIN_REGION_AREA)
                self.register_buffer(f"target_norm_{name}", grams[0].flatten(1).square().sum(1))  # (K,)
            # Content targets come from ``content_image`` once (the optimization) or from the
            # ``content`` batch of every forward (feed-forward stylization, content_image None).
            self.content_layers = list(dict.fromkeys(content_layers)) if content_weight > 0 else []
            if content_weight > 0 and not self.content_layers:
                raise ValueError("no content layer given; name at least one, e.g. relu4_2")
            self.has_content_image = content_image is not None and bool(self.content_layers)
            if self.has_content_image:
                content = net(content_image, self.content_layers)
                for name in self.content_layers:
                    self.register_buffer(f"content_{name}", content[name].float())

    def region_distances(
        self, feats: Mapping[str, torch.Tensor], masks: torch.Tensor
    ) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """Per style layer, every region's squared Gram distance to its target, and where it counts.

        Parameters
        ----------
        feats : mapping of str to Tensor, shape (B, C, h, w)
            The loss network's features of the images, at least at ``self.layers``.
        masks : Tensor, shape (B, K, H, W)

        Returns
        -------
        dict of str to (Tensor, Tensor)
            ``(distance (B, K) float32, valid (B, K) bool)`` per layer: regions
            present both in the image's mask and in the style at that layer;
            the distance is zero elsewhere.
        """
        if masks.shape[1] != self.k:
            raise ValueError(f"masks have {masks.shape[1]} regions but the style has {self.k}")
        pyramid = mask_pyramid(self.net, masks, self.layers)
        out = {}
        for name in self.layers:
            masks_l = pyramid[name]
            valid = (masks_l.flatten(2).sum(-1) > MIN_REGION_AREA) & getattr(self, f"valid_{name}")
            out[name] = region_gram_distance(feats[name], masks_l, getattr(self, f"target_{name}"), valid), valid
        return out

    def relative_distances(self, feats: Mapping[str, torch.Tensor], masks: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per style layer, each image's relative region style distance.

        ``sum_r ||G_lr - T_lr||^2 / sum_r ||T_lr||^2`` over the regions ``r`` that
        :meth:`region_distances` compares at layer ``l``: 0 for the style on its own
        map, about 1 for an unrelated image, whatever the scale of the layer's
        features. An image with no comparable region at a layer scores 0 there.

        Parameters
        ----------
        feats : mapping of str to Tensor, shape (B, C, h, w)
        masks : Tensor, shape (B, K, H, W)

        Returns
        -------
        dict of str to Tensor, shape (B,), float32
        """
        return self._balanced(self.region_distances(feats, masks), balance=1.0)

    def _balanced(self, distances: Mapping[str, tuple[torch.Tensor, torch.Tensor]],
                  balance: float) -> dict[str, torch.Tensor]:
        """Per layer and image, ``D_l / (E_l^balance E_1^(1-balance))`` (see the class docstring); 0 where E is 0."""
        energy = {name: (valid * getattr(self, f"target_norm_{name}")).sum(-1)
                  for name, (_, valid) in distances.items()}
        first = energy[self.layers[0]]
        out = {}
        for name, (distance, _) in distances.items():
            scale = energy[name].pow(balance) * first.pow(1.0 - balance)
            out[name] = torch.where(scale > 0, distance.sum(-1) / scale.clamp_min(1e-30), 0.0)
        return out

    def forward(self, image: torch.Tensor, masks: torch.Tensor,
                content: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Loss of a batch of images whose regions are given by ``masks``.

        Parameters
        ----------
        image : Tensor, shape (B, 3, H, W), RGB in [0, 1]
        masks : Tensor, shape (B, K, H, W)
        content : Tensor, shape (B, 3, H, W), optional
            The photos the images repaint, one each (feed-forward stylization):
            the content term's targets instead of the fixed ``content_image``.

        Returns
        -------
        total : Tensor, scalar float32
        parts : dict of str to Tensor
            Unweighted per-layer style losses (keys are layer names) and, when used,
            ``"content"``, ``"colour"`` and ``"tv"``.
        """
        content_layers = self.content_layers if (content is not None or self.has_content_image) else []
        feats = self.net(image, list(dict.fromkeys(self.layers + content_layers)))
        if content is not None and content_layers:
            with torch.no_grad():
                targets = {name: f.float() for name, f in self.net(content, content_layers).items()}
        else:
            targets = {name: getattr(self, f"content_{name}") for name in content_layers}
        parts: dict[str, torch.Tensor] = {}
        total = image.new_zeros((), dtype=torch.float32)
        if self.relative:
            balanced = self._balanced(self.region_distances(feats, masks), self.balance)
            style = {name: d.mean() for name, d in balanced.items()}
        else:
            style = {name: d.sum() / image.shape[0] for name, (d, _) in self.region_distances(feats, masks).items()}
        for name, weight in zip(self.layers, self.layer_weights):
            parts[name] = style[name]
            total = total + self.style_weight * weight * parts[name]
        if content_layers:
            parts["content"] = torch.stack([self._content_distance(feats[name].float(), targets[name])
                                            for name in content_layers]).mean()
            total = total + self.content_weight * parts["content"]
        if self.colour_weight > 0:
            targets = [getattr(self, f"colour_target_{r}") for r in range(self.k)]
            parts["colour"] = region_colour_distance(image, mask_labels(masks), targets, self.colour_directions)
            total = total + self.colour_weight * parts["colour"]
        if self.tv_weight > 0:
            parts["tv"] = total_variation(image)
            total = total + self.tv_weight * parts["tv"]
        return total, parts

    def _content_distance(self, features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Raw: mean squared error. Relative: distance of the channels' unit-norm spatial patterns.

        Features (B, C, h, w) against the photos' (B or 1, C, h, w); averaged over the batch.
        """
        if not self.relative:
            return (features - target).pow(2).mean()
        target = target.flatten(2)
        target_norm = target.norm(dim=2, keepdim=True)  # (Bt, C, 1)
        # Soft unit norm: a channel the style switches off goes smoothly to 0 (distance 1)
        # instead of having its direction, and the gradient, blow up as its norm vanishes.
        floor = (PATTERN_SOFTNESS * target_norm).square()
        pattern = target * (target_norm.square() + floor).clamp_min(1e-30).rsqrt()
        mine = features.flatten(2)
        mine = mine * (mine.square().sum(2, keepdim=True) + floor).clamp_min(1e-30).rsqrt()
        distance = (mine - pattern).pow(2).sum(2)  # (B, C)
        # Channels that never fire on a photo say nothing about it.
        used = (target_norm[..., 0] > 0).expand_as(distance)
        per_image = (distance * used).sum(1) / used.sum(1).clamp_min(1)
        return per_image.mean()


def total_variation(image: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of neighbouring pixels of (B, C, H, W) images."""
    dy = (image[..., 1:, :] - image[..., :-1, :]).float().pow(2).mean() if image.shape[-2] > 1 else 0.0
    dx = (image[..., :, 1:] - image[..., :, :-1]).float().pow(2).mean() if image.shape[-1] > 1 else 0.0
    return image.new_zeros((), dtype=torch.float32) + dy + dx


def style_losses_as_floats(parts: Mapping[str, torch.Tensor]) -> dict[str, float]:
    """Detach loss parts to plain floats for logs and progress bars."""
    return {k: float(v.detach()) for k, v in parts.items()}
