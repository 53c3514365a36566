"""Instance normalization with per-region statistics and per-region affine."""

from __future__ import annotations

import numba
import torch
from torch import nn

from doodle.generators.region_kernels import (region_moments, region_norm_backward_input, region_norm_backward_sums,
                                    region_norm_forward)


def _use_torch_threads() -> None:
    # numba would start one thread per core; several training processes on one
    # machine each set torch's thread count to their share, so follow it.
    threads = torch.get_num_threads()
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    if torch.get_num_threads() != threads:
        # The first call launches numba's OpenMP layer, which sets the process's OpenMP
        # thread count (torch's too) to one per core: a torchrun process (OMP_NUM_THREADS=1)
        # oversubscribed the cores from then on, and a process's first run rounded its
        # sums differently from its later ones.
        torch.set_num_threads(threads)


def _pixels(t: torch.Tensor):
    """Numpy view (B, P, C) of channels-last (B, C, H, W) features: float32 as is, bfloat16 as its int16 bits."""
    # view, not reshape: the kernels write outputs through it, so a silent copy would lose them.
    rows = t.permute(0, 2, 3, 1).view(t.shape[0], -1, t.shape[1])
    return rows.view(torch.int16).numpy() if t.dtype == torch.bfloat16 else rows.numpy()


def _channels_last(t: torch.Tensor) -> torch.Tensor:
    return t.contiguous(memory_format=torch.channels_last)


class _RegionNormKernels(torch.autograd.Function):
    """Region instance norm on the CPU over numba kernels, with a hand-written backward.

    Forward: one pass for the regions' mask-weighted sums, one for the per-pixel
    normalization (:mod:`doodle.generators.region_kernels`); it keeps only its input and a
    (B, K, 4, C) table of the regions' statistics and affine parameters.
    Backward: one pass for per-region sums of the upstream gradient, one for the
    input gradient. Features x (B, C, H, W) are float32 or bfloat16, read as
    channels-last (pixel-major) rows; the output and the input gradient are
    channels-last tensors of x's dtype, never views (autograd would send
    in-place ops on a view of them, like the LeakyReLU after the norm, down a
    slow copy path). Statistics and arithmetic are float32, as are masks
    (B, K, P) contiguous, area (B, K, 1) mask weight per region, and weight and
    bias (K, C).
    """

    @staticmethod
    def forward(ctx, x, masks, area, weight, bias, eps):
        _use_torch_threads()
        x = _channels_last(x)
        x_rows = _pixels(x)
        moments = torch.from_numpy(region_moments(x_rows, masks.numpy())).float() / area[:, None]
        mean = moments[:, 0]  # (B, K, C)
        var = (moments[:, 1] - mean * mean).clamp_min(0)
        table = torch.stack([mean, var, weight.expand_as(mean), bias.expand_as(mean)], dim=2)  # (B, K, 4, C)
        y = torch.empty_like(x)
        region_norm_forward(x_rows, masks.numpy(), table.numpy(), eps, _pixels(y))
        ctx.save_for_backward(x, masks, area, table)
        ctx.eps = eps
        return y

    @staticmethod
    def backward(ctx, grad):
        x, masks, area, table = ctx.saved_tensors
        _use_torch_threads()
        grad_rows, x_rows = _pixels(_channels_last(grad.to(x.dtype))), _pixels(x)
        sums = torch.from_numpy(
            region_norm_backward_sums(grad_rows, x_rows, masks.numpy(), table.numpy(), ctx.eps)
        ).float()
        grad_bias, grad_weight = sums[:, 0], sums[:, 1]  # (B, K, C)
        # Gradients of the regions' means and variances; var = E[x^2] - mean^2 makes
        # both linear in x: dx += m_k (coef_1 + coef_x x) for every region k.
        grad_mean, grad_var = -sums[:, 2], -0.5 * sums[:, 3]
        coef = torch.stack([grad_mean - 2 * table[:, :, 0] * grad_var, 2 * grad_var], dim=1) / area[:, None]
        grad_x = torch.empty_like(x)
        region_norm_backward_input(grad_rows, x_rows, masks.numpy(), table.numpy(), coef.numpy(), ctx.eps,
                                   _pixels(grad_x))
        return grad_x, None, None, grad_weight.sum(0), grad_bias.sum(0), None


def region_norm_formula(x: torch.Tensor, masks: torch.Tensor, area: torch.Tensor, weight: torch.Tensor,
                        bias: torch.Tensor, eps: float) -> torch.Tensor:
    """The region norm as tensor operations (autograd, any device).

    x (B, P, C) pixel-major float features, masks (B, K, P), area (B, K, 1),
    weight and bias (K, C); returns (B, P, C). The CPU kernels compute the same.
    """
    b, c = x.shape[0], x.shape[2]
    mean = torch.bmm(masks, x) / area  # (B, K, C)
    var = (torch.bmm(masks, x * x) / area - mean * mean).clamp_min(0)
    # Soft masks mix the regions' statistics and affine parameters per pixel.
    table = torch.cat([mean, var, weight.expand(b, -1, -1), bias.expand(b, -1, -1)], dim=2)  # (B, K, 4C)
    mean_px, var_px, weight_px, bias_px = torch.bmm(masks.transpose(1, 2), table).split(c, dim=2)
    scale = weight_px * (var_px + eps).rsqrt()
    return torch.addcmul(bias_px - mean_px * scale, x, scale)


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
            m = mask.float().reshape(b, -1, h * w)
            area = m.sum(-1, keepdim=True).clamp_min(1e-6)  # (B, K, 1)
            if x.device.type == "cpu":
                # The kernels read and write bf16 themselves: no float32 copies of the features.
                y = _RegionNormKernels.apply(x if x.dtype in (torch.float32, torch.bfloat16) else x.float(),
                                             m.contiguous(), area, self.weight.float(), self.bias.float(), self.eps)
                return y.to(x.dtype)
            xp = x.float().permute(0, 2, 3, 1).reshape(b, h * w, c)  # pixel-major (B, P, C)
            y = region_norm_formula(xp, m, area, self.weight.float(), self.bias.float(), self.eps)
        return y.reshape(b, h, w, c).permute(0, 3, 1, 2).to(x.dtype)
