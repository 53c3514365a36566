"""What every feed-forward doodle generator shares.

:class:`MaskGenerator` is the base of every architecture (mask in, image of the
same size out, per-region colours, configs, padding); :func:`norm_layer` and
:func:`normalize` build and apply the normalizations they choose from
(:data:`NORMS`). The architectures are :mod:`doodle.generators.texture` and
:mod:`doodle.generators.resnet`; :mod:`doodle.generators.registry` picks one by name.

``norm="region"`` takes instance-norm statistics and affine parameters per
region of the mask (:class:`doodle.generators.region_norm.RegionInstanceNorm`),
so how a region is painted does not depend on how much of the mask the other
regions cover. A per-region RGB offset (``region_color``, logits) is added
before the sigmoid; training starts it at each style region's mean colour
(:meth:`MaskGenerator.init_region_colors`).
"""

from __future__ import annotations

import inspect
import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from doodle.generators.region_norm import RegionInstanceNorm

NORMS = ("instance", "region", "batch")


def norm_layer(kind: str, channels: int, k: int) -> nn.Module:
    """A normalization layer of ``kind`` (see :data:`NORMS`) for ``channels`` features and ``k`` regions."""
    if kind == "region":
        return RegionInstanceNorm(channels, k)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    return nn.BatchNorm2d(channels)


