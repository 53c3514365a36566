import pytest
import torch

from doodle.gram import region_gram


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
