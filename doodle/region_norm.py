"""Instance normalization with per-region statistics and per-region affine."""

from __future__ import annotations

import numba
import torch
from torch import nn

from doodle.region_kernels import region_affine, region_sums


def _use_torch_threads() -> None:
    # numba would start one thread per core; several training processes on one
    # machine each set torch's thread count to their share, so follow it.
    numba.set_num_threads(min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS))


class _OneHotRegionNorm(torch.autograd.Function):
    """Region instance norm of one-hot masks on the CPU, with a hand-written backward.

    Each pixel belongs to one region, so the normalization and affine fold into
    one scale and shift per region: the forward is one pass for the region sums
    and one for the per-pixel affine (:mod:`doodle.region_kernels`), and it
    keeps only its input. The backward is the same two passes. All tensors are
    float32: x (B, P, C) pixel-major and contiguous, labels (B, P) int32,
    area (B, K, 1) pixels per region, weight and bias (K, C).
    """

    @staticmethod
    def forward(ctx, x, labels, area, weight, bias, eps):
        _use_torch_threads()
        k = weight.shape[0]
        sum_x, sum_xx = region_sums(x.numpy(), x.numpy(), labels.numpy(), k)
        mean = torch.from_numpy(sum_x).float() / area  # (B, K, C)
        var = torch.from_numpy(sum_xx).float() / area - mean * mean
        rstd = var.clamp_min(0).add_(eps).rsqrt_()
        scale = weight * rstd
        y = torch.empty_like(x)
        region_affine(x.numpy(), x.numpy(), labels.numpy(), scale.numpy(), torch.zeros_like(scale).numpy(),
                      (bias - mean * scale).numpy(), y.numpy())
        ctx.save_for_backward(x, labels, area, weight, mean, rstd)
        return y

    @staticmethod
    def backward(ctx, grad):
        x, labels, area, weight, mean, rstd = ctx.saved_tensors
        _use_torch_threads()
        grad = grad.contiguous()
        k = weight.shape[0]
        # Per region: sum(dy) is the bias gradient, sum(dy * xhat) the weight gradient.
        sum_g, sum_gx = region_sums(grad.numpy(), x.numpy(), labels.numpy(), k)
        grad_bias = torch.from_numpy(sum_g).float()  # (B, K, C)
        grad_weight = (torch.from_numpy(sum_gx).float() - mean * grad_bias) * rstd
        # dx = a (dy - mean(dy) - xhat mean(dy xhat)) with a = weight * rstd, as
        # per-region coefficients of dy, x and 1.
        a = weight * rstd
        coef_x = -a * rstd * grad_weight / area
        const = -a * grad_bias / area - coef_x * mean
        grad_x = torch.empty_like(x)
        region_affine(grad.numpy(), x.numpy(), labels.numpy(), a.numpy(), coef_x.numpy(), const.numpy(),
                      grad_x.numpy())
        return grad_x, None, None, grad_weight.sum(0), grad_bias.sum(0), None


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
            # Pixel-major (B, P, C): a view of channels-last features, as the generator's are.
            xp = x.float().permute(0, 2, 3, 1).reshape(b, h * w, c)
            m = mask.float().reshape(b, -1, h * w)
            area = m.sum(-1, keepdim=True).clamp_min(1e-6)  # (B, K, 1)
            if x.device.type == "cpu" and bool(((m == 0) | (m == 1)).all()):
                y = _OneHotRegionNorm.apply(xp.contiguous(), m.argmax(1).int(), area, self.weight.float(),
                                            self.bias.float(), self.eps)
            else:
                mean = torch.bmm(m, xp) / area  # (B, K, C)
                var = (torch.bmm(m, xp * xp) / area - mean * mean).clamp_min(0)
                weight = self.weight.float().expand(b, -1, -1)
                bias = self.bias.float().expand(b, -1, -1)
                # Soft masks mix the regions' statistics and affine parameters per pixel.
                table = torch.cat([mean, var, weight, bias], dim=2)  # (B, K, 4C)
                mean_px, var_px, weight_px, bias_px = torch.bmm(m.transpose(1, 2), table).split(c, dim=2)
                scale = weight_px * (var_px + self.eps).rsqrt()
                y = torch.addcmul(bias_px - mean_px * scale, xp, scale)
        return y.reshape(b, h, w, c).permute(0, 3, 1, 2).to(x.dtype)
