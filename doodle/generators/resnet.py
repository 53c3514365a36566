"""An encoder / residual / decoder generator (Johnson et al. 2016), conditioned on a mask at every block.

The compute goes where it is cheap: two strided 4x4 convolutions (3x3 in
checkpoints from before ``aligned``; three for photo stylizers, ``downs``) take the input to 1/4 resolution, where
residual blocks do most of the work on 16x fewer pixels; as many upsample + 3x3 convolutions come back (no
transposed convolutions: they leave checkerboards), with the encoder's
features at the same scale added on the way up (U-Net style skips, so fine
texture does not have to pass through the bottleneck). The mask is injected
as in SPADE (Park et al. 2019), at every normalization, at that layer's
scale: with ``norm="region"`` every normalization takes its statistics and
its scale and shift per region (:class:`doodle.generators.region_norm.RegionInstanceNorm`),
and every residual block also sees the mask as input channels. Masks are
pooled by majority (:func:`majority_labels`), so region borders are sharp at
every scale and no pixel is normalized with a blend of two regions' statistics. With
``borders="region"`` no region's features cross a border at full resolution
(:func:`region_upsample`, :func:`region_conv`). Reflection padding throughout.

The input is the mask, uniform noise (the doodle's only source of variety
inside a region) and, for photo stylization, the photo's RGB channels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from doodle.generators.base import MaskGenerator, norm_layer, normalize
from doodle.maps.semantic import mask_labels


def majority_labels(masks: torch.Tensor, factor: int) -> torch.Tensor:
    """One-hot masks (B, K, H, W) -> region indices (B, 1, H/factor, W/factor): each cell's most common region.

    Hard, not averaged: a region norm at a pixel shared by two regions would
    normalize it with a blend of their means and variances, which fits neither
    and paints a bright outline along every border (seen with average pooling).

    Examples
    --------
    >>> labels = torch.tensor([[[0, 0, 0, 1], [0, 1, 1, 1]]])  # left cell: 3 of 4 region 0; right: 3 of 4 region 1
    >>> majority_labels(F.one_hot(labels, 2).permute(0, 3, 1, 2).float(), 2)[0, 0].tolist()
    [[0, 1]]
    """
    return mask_labels(F.avg_pool2d(masks, factor))[:, None]


def _one_hot(labels: torch.Tensor, k: int, dtype: torch.dtype) -> torch.Tensor:
    """Region indices (B, 1, H, W) -> one-hot masks (B, k, H, W)."""
    return F.one_hot(labels[:, 0], k).permute(0, 3, 1, 2).to(dtype)


#: The 3x3 neighbourhood as (row, column) offsets, in the order of a 3x3 kernel's taps.
_TAPS = torch.tensor([(i, j) for i in range(3) for j in range(3)])


def gather_pixels(x: torch.Tensor, b: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """The features of ``x`` (B, C, H, W) at pixels ``(b, rows, cols)`` (broadcast to one shape S): (*S, C).

    ``x[b, :, rows, cols]`` gives the same, but on a CPU its backward adds the
    gradients of pixels read more than once with parallel atomic adds, in an
    order that changes from run to run: the same step could give gradients a
    rounding apart, and a resumed run then parted from an uninterrupted one.
    ``gather``'s backward (a scatter-add over an index sorted first) adds them
    in one order, and took a third of the time (14 against 48 ms for 45000
    reads of 64 channels).

    Examples
    --------
    >>> x = torch.arange(8.0).view(1, 2, 2, 2)            # channel 0: 0..3, channel 1: 4..7
    >>> gather_pixels(x, torch.tensor([0, 0]), torch.tensor([0, 1]), torch.tensor([1, 0])).tolist()
    [[1.0, 5.0], [2.0, 6.0]]
    """
    _, channels, height, width = x.shape
    b, rows, cols = torch.broadcast_tensors(b, rows, cols)
    flat = x.permute(0, 2, 3, 1).reshape(-1, channels)  # a view of channels-last features
    index = ((b * height + rows) * width + cols).reshape(-1, 1).expand(-1, channels)
    return flat.gather(0, index).view(*rows.shape, channels)


def region_upsample(x: torch.Tensor, coarse: torch.Tensor, fine: torch.Tensor) -> torch.Tensor:
    """Features (B, C, h, w) -> (B, C, 2h, 2w), each fine pixel fed only by cells of its own region.

    Nearest upsampling copies a cell's features to all four of its pixels,
    even to those that belong to a neighbouring region: along every border
    a 1-3 px band then carries one region's texture into the other's
    normalization and colour, which paints a rim of colours neither region
    has. Here a pixel whose cell is of another region takes the mean of the
    cells of its own region among the 3x3 around its cell (its cell's
    features where there are none). Only those pixels, a few percent along
    the borders, are computed apart: everything else is nearest upsampling.

    Parameters
    ----------
    x : Tensor, shape (B, C, h, w)
    coarse : Tensor, shape (B, 1, h, w)
        Region index of every cell (:func:`majority_labels` of the fine masks).
    fine : Tensor, shape (B, 1, 2h, 2w)
        Region index of every output pixel.

    Examples
    --------
    >>> x = torch.tensor([[[[1.0, 5.0]]]])                      # two cells, regions 0 and 1
    >>> coarse = torch.tensor([[[[0, 1]]]])
    >>> fine = torch.tensor([[[[0, 0, 0, 1], [0, 0, 0, 1]]]])
    >>> region_upsample(x, coarse, fine)[0, 0, 0]                # pixel 2 is region 0 inside cell 1
    tensor([1., 1., 1., 5.])
    """
    up = F.interpolate(x, scale_factor=2.0, mode="nearest")
    cell = coarse.repeat_interleave(2, dim=-2).repeat_interleave(2, dim=-1)
    b, _, yy, xx = (cell != fine).nonzero(as_tuple=True)
    if b.numel() == 0:
        return up
    height, width = x.shape[-2:]
    taps = _TAPS.to(x.device) - 1
    rows, cols = yy[:, None] // 2 + taps[:, 0], xx[:, None] // 2 + taps[:, 1]  # (N, 9) cells around each pixel's
    inside = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)
    rows, cols, bb = rows.clamp(0, height - 1), cols.clamp(0, width - 1), b[:, None]
    keep = inside & (coarse[bb, 0, rows, cols] == fine[b, 0, yy, xx][:, None])  # (N, 9): cells of the pixel's region
    cells = gather_pixels(x, bb, rows, cols)  # (N, 9, C); tap 4 is the pixel's own cell
    count = keep.sum(1, keepdim=True)
    mean = (cells * keep[..., None].to(x.dtype)).sum(1) / count.clamp_min(1).to(x.dtype)
    up[b, :, yy, xx] = torch.where(count > 0, mean, cells[:, 4])  # nearest's backward does not need its output
    return up


def region_conv(conv: nn.Conv2d, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """A 3x3 stride-1 convolution that reads each pixel's neighbours only in its own region.

    A neighbour of another region is replaced by the pixel itself (as
    replicate padding does at the image's edge), so along a border neither
    region's painting is mixed into the other's: without it the last two
    full-resolution convolutions carry each region's features 2 px into its
    neighbour, where they meet the neighbour's normalization and colour and
    paint a rim of colours the painting never has. The image's edge is
    reflected, as :class:`ConvNormAct` pads.

    Parameters
    ----------
    conv : nn.Conv2d
        A 3x3 convolution with stride 1 and no padding of its own.
    x : Tensor, shape (B, C, H, W)
    labels : Tensor, shape (B, 1, H, W)
        Region index of every pixel (any dtype whose equality means "same region").

    Examples
    --------
    >>> conv = nn.Conv2d(1, 1, 3, bias=False); _ = nn.init.ones_(conv.weight)
    >>> x = torch.tensor([[[[1.0, 1.0, 1.0, 9.0, 9.0]]]])
    >>> region_conv(conv, x, (x > 5).float()).detach()[0, 0, 0]      # each side sums its own values only
    tensor([ 9.,  9.,  9., 81., 81.])
    """
    height, width = x.shape[-2:]
    mode = "reflect" if min(height, width) > 1 else "replicate"
    xp = F.pad(x, (1, 1, 1, 1), mode=mode)
    lp = F.pad(labels.to(x.dtype), (1, 1, 1, 1), mode=mode)
    out = F.conv2d(xp, conv.weight, conv.bias)
    # Only pixels with a neighbour of another region differ from the plain convolution:
    # a few percent of the image, repainted from their own gathered 3x3 patches.
    same = torch.cat([lp[..., i:i + height, j:j + width] for i, j in _TAPS.tolist()], dim=1) == lp[
        ..., 1:1 + height, 1:1 + width]  # (B, 9, H, W)
    b, yy, xx = (~same.all(1)).nonzero(as_tuple=True)
    if b.numel() == 0:
        return out
    # One gather for all nine taps, a tap of another region pointed at the pixel itself
    # (the padded image's tap 4); its backward is one scatter into the padded features.
    taps, keep = _TAPS.to(x.device), same[b, :, yy, xx]  # keep: (N, 9)
    patches = gather_pixels(xp, b[:, None], yy[:, None] + torch.where(keep, taps[:, 0], 1),
                            xx[:, None] + torch.where(keep, taps[:, 1], 1))  # (N, 9, C)
    weight = conv.weight.permute(0, 2, 3, 1).flatten(1)  # (out, 9 * C), taps major as in the patches
    border = patches.flatten(1) @ weight.T.to(patches.dtype)
    if conv.bias is not None:
        border = border + conv.bias.to(border.dtype)
    out[b, :, yy, xx] = border.to(out.dtype)  # conv2d's backward does not need its output: in place is fine
    return out


class ConvNormAct(nn.Module):
    """Reflection-padded 3x3 (or ``kernel``) convolution, optionally strided, normalization, LeakyReLU (optional)."""

    def __init__(self, in_channels: int, out_channels: int, norm: str, k: int, negative_slope: float,
                 stride: int = 1, act: bool = True, kernel: int = 3) -> None:
        super().__init__()
        self.pad = nn.ReflectionPad2d(1)
        # No conv bias: the normalization right after it has its own shift.
        self.conv = nn.Conv2d(in_channels, out_channels, kernel, stride=stride, bias=False)
        self.norm = norm_layer(norm, out_channels, k)
        self.act = nn.LeakyReLU(negative_slope, inplace=True) if act else nn.Identity()

    def forward(self, x: torch.Tensor, mask: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """(B, in, H, W) features -> (B, out, H/stride, W/stride); ``mask`` (B, K, ., .) at the output's scale.

        With ``labels`` (B, 1, H, W), each pixel's region, the convolution reads
        neighbours only within each pixel's region (:func:`region_conv`; 3x3, stride 1 only).
        """
        y = self.conv(self.pad(x)) if labels is None else region_conv(self.conv, x, labels)
        return self.act(normalize(self.norm, y, mask))


class ResidualBlock(nn.Module):
    """``x + norm(conv(act(norm(conv([x, mask])))))``: Johnson et al.'s block, mask-conditioned."""

    def __init__(self, channels: int, norm: str, k: int, negative_slope: float) -> None:
        super().__init__()
        self.first = ConvNormAct(channels + k, channels, norm, k, negative_slope)
        self.second = ConvNormAct(channels, channels, norm, k, negative_slope, act=False)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) features and (B, K, H, W) region weights -> (B, C, H, W)."""
        return x + self.second(self.first(torch.cat([x, mask.to(x.dtype)], dim=1), mask), mask)


class ResnetGenerator(MaskGenerator):
    """Mask-conditioned encoder / residual blocks / decoder network.

    Parameters
    ----------
    k : int
        Number of semantic regions (channels of the one-hot mask).
    width : int
        Channels at full resolution, doubled at every downsampling (4x at 1/4).
    blocks : int
        Residual blocks at the coarsest resolution (1/4 by default).
    noise_channels : int
        Uniform noise channels added to the input (0: a deterministic generator).
    image_channels : int
        Extra input channels of an image to repaint (3 for photo stylization,
        0 for doodles; see ``image`` in :meth:`forward`).
    norm : {"instance", "region", "batch"}
        Normalization layer ("region": per-region statistics, scale and shift).
    negative_slope : float
        LeakyReLU slope.
    aligned : bool
        Downsample with 4x4 stride-2 convolutions, whose outputs are centred
        on the 2x2 cells that :func:`majority_labels` labels (and that nearest
        upsampling spreads back symmetrically). The 3x3 stride-2 convolutions
        of ``aligned=False`` (checkpoints from before it) centre their outputs
        on a cell's corner pixel: at 1/4 resolution a feature sits 1.5 px
        from the cell whose region normalizes it, so near a border it is
        normalized as the neighbouring region.
    borders : {"region", "mixed"}
        ``"region"``: upsampling feeds each pixel only from cells of its own
        region (:func:`region_upsample`) and the last two full-resolution
        convolutions read neighbours only within each pixel's region
        (:func:`region_conv`), so no region's features are painted into its
        neighbour. ``"mixed"`` (checkpoints from before it): nearest
        upsampling and plain convolutions.
    downs : int
        Strided downsamplings before the residual blocks (2: blocks at 1/4
        resolution; 3: at 1/8, with twice the channels, for the same cost
        per block and twice the reach). Sides are padded to a multiple of
        ``2 ** downs``.

    Notes
    -----
    The defaults (width 16, 5 blocks: 64 channels at 1/4 resolution, 0.43M
    parameters for k=4) cost 0.60 GMAC per 128x128 image, an eighth of a
    VGG-16 forward pass to relu5_1 (4.7 GMAC), so the loss network, not the
    generator, dominates a training step. (The texture network's 76k
    parameters cost as many MACs, most of them at full resolution.)

    Examples
    --------
    >>> import torch
    >>> g = ResnetGenerator(k=3, width=4, blocks=1).eval()
    >>> masks = torch.zeros(1, 3, 7, 13); masks[:, 0] = 1
    >>> g(masks, noise_seed=0).shape
    torch.Size([1, 3, 7, 13])
    """

    arch = "resnet"
    multiple = 4  # 2 ** downs, set per instance

    def __init__(
        self,
        k: int,
        width: int = 16,
        blocks: int = 5,
        noise_channels: int = 4,
        image_channels: int = 0,
        norm: str = "region",
        negative_slope: float = 0.2,
        aligned: bool = True,
        borders: str = "region",
        downs: int = 2,
    ) -> None:
        if width < 1 or blocks < 0 or image_channels < 0 or downs < 1:
            raise ValueError(f"generator needs width >= 1, blocks >= 0, image_channels >= 0, downs >= 1; got "
                             f"width={width}, blocks={blocks}, image_channels={image_channels}, downs={downs}")
        super().__init__(k, noise_channels, norm)
        self.width, self.blocks, self.image_channels = int(width), int(blocks), int(image_channels)
        if borders not in ("region", "mixed"):
            raise ValueError(f"generator borders must be 'region' or 'mixed', got {borders!r}")
        self.negative_slope, self.aligned, self.borders = float(negative_slope), bool(aligned), borders
        self.downs = int(downs)
        self.multiple = 2 ** self.downs
        widths = [self.width * 2 ** s for s in range(self.downs + 1)]  # channels at 1, 1/2, 1/4, ...
        args = (norm, self.k, self.negative_slope)
        self.stem = ConvNormAct(self.k + self.noise_channels + self.image_channels, widths[0], *args)
        down = {"stride": 2, "kernel": 4 if self.aligned else 3}
        self.down = nn.ModuleList(ConvNormAct(widths[s], widths[s + 1], *args, **down) for s in range(self.downs))
        self.body = nn.ModuleList(ResidualBlock(widths[-1], *args) for _ in range(self.blocks))
        self.up = nn.ModuleList(ConvNormAct(widths[s + 1], widths[s], *args) for s in reversed(range(self.downs)))
        self.to_rgb = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(widths[0], 3, 3))

    @classmethod
    def from_config(cls, config: dict) -> "ResnetGenerator":
        """As :meth:`MaskGenerator.from_config`; configs from before ``aligned`` build what they trained."""
        return super().from_config({"aligned": False, "borders": "mixed", **config})

    def paint(self, masks: torch.Tensor, generator: torch.Generator | None,
              image: torch.Tensor | None = None) -> torch.Tensor:
        """Padded masks (B, K, H, W), H and W multiples of :attr:`multiple` -> RGB logits (B, 3, H, W)."""
        cells = [majority_labels(masks, 2 ** s) for s in range(1, self.downs + 1)]
        pooled = [masks] + [_one_hot(c, self.k, masks.dtype) for c in cells]
        parts = [masks, self.noise(masks, generator)] + ([image.to(masks.dtype)] if self.image_channels else [])
        x = self.stem(torch.cat(parts, dim=1).contiguous(memory_format=self._memory_format), pooled[0])
        skips = [x]
        for s, down in enumerate(self.down, start=1):
            x = down(x, pooled[s])
            skips.append(x)
        for block in self.body:
            x = block(x, pooled[-1])
        scales = reversed(range(self.downs))  # the scale each up-convolution paints at
        if self.borders == "mixed":
            for s, up in zip(scales, self.up):
                x = up(F.interpolate(x, scale_factor=2.0, mode="nearest"), pooled[s]) + skips[s]
            return self.to_rgb(x)
        # No region's features cross a border at full resolution (see region_upsample, region_conv).
        labels = [mask_labels(masks)[:, None]] + cells
        for s, up in zip(scales, self.up):
            x = up(region_upsample(x, labels[s + 1], labels[s]), pooled[s], labels[0] if s == 0 else None) + skips[s]
        return region_conv(self.to_rgb[1], x, labels[0])