def normalize(norm: nn.Module, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Apply ``norm`` to ``x``; a region norm also gets the region weights ``mask`` at x's resolution."""
    return norm(x, mask) if isinstance(norm, RegionInstanceNorm) else norm(x)


def pad_bottom_right(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    # Reflection keeps region shapes continuous across the border; it needs the
    # pad to be smaller than the side, so tiny inputs fall back to replication.
    pad_w = width - x.shape[-1]
    if pad_w:
        x = F.pad(x, (0, pad_w, 0, 0), mode="reflect" if pad_w < x.shape[-1] else "replicate")
    pad_h = height - x.shape[-2]
    if pad_h:
        x = F.pad(x, (0, 0, 0, pad_h), mode="reflect" if pad_h < x.shape[-2] else "replicate")
    return x


class MaskGenerator(nn.Module):
    """What every doodle generator shares: a mask in, an RGB image of the same size out.

    Subclasses build their layers, set :attr:`multiple` (sides are padded to a
    multiple of it) and implement :meth:`paint`, from the padded masks (and
    noise) to RGB logits. This base validates inputs, pads and crops, draws the
    noise, adds the per-region colours (``region_color``, logits: each region's
    base colour, set from the style by :meth:`init_region_colors`) and applies
    the sigmoid. Constructor arguments are the JSON-able config of checkpoints.
    """

    arch = ""
    multiple = 1

    def __init__(self, k: int, noise_channels: int, norm: str) -> None:
        super().__init__()
        if k < 1 or noise_channels < 0:
            raise ValueError(f"generator needs k >= 1 and noise_channels >= 0; got k={k}, noise_channels={noise_channels}")
        if norm not in NORMS:
            raise ValueError(f"unknown generator norm {norm!r}; use one of {', '.join(NORMS)}")
        self.k, self.noise_channels, self.norm = int(k), int(noise_channels), norm
        # The region norm removes every per-region constant from its input, so without
        # these offsets a fresh region-norm generator paints all regions the same grey
        # until its per-region shifts have been learned.
        self.region_color = nn.Parameter(torch.zeros(self.k, 3))

    @property
    def config(self) -> dict[str, Any]:
        """JSON-able constructor arguments (see :meth:`from_config`)."""
        return self.to_config()

    def to_config(self) -> dict[str, Any]:
        """Return the constructor arguments, and ``arch``, as a JSON-able dict."""
        names = [n for n in inspect.signature(type(self).__init__).parameters if n != "self"]
        return {"arch": self.arch, **{n: getattr(self, n) for n in names}}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "MaskGenerator":
        """Build a generator from :meth:`to_config` output.

        Raises
        ------
        ValueError
            If ``config`` has keys this version does not know, or names another architecture.
        """
        config = dict(config)
        arch = config.pop("arch", cls.arch)
        if arch != cls.arch:
            raise ValueError(f"generator config is for arch {arch!r}, not {cls.arch!r}")
        known = set(inspect.signature(cls.__init__).parameters) - {"self"}
        unknown = sorted(set(config) - known)
        if unknown:
            raise ValueError(
                f"unknown generator config keys {unknown}; this doodle knows {sorted(known)}"
            )
        return cls(**config)

    @property
    def _memory_format(self) -> torch.memory_format:
        # Channels-last runs the convolutions up to 2x faster on CPU; the region norm
        # reads channels-last features without a copy; PyTorch's instance and batch
        # norms are 3-30x slower on them.
        return torch.channels_last if self.norm == "region" else torch.contiguous_format

    def padded_size(self, height: int, width: int) -> tuple[int, int]:
        """Internal working size for an ``height x width`` mask.

        A multiple of :attr:`multiple`, and at least twice it so that the
        coarsest scale is >= 2 pixels (reflection padding and instance norm
        both need more than one pixel).
        """
        m = self.multiple
        return (max(math.ceil(height / m) * m, 2 * m), max(math.ceil(width / m) * m, 2 * m))

    def noise(self, like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """Uniform noise (B, noise_channels, h, w) of ``like``'s batch, size, dtype and device."""
        return torch.rand(
            (like.shape[0], self.noise_channels, *like.shape[-2:]), generator=generator, dtype=like.dtype,
            device=generator.device if generator is not None else like.device,
        ).to(like.device)

    def paint(self, masks: torch.Tensor, generator: torch.Generator | None,
              image: torch.Tensor | None = None) -> torch.Tensor:
        """Padded masks (B, K, H, W), H and W multiples of :attr:`multiple` -> RGB logits (B, 3, H, W).

        ``image`` (B, C, H, W), padded like the masks, only for generators with
        ``image_channels``.
        """
        raise NotImplementedError

    def forward(
        self,
        masks: torch.Tensor,
        noise_seed: int | None = None,
        generator: torch.Generator | None = None,
        image: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Render masks (and, for a photo stylizer, an image) to images.

        Parameters
        ----------
        masks : Tensor, float, shape (B, K, H, W)
            One-hot (or soft) region masks; any H, W >= 1.
        noise_seed : int, optional
            Seed of a fresh ``torch.Generator`` for the noise: the same seed
            renders the same image.
        generator : torch.Generator, optional
            Noise source (mutually exclusive with ``noise_seed``). Without
            either, the global RNG is used.
        image : Tensor, shape (B, image_channels, H, W), optional
            The image to repaint; required by (and only by) generators with
            ``image_channels``.

        Returns
        -------
        Tensor, shape (B, 3, H, W)
            RGB in [0, 1].
        """
        if masks.ndim != 4 or masks.shape[1] != self.k:
            raise ValueError(
                f"generator expects masks of shape (B, {self.k}, H, W); got {tuple(masks.shape)}"
            )
        if noise_seed is not None and generator is not None:
            raise ValueError("pass either noise_seed or generator, not both")
        if noise_seed is not None:
            generator = torch.Generator(device=masks.device).manual_seed(int(noise_seed))
        height, width = masks.shape[-2:]
        channels = getattr(self, "image_channels", 0)
        if (image is None) != (channels == 0) or (image is not None and (
                image.ndim != 4 or image.shape[1] != channels or image.shape[-2:] != masks.shape[-2:])):
            wanted = f"an image of shape ({masks.shape[0]}, {channels}, {height}, {width})" if channels else "no image"
            raise ValueError(f"this generator takes {wanted}; got "
                             f"{'none' if image is None else tuple(image.shape)}")
        dtype = masks.dtype if masks.is_floating_point() else torch.float32
        padded = self.padded_size(height, width)
        x = pad_bottom_right(masks.to(dtype), *padded)
        if image is not None:
            image = pad_bottom_right(image.to(dtype), *padded)
        logits = self.paint(x, generator, image) + torch.einsum("bkhw,kc->bchw", x, self.region_color.to(x.dtype))
        return torch.sigmoid(logits)[..., :height, :width]

    @torch.no_grad()
    def init_region_colors(self, image: torch.Tensor, masks: torch.Tensor) -> None:
        """Start every region at the mean colour of its part of the style image.

        Parameters
        ----------
        image : Tensor, shape (3, H, W)
            Style image, RGB in [0, 1].
        masks : Tensor, shape (K, H, W)
            Its one-hot region masks. A region with no pixels starts grey.

        Examples
        --------
        >>> from doodle.generators.texture import DoodleGenerator
        >>> g = DoodleGenerator(k=2, scales=2, width=2)
        >>> image = torch.tensor([[[0.2, 0.8]], [[0.2, 0.8]], [[0.2, 0.8]]])
        >>> g.init_region_colors(image, torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]]]))
        >>> torch.sigmoid(g.region_color.detach()).round(decimals=2)
        tensor([[0.2000, 0.2000, 0.2000],
                [0.8000, 0.8000, 0.8000]])
        """
        if masks.shape[0] != self.k or image.shape[-2:] != masks.shape[-2:]:
            raise ValueError(f"expected a (3, H, W) image and ({self.k}, H, W) masks; "
                             f"got {tuple(image.shape)} and {tuple(masks.shape)}")
        masks = masks.float()
        area = masks.sum(dim=(1, 2))
        mean = (masks.flatten(1) @ image.float().flatten(1).T) / area.clamp_min(1)[:, None]  # (K, 3)
        mean[area == 0] = 0.5
        # Clamped: the logit of a pure black or white would be infinite.
        self.region_color.copy_(torch.logit(mean.clamp(0.02, 0.98)))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # Checkpoints from before region colours: zero logits are exactly the model they trained.
        state_dict.setdefault(prefix + "region_color", torch.zeros_like(self.region_color))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
