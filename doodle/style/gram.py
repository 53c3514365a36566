"""Per-region, area-normalized Gram matrices and the distance between them.

A region's Gram only involves the pixels its soft mask covers. Masks are nearly
one-hot (soft only near borders), so every function here gathers each region's
support once, about N pixels in all instead of K masked copies of all N: the
cost is ~C^2 N rather than K C^2 N.
"""

from __future__ import annotations

import torch


def _check(features: torch.Tensor, masks: torch.Tensor) -> None:
    if features.shape[-2:] != masks.shape[-2:] or features.shape[0] != masks.shape[0]:
        raise ValueError(
            f"features {tuple(features.shape)} and masks {tuple(masks.shape)} disagree in batch or spatial size"
        )


def _pixel_rows(features: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B*H*W, C), one pixel per row (a view for channels-last features)."""
    return features.permute(0, 2, 3, 1).reshape(-1, features.shape[1])


def _supports(masks: torch.Tensor, groups: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
    """Find the pixels of every (image, region) group in ``groups``, all in one go.

    Parameters
    ----------
    masks : Tensor, float32, shape (B, K, H, W)
    groups : Tensor of bool, shape (B, K)
        Which (image, region) pairs to gather.

    Returns
    -------
    index : Tensor of int64, shape (n,)
        Row of each pixel in :func:`_pixel_rows`, grouped by (image, region) in
        row-major order.
    weights : Tensor, float32, shape (n,)
        Mask value of each gathered pixel.
    counts : list of int
        Pixels per selected group, in the same order.
    """
    b, k = masks.shape[:2]
    n = masks.shape[-2] * masks.shape[-1]
    flat = (masks * groups[..., None, None]).reshape(b * k, n)
    group, pixel = torch.nonzero(flat, as_tuple=True)
    counts = torch.bincount(group, minlength=b * k)[groups.reshape(-1)].tolist()
    return torch.div(group, k, rounding_mode="floor") * n + pixel, flat[group, pixel], counts


def _bucket(n: int) -> int:
    """``n`` rounded up to one of four sizes per octave (a multiple of 16): at most 25 % more.

    Examples
    --------
    >>> [_bucket(n) for n in (1, 16, 17, 100, 129, 1000, 3022)]
    [16, 16, 32, 112, 160, 1024, 3072]
    """
    step = 1 << max(4, n.bit_length() - 3)
    return max(step, -(-n // step) * step)


def _pad_groups(
    index: torch.Tensor, weights: torch.Tensor, counts: list[int]
) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
    """Pad every group of :func:`_supports` with rows of weight 0 up to :func:`_bucket` of its count.

    oneDNN's bf16 matmuls (CPUs with AMX / AVX512-BF16) build a kernel for every
    new shape: with the region areas of random masks, every Gram of every step
    had a new row count and took ~30x its cached time (a bf16 training step 600
    ms instead of 300). Bucketed, the shapes recur after a few steps. The padded
    rows point at pixel row 0 with weight 0: they add nothing to a Gram, and
    their gradient, scaled by the weight, adds zeros. float32 matmuls (MKL) need
    no buckets, and the extra rows cost them ~7 % of a step.
    """
    padded = [_bucket(n) for n in counts]
    sizes, room = (torch.tensor(c, dtype=torch.long, device=index.device) for c in (counts, padded))
    shift = (room.cumsum(0) - room) - (sizes.cumsum(0) - sizes)  # each group's new start - its old
    rows = torch.arange(index.numel(), device=index.device) + torch.repeat_interleave(shift, sizes)
    total = sum(padded)
    return (index.new_zeros(total).index_copy_(0, rows, index), weights.new_zeros(total).index_copy_(0, rows, weights),
            padded)


def region_gram(features: torch.Tensor, masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Gram matrix of every region's masked features, normalized by the region's area.

    For features F (C x N) and a region's soft mask m (N,):
    ``G = (F * m)(F * m)^T / (C * sum(m))``. Normalizing by the region's own area
    (not the image's) makes a region's statistics comparable whatever its size,
    so a small region of a target map is matched to the same style as a large one.

    Computed in float32 even under autocast: the Gram sums many products and the
    loss compares near-equal matrices, which bf16's 8-bit mantissa cannot resolve.
    Masks are treated as constants (no gradient flows to them). For a loss, use
    :func:`region_gram_distance`, which never builds the Grams' gradients.

    Parameters
    ----------
    features : Tensor, shape (B, C, H, W)
    masks : Tensor, shape (B, K, H, W)
        Soft masks at the features' resolution (see :func:`doodle.style.pyramid.mask_pyramid`).

    Returns
    -------
    grams : Tensor, shape (B, K, C, C), float32
        Zero for regions with no area.
    areas : Tensor, shape (B, K), float32
        ``sum(m)`` per region, in feature-map pixels.

    Examples
    --------
    >>> f = torch.ones(1, 2, 2, 2)
    >>> m = torch.tensor([[[[1., 1.], [0., 0.]]]])
    >>> g, a = region_gram(f, m)
    >>> g[0, 0], a
    (tensor([[0.5000, 0.5000],
            [0.5000, 0.5000]]), tensor([[2.]]))
    """
    _check(features, masks)
    b, c = features.shape[:2]
    k = masks.shape[1]
    with torch.autocast(features.device.type, enabled=False):
        m = masks.detach().float()
        areas = m.sum(dim=(-1, -2))
        index, weights, counts = _supports(m, torch.ones(b, k, dtype=torch.bool))
        p = _pixel_rows(features)[index].float() * weights[:, None]
        grams = torch.stack([q.T @ q for q in p.split(counts)]).reshape(b, k, c, c)
        grams = grams / (c * areas.clamp_min(1e-8))[..., None, None]
    return grams, areas


