"""Instance normalization with per-region statistics and per-region affine."""

from __future__ import annotations

import torch
from torch import nn


class RegionInstanceNorm(nn.Module):
    """Normalize each region of each image by its own mean and variance.

    Plain instance norm takes one mean and variance per image and channel, so
    the normalized features of a region depend on what else the mask holds:
    a sky that covers 80 % of one mask and 5 % of another is normalized
    differently in the two. Here every region ``k`` gets its own statistics
    (weighted by the soft mask) and its own learned scale and shift, so a
    region's features do not depend on the size or content of the other
    regions. At a pixel shared by several regions (soft masks at coarse
    scales) means, variances, scales and shifts are mixed by the mask weights.

    Parameters
    ----------
    channels : int
        Feature channels C.
    k : int
        Number of regions K.
    eps : float
        Added to the variance.

    Notes
    -----
    Statistics are computed in fp32 even under bf16 autocast: a variance as
    ``E[x^2] - E[x]^2`` in bf16 loses most of its digits.

    Examples
    --------
    >>> import torch
    >>> norm = RegionInstanceNorm(channels=1, k=2)
    >>> x = torch.tensor([[[[0.0, 2.0, 10.0, 30.0]]]])
    >>> mask = torch.tensor([[[[1.0, 1.0, 0.0, 0.0]], [[0.0, 0.0, 1.0, 1.0]]]])
    >>> norm(x, mask).detach().round(decimals=3)
    tensor([[[[-1.,  1., -1.,  1.]]]])
    """

    def __init__(self, channels: int, k: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = float(eps)
        self.weight = nn.Parameter(torch.ones(k, channels))
        self.bias = nn.Parameter(torch.zeros(k, channels))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Normalize features.

        Parameters
        ----------
        x : Tensor, shape (B, C, H, W)
            Features.
        mask : Tensor, shape (B, K, H, W)
            Region weights at the features' resolution, summing to 1 at every
            pixel (one-hot, or one-hot average-pooled).

        Returns
        -------
        Tensor, shape (B, C, H, W), dtype of ``x``
        """
        b, c, h, w = x.shape
        # cache_enabled=False: with the default, entering and leaving this
        # region made the generator's convolutions several times slower on
        # CPU in our profiles (torch 2.13).
        with torch.autocast(device_type=x.device.type, enabled=False, cache_enabled=False):
            xf = x.float().reshape(b, c, h * w)
            m = mask.float().reshape(b, -1, h * w)
            area = m.sum(-1, keepdim=True).clamp_min(1e-6)  # (B, K, 1)
            mean = torch.bmm(m, xf.transpose(1, 2)) / area  # (B, K, C)
            var = (torch.bmm(m, (xf * xf).transpose(1, 2)) / area - mean * mean).clamp_min(0)
            weight = self.weight.float().expand(b, -1, -1)
            bias = self.bias.float().expand(b, -1, -1)
            # (A host sync on GPUs; cheap next to the matmuls on CPU.)
            if bool(((m == 0) | (m == 1)).all()):
                # One region per pixel: the normalization and affine fold into
                # one scale and shift per region, spread by a single matmul.
                scale_k = weight * (var + self.eps).rsqrt()
                table = torch.cat([scale_k, bias - mean * scale_k], dim=2)  # (B, K, 2C)
                scale, shift = torch.bmm(table.transpose(1, 2), m).split(c, dim=1)
                y = torch.addcmul(shift, xf, scale)
            else:
                table = torch.cat([mean, var, weight, bias], dim=2)  # (B, K, 4C)
                mean_px, var_px, weight_px, bias_px = torch.bmm(table.transpose(1, 2), m).split(c, dim=1)
                scale = weight_px * (var_px + self.eps).rsqrt()
                y = torch.addcmul(bias_px - mean_px * scale, xf, scale)
        return y.reshape(b, c, h, w).to(x.dtype)
