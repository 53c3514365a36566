import numpy as np

from doodle.region_kernels import region_affine, region_sums


def test_region_sums_of_a_tiny_image():
    x = np.array([[[1.0, 10.0], [2.0, 20.0], [5.0, 50.0]]], np.float32)  # (1, 3 px, 2 channels)
    y = np.array([[[1.0, 0.0], [1.0, 1.0], [2.0, 1.0]]], np.float32)
    labels = np.array([[0, 0, 2]], np.int32)  # region 1 is absent
    sum_x, sum_xy = region_sums(x, y, labels, 3)
    np.testing.assert_array_equal(sum_x[0], [[3, 30], [0, 0], [5, 50]])
    np.testing.assert_array_equal(sum_xy[0], [[3, 20], [0, 0], [10, 50]])


def test_region_sums_match_numpy_and_repeat_exactly():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 1000, 5)).astype(np.float32)  # more pixels than chunks, not a multiple
    labels = rng.integers(0, 4, size=(3, 1000)).astype(np.int32)
    sum_x, sum_xx = region_sums(x, x, labels, 4)
    for b in range(3):
        for k in range(4):
            sel = x[b][labels[b] == k].astype(np.float64)
            np.testing.assert_allclose(sum_x[b, k], sel.sum(0), rtol=1e-5, atol=1e-4)
            np.testing.assert_allclose(sum_xx[b, k], (sel * sel).sum(0), rtol=1e-5)
    again = region_sums(x, x, labels, 4)
    np.testing.assert_array_equal(again[0], sum_x)
    np.testing.assert_array_equal(again[1], sum_xx)


def test_region_affine_uses_each_pixels_region():
    u = np.array([[[1.0], [2.0], [3.0]], [[4.0], [5.0], [6.0]]], np.float32)  # (2, 3, 1)
    v = np.full_like(u, 10.0)
    labels = np.array([[0, 1, 0], [1, 1, 0]], np.int32)
    coef_u = np.array([[[2.0], [3.0]], [[-1.0], [0.5]]], np.float32)  # per image and region
    coef_v = np.array([[[0.0], [1.0]], [[0.0], [0.0]]], np.float32)
    const = np.array([[[1.0], [0.0]], [[0.0], [100.0]]], np.float32)
    out = np.empty_like(u)
    region_affine(u, v, labels, coef_u, coef_v, const, out)
    np.testing.assert_array_equal(out[..., 0], [[3.0, 16.0, 7.0], [102.0, 102.5, -6.0]])
