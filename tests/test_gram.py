import pytest
import torch

from doodle.style.gram import _pad_groups, region_gram, region_gram_distance


def plain_gram(f: torch.Tensor) -> torch.Tensor:
    b, c = f.shape[:2]
    flat = f.reshape(b, c, -1)
    return flat @ flat.transpose(1, 2) / (c * flat.shape[-1])


def test_one_all_ones_region_is_the_plain_normalized_gram():
    f = torch.randn(2, 5, 6, 7)
    g, a = region_gram(f, torch.ones(2, 1, 6, 7))
    torch.testing.assert_close(g[:, 0], plain_gram(f))
    torch.testing.assert_close(a, torch.full((2, 1), 42.0))


def test_tiling_features_and_mask_leaves_gram_unchanged():
    torch.manual_seed(0)
    f = torch.randn(1, 4, 5, 3)
    m = (torch.rand(1, 2, 5, 3) > 0.5).float()
    g, a = region_gram(f, m)
    g2, a2 = region_gram(f.repeat(1, 1, 3, 2), m.repeat(1, 1, 3, 2))
    torch.testing.assert_close(g2, g)
    torch.testing.assert_close(a2, a * 6)


def test_literal_two_regions():
    # Channel values 1 and 2 on the left column, 3 and 4 on the right.
    f = torch.tensor([[[[1.0, 3.0]], [[2.0, 4.0]]]])  # (1, 2, 1, 2)
    m = torch.tensor([[[[1.0, 0.0]], [[0.0, 1.0]]]])
    g, a = region_gram(f, m)
    expected_left = torch.tensor([[1.0, 2.0], [2.0, 4.0]]) / 2
    expected_right = torch.tensor([[9.0, 12.0], [12.0, 16.0]]) / 2
    torch.testing.assert_close(g[0, 0], expected_left)
    torch.testing.assert_close(g[0, 1], expected_right)
    torch.testing.assert_close(a, torch.tensor([[1.0, 1.0]]))


def test_empty_region_gives_zero_not_nan():
    f = torch.randn(1, 3, 4, 4)
    m = torch.zeros(1, 2, 4, 4)
    m[:, 0] = 1
    g, a = region_gram(f, m)
    assert torch.isfinite(g).all()
    assert g[0, 1].abs().max() == 0
    assert a[0, 1] == 0


