import numpy as np
import torch

from doodle.generators.region_kernels import (bf16_bits_to_float, float_to_bf16_bits, region_moments, region_norm_forward)


def soft_masks(rng, b, k, p):
    """(B, K, P) masks: one-hot at most pixels, random mixtures at every fifth one."""
    masks = np.zeros((b, k, p), np.float32)
    labels = rng.integers(0, k, size=(b, p))
    for i in range(b):
        masks[i, labels[i], np.arange(p)] = 1.0
    soft = rng.random((b, k, p)).astype(np.float32)
    soft /= soft.sum(1, keepdims=True)
    masks[..., ::5] = soft[..., ::5]
    return masks


def test_region_moments_of_a_tiny_image():
    x = np.array([[[1.0, 10.0], [2.0, 20.0], [5.0, 50.0]]], np.float32)  # (1, 3 px, 2 channels)
    masks = np.array([[[1.0, 1.0, 0.5], [0.0, 0.0, 0.0], [0.0, 0.0, 0.5]]], np.float32)  # region 1 absent
    moments = region_moments(x, masks)
    np.testing.assert_array_equal(moments[0, 0], [[5.5, 55], [0, 0], [2.5, 25]])
    np.testing.assert_array_equal(moments[0, 1], [[17.5, 1750], [0, 0], [12.5, 1250]])


def test_region_moments_match_numpy_and_repeat_exactly():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 1000, 5)).astype(np.float32)  # more pixels than chunks, not a multiple
    masks = soft_masks(rng, 3, 4, 1000)
    moments = region_moments(x, masks)
    xd, md = x.astype(np.float64), masks.astype(np.float64)
    np.testing.assert_allclose(moments[:, 0], np.einsum("bkp,bpc->bkc", md, xd), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(moments[:, 1], np.einsum("bkp,bpc->bkc", md, xd * xd), rtol=1e-5)
    np.testing.assert_array_equal(region_moments(x, masks), moments)


def test_forward_mixes_parameters_only_at_soft_pixels():
    x = np.array([[[1.0], [3.0], [9.0], [4.0]]], np.float32)
    masks = np.array([[[1.0, 1.0, 0.0, 0.5], [0.0, 0.0, 1.0, 0.5]]], np.float32)
    # Region 0: mean 2, var 1, weight 1, bias 0; region 1: mean 9, var 4, weight 1, bias 5.
    table = np.array([[[[2.0], [1.0], [1.0], [0.0]], [[9.0], [4.0], [1.0], [5.0]]]], np.float32)
    out = np.empty_like(x)
    region_norm_forward(x, masks, table, 0.0, out)
    # The soft pixel: mean 5.5, var 2.5, weight 1, bias 2.5.
    np.testing.assert_allclose(out[0, :, 0], [-1.0, 1.0, 5.0, (4.0 - 5.5) / 2.5**0.5 + 2.5], rtol=1e-6)


def test_bf16_bits_convert_exactly_as_torch():
    values = torch.cat([torch.randn(10_000) * 10 ** torch.randint(-8, 8, (10_000,)),
                        torch.tensor([0.0, -0.0, 1.0, 1.00390625, 1.01171875, 3e38, -1e-40])])  # ties, huge, subnormal
    bits = values.bfloat16().view(torch.int16).numpy()
    rounded = np.array([float_to_bf16_bits(v) for v in values.numpy()], np.int16)
    np.testing.assert_array_equal(rounded, bits)  # round to nearest, ties to even
    back = np.array([bf16_bits_to_float(v) for v in bits], np.float32)
    np.testing.assert_array_equal(back, values.bfloat16().float().numpy())


def test_bf16_features_give_the_float32_result_rounded():
    rng = np.random.default_rng(1)
    x = torch.randn(2, 300, 6).bfloat16()
    masks = soft_masks(rng, 2, 3, 300)
    table = rng.random((2, 3, 4, 6)).astype(np.float32) + 0.1
    reference = np.empty((2, 300, 6), np.float32)
    region_norm_forward(x.float().numpy(), masks, table, 1e-5, reference)
    out = torch.empty_like(x)
    region_norm_forward(x.view(torch.int16).numpy(), masks, table, 1e-5, out.view(torch.int16).numpy())
    assert torch.equal(out, torch.from_numpy(reference).bfloat16())
    assert np.array_equal(region_moments(x.view(torch.int16).numpy(), masks), region_moments(x.float().numpy(), masks))
