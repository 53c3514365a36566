"""Kernels of maskgen: heightmap, 1-D K-means, label filters, components, palette PNGs."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage
from sklearn.cluster import KMeans

from maskgen import PALETTE, diamond_square, majority_filter, median_filter, read_label_png, write_label_png
from maskgen.components import count_components
from maskgen.heightmap import covering_grid
from maskgen.kmeans1d import kmeans1d


def test_diamond_square_shape_dtype_and_determinism():
    a = diamond_square(37, 21, 0.6, seed=3)
    assert a.shape == (21, 37) and a.dtype == np.float64
    assert np.array_equal(a, diamond_square(37, 21, 0.6, seed=3))
    assert not np.array_equal(a, diamond_square(37, 21, 0.6, seed=4))
    assert np.isfinite(a).all()


@pytest.mark.parametrize("width,height", [(100, 60), (129, 129), (8, 129), (65, 130)])
def test_non_power_sizes_are_crops_of_the_covering_grid(width, height):
    side = covering_grid(width, height)
    assert side >= max(width, height) and ((side - 1) & (side - 2)) == 0
    full = diamond_square(side, side, 0.5, seed=11)
    assert np.array_equal(diamond_square(width, height, 0.5, seed=11), full[:height, :width])


def test_roughness_controls_smoothness():
    def mean_step(r):
        h = diamond_square(129, 129, r, seed=0)
        return np.abs(np.diff(h, axis=1)).mean() / h.std()

    assert mean_step(0.3) < mean_step(0.6) < mean_step(0.95)


@pytest.mark.parametrize("bad", [0.0, -0.1, 1.01])
def test_diamond_square_rejects_bad_roughness(bad):
    with pytest.raises(ValueError, match=r"roughness must be in \(0, 1\]"):
        diamond_square(16, 16, bad)


@pytest.mark.parametrize("k", [2, 3, 4, 6])
@pytest.mark.parametrize("seed", [0, 1])
def test_kmeans1d_inertia_matches_sklearn(k, seed):
    h = diamond_square(64, 48, 0.5, seed=seed)
    ours = kmeans1d(h, k)
    ref = KMeans(n_clusters=k, n_init=10, random_state=0).fit(h.reshape(-1, 1))
    # Exact optimum: never worse than scikit-learn's best of 10 k-means++ runs ...
    assert ours.inertia <= ref.inertia_ * (1 + 1e-3)
    # ... and a fixed point of scikit-learn's Lloyd iterations started from it.
    polished = KMeans(n_clusters=k, n_init=1, init=ours.centers.reshape(-1, 1)).fit(h.reshape(-1, 1))
    assert abs(ours.inertia - polished.inertia_) / polished.inertia_ < 1e-3
    # The reported inertia is that of the returned labels, and clusters are ordered.
    x, lab = h.ravel(), ours.labels.ravel()
    recomputed = sum(((x[lab == c] - x[lab == c].mean()) ** 2).sum() for c in range(k))
    assert recomputed == pytest.approx(ours.inertia, rel=1e-9)
    assert np.all(np.diff(ours.centers) > 0)
    assert np.allclose(ours.centers, [x[lab == c].mean() for c in range(k)])


def test_kmeans1d_small_literal_and_degenerate_input():
    r = kmeans1d(np.array([[0.0, 0.2], [9.0, 10.0]]), 2)
    assert r.labels.tolist() == [[0, 0], [1, 1]]
    assert r.inertia == pytest.approx(0.02 + 0.5)
    with pytest.raises(ValueError, match="only 1 distinct levels, fewer than k=2"):
        kmeans1d(np.ones((4, 4)), 2)


def test_majority_filter_literal():
    a = np.array([[0, 0, 0, 1], [0, 2, 0, 1], [1, 1, 1, 1]], dtype=np.uint8)
    assert majority_filter(a, 3).tolist() == [[0, 0, 0, 1], [0, 0, 1, 1], [1, 1, 1, 1]]
    assert np.array_equal(majority_filter(a, 1), a)


def test_median_filter_lets_a_minority_label_win_where_majority_does_not():
    # A 0|2 border with one pixel of 1: the median of label ids is 1, the mode is 0.
    a = np.array([[0, 0, 2], [0, 1, 2], [0, 2, 2]], dtype=np.uint8)
    assert median_filter(a, 3)[1, 1] == 1
    assert majority_filter(a, 3)[1, 1] == 0


def test_median_filter_matches_scipy_in_the_interior():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 5, (20, 24)).astype(np.uint8)
    ref = ndimage.median_filter(a, size=5)
    assert np.array_equal(median_filter(a, 5)[2:-2, 2:-2], ref[2:-2, 2:-2])


@settings(max_examples=40, deadline=None)
@given(
    h=st.integers(1, 12),
    w=st.integers(1, 12),
    k=st.integers(1, 6),
    size=st.sampled_from([1, 3, 5, 7]),
    seed=st.integers(0, 2**16),
)
def test_majority_filter_only_outputs_labels_of_the_window(h, w, k, size, seed):
    a = np.random.default_rng(seed).integers(0, k, (h, w)).astype(np.uint8)
    out = majority_filter(a, size)
    r = size // 2
    for y in range(h):
        for x in range(w):
            window = a[max(0, y - r) : y + r + 1, max(0, x - r) : x + r + 1]
            counts = np.bincount(window.ravel(), minlength=k)
            assert counts[out[y, x]] == counts.max()


@pytest.mark.parametrize("size", [0, 2, -3])
def test_filters_reject_even_sizes(size):
    with pytest.raises(ValueError, match="odd integer"):
        majority_filter(np.zeros((4, 4), np.uint8), size)


def test_components_match_scipy():
    rng = np.random.default_rng(1)
    for _ in range(10):
        a = rng.integers(0, 3, (13, 17)).astype(np.uint8)
        assert count_components(a, 4).tolist() == [ndimage.label(a == c)[1] for c in range(4)]
    ring = np.ones((5, 5), np.uint8)
    ring[1:4, 1:4] = 0
    ring[2, 2] = 1
    assert count_components(ring, 2).tolist() == [1, 2]


def test_palette_has_no_black_and_distinct_first_colours():
    assert PALETTE.shape == (256, 3) and PALETTE.dtype == np.uint8
    assert len({tuple(c) for c in PALETTE.tolist()}) == 256
    assert PALETTE.astype(int).sum(axis=1).min() >= 100
    first = PALETTE[:12].astype(float)
    dist = np.linalg.norm(first[:, None] - first[None], axis=-1) + np.eye(12) * 1e9
    assert dist.min() > 60


def test_label_png_round_trip(tmp_path):
    a = np.random.default_rng(2).integers(0, 256, (7, 11)).astype(np.uint8)
    write_label_png(tmp_path / "m.png", a)
    assert np.array_equal(read_label_png(tmp_path / "m.png"), a)
    assert [p.name for p in tmp_path.iterdir()] == ["m.png"]
    from PIL import Image

    with Image.open(tmp_path / "m.png") as img:
        assert img.mode == "P"
        assert np.array_equal(np.array(img.getpalette()[:768], np.uint8).reshape(256, 3), PALETTE)


def test_read_label_png_names_corrupt_files(tmp_path):
    a = np.zeros((64, 64), np.uint8)
    a[::3] = 1
    write_label_png(tmp_path / "m.png", a)
    data = (tmp_path / "m.png").read_bytes()
    (tmp_path / "t.png").write_bytes(data[: len(data) // 2])
    (tmp_path / "x.png").write_bytes(b"not a png")
    for name in ("t.png", "x.png"):
        with pytest.raises(ValueError, match=rf"{name}: unreadable or truncated PNG"):
            read_label_png(tmp_path / name)
    with pytest.raises(FileNotFoundError, match="nope.png"):
        read_label_png(tmp_path / "nope.png")


@pytest.mark.parametrize("bad", [[1.0, np.nan, 2.0], [np.nan, 1.0], [1.0, np.inf], [-np.inf, 0.0], []])
def test_kmeans1d_rejects_non_finite_or_empty_input(bad):
    with pytest.raises(ValueError, match="non-empty array of finite values"):
        kmeans1d(np.array(bad), 2)