def test_float32_under_bf16_autocast():
    f = torch.randn(1, 3, 4, 4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        g, _ = region_gram(f.bfloat16(), torch.ones(1, 1, 4, 4))
    assert g.dtype == torch.float32


def test_shape_mismatch_is_refused():
    with pytest.raises(ValueError, match="disagree"):
        region_gram(torch.randn(1, 3, 4, 4), torch.ones(1, 2, 4, 5))


def test_gradient_matches_the_dense_formula():
    torch.manual_seed(0)
    f = torch.randn(2, 3, 5, 4, dtype=torch.float64)
    m = torch.rand(2, 3, 5, 4, dtype=torch.float64)
    m[:, 1, :2] = 0  # partial support
    w = torch.randn(2, 3, 3, 3, dtype=torch.float64)

    def dense(f):
        fm = f.reshape(2, 1, 3, -1) * m.reshape(2, 3, 1, -1)
        return (fm @ fm.transpose(-1, -2)) / (3 * m.reshape(2, 3, -1).sum(-1))[..., None, None]

    f1 = f.clone().requires_grad_(True)
    f2 = f.clone().requires_grad_(True)
    (region_gram(f1, m)[0] * w).sum().backward()
    (dense(f2) * w).sum().backward()
    torch.testing.assert_close(f1.grad, f2.grad, rtol=1e-5, atol=1e-6)  # region_gram works in float32


def _dense_distance(f, m, targets):
    c = f.shape[1]
    fm = f.flatten(2)[:, None] * m.flatten(2)[:, :, None]  # (B, K, C, N)
    g = fm @ fm.transpose(-1, -2) / (c * m.flatten(2).sum(-1))[..., None, None]
    return (g - targets).pow(2).sum(dim=(-1, -2))


def test_distance_value_and_gradient_match_the_dense_formula():
    torch.manual_seed(1)
    f = torch.randn(2, 3, 5, 4, dtype=torch.float64)
    m = torch.rand(2, 3, 5, 4, dtype=torch.float64)
    m[:, 1, :2] = 0  # partial support
    targets = torch.randn(3, 3, 3, dtype=torch.float64)
    targets = targets + targets.transpose(-1, -2)  # Grams are symmetric
    valid = torch.tensor([[True, True, False], [True, False, True]])
    f1, f2 = f.clone().requires_grad_(True), f.clone().requires_grad_(True)
    weights = torch.rand(2, 3, dtype=torch.float64)
    d = region_gram_distance(f1, m, targets, valid)
    expected = _dense_distance(f2, m, targets) * valid
    torch.testing.assert_close(d, expected)
    (d * weights).sum().backward()
    (expected * weights).sum().backward()
    torch.testing.assert_close(f1.grad, f2.grad)


def test_invalid_regions_are_zero_and_get_no_gradient():
    f = torch.randn(1, 2, 4, 4, requires_grad=True)
    m = torch.zeros(1, 2, 4, 4)
    m[:, 0, :2] = 1
    m[:, 1, 2:] = 1
    d = region_gram_distance(f, m, torch.ones(2, 2, 2), torch.tensor([[False, True]]))
    assert d[0, 0] == 0 and d[0, 1] > 0
    d.sum().backward()
    assert f.grad[..., :2, :].abs().max() == 0
    assert f.grad[..., 2:, :].abs().max() > 0


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_bf16_distance_is_float32_and_gradient_keeps_dtype_and_layout(layout):
    torch.manual_seed(0)
    f = torch.randn(2, 4, 6, 5).bfloat16().contiguous(memory_format=layout).requires_grad_(True)
    m = torch.zeros(2, 2, 6, 5)
    m[:, 0, :3] = 1
    m[:, 1, 3:] = 1
    targets = torch.rand(2, 4, 4)
    valid = torch.ones(2, 2, dtype=torch.bool)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        d = region_gram_distance(f, m, targets, valid)
    assert d.dtype == torch.float32
    # The Grams are bf16 products summed in float32, and G - T is rounded to bf16 once.
    torch.testing.assert_close(d, _dense_distance(f.detach().float(), m, targets), rtol=1e-2, atol=0)
    d.sum().backward()
    assert f.grad.dtype == torch.bfloat16
    assert f.grad.is_contiguous(memory_format=layout)


def test_bf16_distance_keeps_its_precision_when_the_gram_nears_the_target():
    # Rounding the Gram to bf16 before subtracting would lose ~2^-9 of G, far more than
    # G - T here; the split target keeps the error relative to G - T itself.
    torch.manual_seed(0)
    f = torch.rand(1, 16, 8, 8).bfloat16()
    m = torch.zeros(1, 2, 8, 8)
    m[:, 0, :5] = 1
    m[:, 1, 5:] = 1
    exact = _dense_distance(f.double(), m.double(), torch.zeros(2, 16, 16, dtype=torch.float64))  # ||G||^2
    grams = torch.stack([(f.double() * m[:, r:r + 1]).flatten(2)[0] @ (f.double() * m[:, r:r + 1]).flatten(2)[0].T
                         / (16 * m[:, r].sum()) for r in range(2)])
    targets = (grams * (1 + 1e-3 * torch.randn_like(grams))).float()
    want = _dense_distance(f.double(), m.double(), targets.double())
    assert (want < 1e-4 * exact).all()  # G is within 1% of T
    d = region_gram_distance(f, m, targets, torch.ones(1, 2, dtype=torch.bool))
    torch.testing.assert_close(d.double(), want, rtol=1e-2, atol=0)


def test_distance_refuses_targets_of_the_wrong_shape():
    with pytest.raises(ValueError, match="targets"):
        region_gram_distance(torch.randn(1, 3, 4, 4), torch.ones(1, 2, 4, 4), torch.zeros(2, 4, 4),
                             torch.ones(1, 2, dtype=torch.bool))


def test_soft_mask_weights_a_pixel_by_m_squared_in_the_gram_and_m_in_the_area():
    # Pinned semantics of soft masks (the loss network's blurred masks near borders):
    # G = sum_i m_i^2 f_i f_i^T / (C sum_i m_i). A pixel at m = 0.5 adds a quarter of its
    # outer product but half a pixel of area, so a region whose mask is blurred (deep
    # layers, thin regions) gets a smaller Gram than its features' mean outer product:
    # here (1 + 1 + 0.25) / 2.5 = 0.9 instead of 1 for features that are 1 everywhere.
    f = torch.ones(1, 1, 1, 4)
    m = torch.tensor([[[[1.0, 1.0, 0.5, 0.0]]]])
    g, area = region_gram(f, m)
    assert area.item() == pytest.approx(2.5)
    assert g.item() == pytest.approx(0.9)
    d = region_gram_distance(f, m, torch.ones(1, 1, 1), torch.tensor([[True]]))
    assert d.item() == pytest.approx((0.9 - 1.0) ** 2)  # the loss uses the same semantics


def test_distance_with_no_region_to_compare_is_zero_with_a_zero_gradient():
    # A deep layer where no region is in both the image and the style (e.g. a map of only a region that is
    # a few pixels of the painting, gone by relu5_1).
    features = torch.rand(2, 3, 4, 4, requires_grad=True)
    masks = torch.zeros(2, 2, 4, 4)
    dist = region_gram_distance(features, masks, torch.rand(2, 3, 3), torch.zeros(2, 2, dtype=torch.bool))
    dist.sum().backward()
    assert dist.shape == (2, 2) and not dist.any() and not features.grad.any()


def test_pad_groups_keeps_every_row_in_order_and_pads_with_weight_zero():
    index, weights = torch.arange(20) + 100, torch.linspace(0.5, 1.0, 20)
    padded, padded_weights, counts = _pad_groups(index, weights, [17, 3])
    assert counts == [32, 16]
    assert padded[:17].tolist() == index[:17].tolist() and padded[32:35].tolist() == index[17:].tolist()
    assert padded_weights[:17].tolist() == weights[:17].tolist() and padded_weights[32:35].tolist() == weights[17:].tolist()
    pads = torch.ones(48, dtype=torch.bool)
    pads[:17] = pads[32:35] = False
    assert not padded_weights[pads].any() and not padded[pads].any()  # weight 0, pointing at row 0


def test_bf16_padded_rows_change_neither_distance_nor_gradient():
    # Under bf16 on a CPU every group is padded with rows pointing at pixel 0; a loud pixel 0
    # of image 0 would leak into every group if a padded row kept any weight.
    torch.manual_seed(2)
    f = torch.randn(2, 8, 9, 7).bfloat16()
    f[0, :, 0, 0] = 50.0
    labels = torch.randint(0, 3, (2, 9, 7))
    m = torch.nn.functional.one_hot(labels, 3).permute(0, 3, 1, 2).float()
    m[:, :, 4] = 1 / 3  # a soft row, as deep layers' masks have
    targets = torch.rand(3, 8, 8)
    targets = targets + targets.transpose(-1, -2)
    valid = torch.ones(2, 3, dtype=torch.bool)
    f1, f2 = f.clone().requires_grad_(True), f.double().requires_grad_(True)
    d = region_gram_distance(f1, m, targets, valid)
    expected = _dense_distance(f2, m.double(), targets.double())
    d.sum().backward()
    expected.sum().backward()
    torch.testing.assert_close(d.double(), expected, rtol=2e-2, atol=0)
    torch.testing.assert_close(f1.grad.double(), f2.grad, rtol=0, atol=2e-2 * float(f2.grad.abs().max()))