def region_gram_distance(
    features: torch.Tensor, masks: torch.Tensor, targets: torch.Tensor, valid: torch.Tensor
) -> torch.Tensor:
    """Squared Frobenius distance of every region's Gram to its target Gram.

    ``d[b, k] = ||G_k(features[b]) - targets[k]||_F^2`` with ``G_k`` as in
    :func:`region_gram`; zero where ``valid[b, k]`` is false (no gradient either).

    Fused for training speed: one ``addmm`` gives ``G - T`` directly, and the
    hand-written backward is a single ``(G - T) @ P`` per region and one
    scatter-add, instead of autograd's chain through K x C x C intermediates
    (which dominated the cost at deep layers, where C^2 exceeds C * N). The
    matmuls run in the features' dtype: with bf16 features (autocast) the
    products are exact in the float32 accumulator, the target is subtracted
    there too, and ``G - T`` is rounded once, so the distance keeps bf16's
    relative precision of ``G - T`` however close G is to T (float32 features
    give a float32 computation). The distances are float32. Under bf16 on a
    CPU, every region's rows are padded with zero rows to one of a few
    recurring counts (see ``_pad_groups``): oneDNN compiles a kernel per shape.

    Parameters
    ----------
    features : Tensor, shape (B, C, H, W)
    masks : Tensor, shape (B, K, H, W)
    targets : Tensor, shape (K, C, C)
        Target Grams (e.g. of the style exemplar).
    valid : Tensor of bool, shape (B, K)
        Regions to compare.

    Returns
    -------
    Tensor, shape (B, K), float32

    Examples
    --------
    >>> f = torch.ones(1, 2, 2, 2)
    >>> m = torch.tensor([[[[1., 1.], [0., 0.]]]])
    >>> region_gram_distance(f, m, torch.zeros(1, 2, 2), torch.tensor([[True]]))
    tensor([[1.]])
    """
    _check(features, masks)
    if targets.shape != (masks.shape[1], features.shape[1], features.shape[1]):
        raise ValueError(f"targets {tuple(targets.shape)} do not match masks {tuple(masks.shape)} "
                         f"and features {tuple(features.shape)}")
    b, c = features.shape[:2]
    k = masks.shape[1]
    work = torch.promote_types(features.dtype, torch.float32)  # float32, or float64 for float64 features
    with torch.autocast(features.device.type, enabled=False):
        m = masks.detach().float()
        valid = valid.to(torch.bool)
        index, weights, counts = _supports(m, valid)
        if features.device.type == "cpu" and features.dtype in (torch.bfloat16, torch.float16):
            index, weights, counts = _pad_groups(index, weights, counts)
        selected = valid.reshape(-1).nonzero(as_tuple=True)[0]
        scales = 1.0 / (c * m.sum(dim=(-1, -2)).reshape(-1)[selected].clamp_min(1e-8))
        dist = _GramDistance.apply(features, index, weights, counts, targets.to(work), (selected % k).tolist(),
                                   scales.to(work))
        return dist.new_zeros(b * k).index_put((selected,), dist).reshape(b, k)


