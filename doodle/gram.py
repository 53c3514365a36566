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
        m = masks.float().reshape(b, k, -1)
        areas = m.sum(dim=-1)
        grams = []
        for i in range(b):
            # Each region's Gram only over its own support: one gather of about N
            # columns instead of K masked copies of all N, so the cost is ~C^2 N
            # rather than K C^2 N (soft masks overlap only near borders).
            support = [torch.nonzero(m[i, r], as_tuple=True)[0] for r in range(k)]
            weights = torch.cat([m[i, r, s] for r, s in enumerate(support)])
            fm = f[i][:, torch.cat(support)] * weights
            parts = torch.split(fm, [len(s) for s in support], dim=1)
            grams.append(torch.stack([p @ p.T for p in parts]))
        grams = torch.stack(grams) / (c * areas.clamp_min(1e-8))[..., None, None]
    return grams, areas
