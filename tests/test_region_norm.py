import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from doodle.generators.region_norm import RegionInstanceNorm, region_norm_formula


def halves_mask(b: int, h: int, w: int) -> torch.Tensor:
    """(B, 2, H, W) one-hot: region 0 on the left half, region 1 on the right."""
    mask = torch.zeros(b, 2, h, w)
    mask[:, 0, :, : w // 2] = 1
    mask[:, 1, :, w // 2:] = 1
    return mask


def test_each_region_has_zero_mean_unit_variance():
    x = torch.tensor([[[[1.0, 3.0, 10.0, 30.0],
                        [1.0, 3.0, 50.0, 70.0]]]])
    y = RegionInstanceNorm(channels=1, k=2)(x, halves_mask(1, 2, 4))
    # Region 0 holds 1, 3, 1, 3 (mean 2, variance 1); region 1 holds 10, 30,
    # 50, 70 (mean 40, variance 500).
    expected = torch.cat([(x[..., :2] - 2) / (1 + 1e-5) ** 0.5, (x[..., 2:] - 40) / (500 + 1e-5) ** 0.5], dim=-1)
    assert torch.allclose(y, expected, atol=1e-5)


def test_a_region_does_not_see_the_other_regions():
    torch.manual_seed(0)
    norm = RegionInstanceNorm(channels=3, k=2)
    x = torch.randn(2, 3, 6, 8)
    other = x.clone()
    other[..., 4:] = 100 * torch.randn(2, 3, 6, 4) + 7
    mask = halves_mask(2, 6, 8)
    assert torch.allclose(norm(x, mask)[..., :4], norm(other, mask)[..., :4], atol=1e-5)


def test_one_region_is_instance_norm():
    torch.manual_seed(0)
    x = torch.randn(2, 5, 7, 9)
    ours = RegionInstanceNorm(channels=5, k=1)
    reference = nn.InstanceNorm2d(5, affine=True)
    with torch.no_grad():
        ours.weight.copy_(torch.rand(1, 5))
        ours.bias.copy_(torch.randn(1, 5))
        reference.weight.copy_(ours.weight[0])
        reference.bias.copy_(ours.bias[0])
    assert torch.allclose(ours(x, torch.ones(2, 1, 7, 9)), reference(x), atol=1e-5)


def test_affine_is_per_region():
    norm = RegionInstanceNorm(channels=1, k=2)
    with torch.no_grad():
        norm.weight.copy_(torch.tensor([[0.0], [2.0]]))
        norm.bias.copy_(torch.tensor([[5.0], [-1.0]]))
    x = torch.tensor([[[[0.0, 2.0, 0.0, 2.0]]]])
    y = norm(x, halves_mask(1, 1, 4))
    assert torch.allclose(y, torch.tensor([[[[5.0, 5.0, -3.0, 1.0]]]]), atol=1e-4)


def test_soft_mask_mixes_the_regions_statistics():
    # A pixel shared half-half gets the mean of both regions' means and variances.
    x = torch.tensor([[[[0.0, 2.0, 0.0, 10.0, 20.0]]]])
    mask = torch.tensor([[[[1.0, 1.0, 0.5, 0.0, 0.0]],
                          [[0.0, 0.0, 0.5, 1.0, 1.0]]]])
    y = RegionInstanceNorm(channels=1, k=2, eps=0.0)(x, mask)
    m0 = (0 + 2 + 0.5 * 0) / 2.5
    v0 = (0 + 4 + 0.5 * 0) / 2.5 - m0**2
    m1 = (0.5 * 0 + 10 + 20) / 2.5
    v1 = (0.5 * 0 + 100 + 400) / 2.5 - m1**2
    assert y[0, 0, 0, 2].item() == pytest.approx((0 - (m0 + m1) / 2) / ((v0 + v1) / 2) ** 0.5, rel=1e-5)


def test_missing_region_and_bf16_autocast():
    torch.manual_seed(0)
    norm = RegionInstanceNorm(channels=4, k=3)  # region 2 absent from the mask
    x = torch.randn(1, 4, 8, 8)
    mask = torch.cat([halves_mask(1, 8, 8), torch.zeros(1, 1, 8, 8)], dim=1)
    reference = norm(x, mask)
    assert torch.isfinite(reference).all()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = norm(x.bfloat16(), mask)
    assert low.dtype == torch.bfloat16
    assert (low.float() - reference).abs().max() < 0.05


def test_gradients_reach_present_regions_only():
    torch.manual_seed(0)
    norm = RegionInstanceNorm(channels=2, k=3)
    x = torch.randn(1, 2, 4, 6, requires_grad=True)
    mask = torch.cat([halves_mask(1, 4, 6), torch.zeros(1, 1, 4, 6)], dim=1)
    (norm(x, mask) * torch.randn(1, 2, 4, 6)).sum().backward()
    assert x.grad.abs().sum() > 0
    assert (norm.weight.grad[:2].abs() > 0).all()
    assert (norm.weight.grad[2] == 0).all()


def _region_norm_by_formula(x, mask, weight, bias, eps):
    """Per-region instance norm written out region by region, for one-hot masks."""
    y = torch.zeros_like(x)
    for k in range(mask.shape[1]):
        sel = mask[:, k:k + 1]
        area = sel.sum((2, 3), keepdim=True).clamp_min(1e-6)
        mean = (x * sel).sum((2, 3), keepdim=True) / area
        var = ((x - mean) ** 2 * sel).sum((2, 3), keepdim=True) / area
        y = y + sel * ((x - mean) / (var + eps).sqrt() * weight[k, :, None, None] + bias[k, :, None, None])
    return y


def _random_norm(channels, k):
    torch.manual_seed(0)
    norm = RegionInstanceNorm(channels=channels, k=k)
    with torch.no_grad():
        norm.weight.normal_()
        norm.bias.normal_()
    return norm


def _grads(norm, x, mask, upstream):
    """Output, and gradients of sum(output * upstream) for x, weight and bias."""
    x = x.detach().requires_grad_()
    norm.zero_grad()
    y = norm(x, mask)
    (y.float() * upstream).sum().backward()
    return y.detach(), x.grad, norm.weight.grad.clone(), norm.bias.grad.clone()


def test_one_hot_masks_match_the_formula_forward_and_backward():
    # The CPU kernels have a hand-written backward; it must agree with autograd.
    norm = _random_norm(3, 3)
    x = torch.randn(2, 3, 4, 6) * 3 + 1
    mask = torch.cat([halves_mask(2, 4, 6), torch.zeros(2, 1, 4, 6)], dim=1)  # region 2 absent
    upstream = torch.randn(2, 3, 4, 6)
    got = _grads(norm, x, mask, upstream)
    xd, wd, bd = (t.detach().double().requires_grad_() for t in (x, norm.weight, norm.bias))
    y = _region_norm_by_formula(xd, mask.double(), wd, bd, norm.eps)
    (y * upstream.double()).sum().backward()
    for a, b in zip(got, (y.detach(), xd.grad, wd.grad, bd.grad)):
        torch.testing.assert_close(a, b.float(), rtol=1e-4, atol=1e-4)
    assert (got[2][2] == 0).all() and (got[3][2] == 0).all()


def test_soft_masks_match_the_tensor_formula_forward_and_backward():
    # Average-pooled one-hot masks, as the generator's coarse scales see them:
    # the kernels mix the regions' parameters at the soft pixels.
    norm = _random_norm(4, 3)
    labels = torch.randint(0, 3, (2, 12, 10))
    mask = F.avg_pool2d(F.one_hot(labels, 3).permute(0, 3, 1, 2).float(), 2)  # (2, 3, 6, 5)
    assert ((mask > 0) & (mask < 1)).any() and (mask == 1).any()
    x = torch.randn(2, 4, 6, 5) * 2 - 1
    upstream = torch.randn(2, 4, 6, 5)
    got = _grads(norm, x, mask, upstream)
    xd, wd, bd = (t.detach().double().requires_grad_() for t in (x, norm.weight, norm.bias))
    m = mask.double().reshape(2, 3, 30)
    y = region_norm_formula(xd.permute(0, 2, 3, 1).reshape(2, 30, 4), m, m.sum(-1, keepdim=True), wd, bd, norm.eps)
    y = y.reshape(2, 6, 5, 4).permute(0, 3, 1, 2)
    (y * upstream.double()).sum().backward()
    for a, b in zip(got, (y.detach(), xd.grad, wd.grad, bd.grad)):
        torch.testing.assert_close(a, b.float(), rtol=1e-4, atol=1e-4)


def test_bf16_features_stay_bf16_and_agree_with_float32():
    norm = _random_norm(5, 2)
    mask = F.avg_pool2d(halves_mask(2, 8, 12), 2)  # one soft column
    x = (torch.randn(2, 5, 4, 6) * 2).bfloat16().contiguous(memory_format=torch.channels_last)
    upstream = torch.randn(2, 5, 4, 6)
    low = _grads(norm, x, mask, upstream)
    high = _grads(norm, x.float(), mask, upstream)
    assert low[0].dtype == low[1].dtype == torch.bfloat16
    for a, b in zip(low, high):
        torch.testing.assert_close(a.float(), b, rtol=0.02, atol=0.05)


def test_output_is_a_fresh_channels_last_tensor():
    # Not a view: autograd sends in-place ops on views of a Function's output
    # (the generator's LeakyReLU) down a copy path that was 10x slower.
    y = RegionInstanceNorm(3, 2)(torch.randn(2, 3, 4, 6).contiguous(memory_format=torch.channels_last),
                                 halves_mask(2, 4, 6))
    assert not y._is_view() and y.is_contiguous(memory_format=torch.channels_last)


def test_the_kernels_leave_torchs_thread_count_alone():
    # In a fresh process: numba's threading layer starts once per process, at its first parallel call.
    code = ("import torch; torch.set_num_threads(1)\n"
            "from doodle.generators.region_norm import RegionInstanceNorm\n"
            "x = torch.rand(1, 2, 4, 4, requires_grad=True)\n"
            "mask = torch.zeros(1, 2, 4, 4); mask[:, 0, :, :2] = 1; mask[:, 1, :, 2:] = 1\n"
            "RegionInstanceNorm(channels=2, k=2)(x, mask).sum().backward()\n"
            "print(torch.get_num_threads())\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["1"]