class _GramDistance(torch.autograd.Function):
    """``||s_g P_g^T P_g - T_g||^2`` for every selected group g (see region_gram_distance)."""

    @staticmethod
    def forward(ctx, features, index, weights, counts, targets, regions, scales):
        # features: (B, C, H, W), one row per pixel below; index/weights: (n,) gathered rows and their mask values;
        # counts: pixels per group; targets: (K, C, C); regions: the target of each group;
        # scales: (G,) 1 / (C * area).
        gathered = _pixel_rows(features)[index]  # (n, C), features' dtype
        p = gathered * weights.to(gathered.dtype)[:, None]
        # The masked features are rounded to the features' dtype (bf16 under autocast, as the
        # features themselves are), so the matmuls run at bf16 speed, twice float32's; their
        # products are exact in the float32 accumulator. Only the result gets rounded,
        # so the target is split into a part in that dtype, subtracted inside the accumulator,
        # and a remainder subtracted afterwards: G - T then has the precision of the features'
        # dtype *relative to G - T*, however close G is to T.
        # Group by group: a (G, C, C) temporary costs more in fresh-page faults than the
        # arithmetic on it at deep layers.
        t_high = targets.to(gathered.dtype)
        # None when the features are as precise as the targets (fp32 doodle optimize).
        t_low = targets - t_high.to(targets.dtype) if t_high.dtype != targets.dtype else None
        diff = t_high.new_empty(len(counts), *targets.shape[1:])
        dist = targets.new_empty(len(counts))
        for g, (q, region, scale) in enumerate(zip(p.split(counts), regions, scales.tolist())):
            torch.addmm(t_high[region], q.T, q, beta=-1.0, alpha=scale, out=diff[g])
            exact = diff[g]
            if t_low is not None:
                exact = exact.to(targets.dtype) - t_low[region]
                diff[g] = exact
            dist[g] = torch.linalg.vector_norm(exact).square()
        ctx.save_for_backward(index, weights, gathered, diff, scales)
        ctx.counts, ctx.shape = counts, features.shape
        ctx.channels_last = features.is_contiguous(memory_format=torch.channels_last) and features.shape[1] > 1
        return dist

    @staticmethod
    def backward(ctx, d_dist):
        index, weights, gathered, diff, scales = ctx.saved_tensors
        # With P = w * X (X the gathered rows, w their mask values):
        # d/dX ||s P^T P - T||^2 = 4 s w^2 X (s P^T P - T), as the difference is symmetric.
        # In the features' dtype (diff was saved in it): under autocast the gradient is
        # rounded to bf16 anyway.
        grad = torch.empty_like(gathered)
        for x, d, out in zip(gathered.split(ctx.counts), diff, grad.split(ctx.counts)):
            torch.mm(x, d, out=out)
        coef = torch.repeat_interleave(4 * scales * d_dist, torch.tensor(ctx.counts, dtype=torch.long, device=grad.device))
        grad *= (weights.square() * coef)[:, None].to(grad.dtype)
        b, c, h, w = ctx.shape
        d_rows = torch.zeros(b * h * w, c, dtype=grad.dtype, device=grad.device).index_add_(0, index, grad)
        # Hand back the gradient in the features' own layout: a channels-last gradient
        # for NCHW features slows down every backward op of the network after it.
        layout = torch.channels_last if ctx.channels_last else torch.contiguous_format
        d_features = d_rows.view(b, h, w, c).permute(0, 3, 1, 2).contiguous(memory_format=layout)
        return d_features, None, None, None, None, None, None
