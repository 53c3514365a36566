"""Per-region, area-normalized Gram matrices."""

from __future__ import annotations

import torch


def region_gram(features: torch.Tensor, masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Gram matrix of every region's masked features, normalized by the region's area.

    For features F (C x N) and a region's soft mask m (N,):
    ``G = (F * m)(F * m)^T / (C * sum(m))``. Normalizing by the region's own area
    (not the image's) makes a region's statistics comparable whatever its size,
    so a small region of a target map is matched to the same style as a large one.

    Computed in float32 even under autocast: the Gram sums many products and the
    loss compares near-equal matrices, which bf16's 8-bit mantissa cannot resolve.
    Masks are treated as constants (no gradient flows to them).

    Parameters
    ----------
    features : Tensor, shape (B, C, H, W)
    masks : Tensor, shape (B, K, H, W)
        Soft masks at the features' resolution (see :func:`doodle.pyramid.mask_pyramid`).

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
    if features.shape[-2:] != masks.shape[-2:] or features.shape[0] != masks.shape[0]:
        raise ValueError(
            f"features {tuple(features.shape)} and masks {tuple(masks.shape)} disagree in batch or spatial size"
        )
    b, c = features.shape[:2]
    k = masks.shape[1]
    with torch.autocast(features.device.type, enabled=False):
        f = features.float().reshape(b, c, -1)
        m = masks.detach().float().reshape(b, k, -1)
        areas = m.sum(dim=-1)
        grams = torch.stack([_SupportGram.apply(f[i], m[i]) for i in range(b)])
        grams = grams / (c * areas.clamp_min(1e-8))[..., None, None]
    return grams, areas


class _SupportGram(torch.autograd.Function):
    """Unnormalized region Grams of one image, each over its region's support only.

    One gather of about N columns instead of K masked copies of all N, so the cost
    is ~C^2 N rather than K C^2 N (soft masks overlap only near region borders).
    The hand-written backward needs one matmul per region (dG is symmetric up to
    its transpose) and a single scatter-add, instead of autograd's two matmuls
    and an accumulating index_put.
    """

    @staticmethod
    def forward(ctx, f: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        # f: (C, N) features, m: (K, N) soft masks -> (K, C, C)
        support = [torch.nonzero(mr, as_tuple=True)[0] for mr in m]
        idx = torch.cat(support)
        fm = f[:, idx] * torch.cat([mr[s] for mr, s in zip(m, support)])
        sizes = [len(s) for s in support]
        grams = torch.stack([p @ p.T for p in fm.split(sizes, dim=1)])
        ctx.save_for_backward(fm, idx, m)
        ctx.sizes, ctx.n = sizes, f.shape[1]
        return grams

    @staticmethod
    def backward(ctx, d_grams: torch.Tensor):
        fm, idx, m = ctx.saved_tensors
        weights = torch.cat([mr[idx_r] for mr, idx_r in zip(m, idx.split(ctx.sizes))])
        d_fm = torch.cat([(d + d.T) @ p for d, p in zip(d_grams, fm.split(ctx.sizes, dim=1))], dim=1)
        d_f = fm.new_zeros(fm.shape[0], ctx.n).index_add_(1, idx, d_fm * weights)
        return d_f, None
