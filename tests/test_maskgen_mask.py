"""MaskParams validation and make_mask properties."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from maskgen import MaskParams, make_mask, parse_regions
from maskgen.heightmap import octave_heightmap
from maskgen.rng import mask_stream

SMALL = dict(width=48, height=40, filter_size=5)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(width=7), "width must be an integer in 8..16384 pixels, got 7"),
        (dict(height=0), "height must be an integer in 8..16384 pixels, got 0"),
        (dict(regions=(1, 1)), "regions must satisfy 2 <= min <= max <= 255, got 1-1"),
        (dict(regions=(256, 256)), "regions must satisfy 2 <= min <= max <= 255, got 256-256"),
        (dict(regions=(5, 3)), "regions must satisfy 2 <= min <= max <= 255, got 5-3"),
        (dict(roughness=0.0), r"roughness must be in \(0, 1\], got 0.0"),
        (dict(roughness=1.5), r"roughness must be in \(0, 1\], got 1.5"),
        (dict(octaves=0), "octaves must be an integer in 1..8, got 0"),
        (dict(filter="gauss"), "filter must be one of majority, median, none, got 'gauss'"),
        (dict(filter_size=4), "filter size must be an odd integer in 1..255, got 4"),
        (dict(min_area=0.3, regions=(4, 4)), r"min area must be >= 0 with min_area \* K <= 1"),
        (dict(min_area=-0.1), "min area must be >= 0"),
        (dict(kmeans="faiss"), "kmeans must be one of numba, sklearn, got 'faiss'"),
        (dict(max_redraws=-1), "max redraws must be an integer >= 0, got -1"),
        (dict(width=8, height=8, regions=(100, 100), min_area=0.0), "a 8x8 mask cannot hold 100 regions"),
    ],
)
def test_params_reject_bad_values_in_one_line(kwargs, message):
    with pytest.raises(ValueError, match=message) as info:
        MaskParams(**kwargs)
    assert "\n" not in str(info.value)


def test_parse_regions():
    assert parse_regions("3-6") == (3, 6)
    assert parse_regions(" 4 ") == (4, 4)
    for bad in ("a", "3-", "1-2-3", ""):
        with pytest.raises(ValueError, match="regions must be K or A-B"):
            parse_regions(bad)


def test_params_dict_round_trip():
    p = MaskParams(width=64, height=32, regions=(3, 7), roughness=0.4, octaves=2, filter="median")
    d = p.to_dict()
    assert d["regions"] == [3, 7]
    assert MaskParams.from_dict(d) == p
    with pytest.raises(ValueError, match="unknown mask parameters"):
        MaskParams.from_dict({**d, "colour": 1})


def test_make_mask_depends_only_on_seed_index_params():
    p = MaskParams(**SMALL, regions=(3, 5))
    a, b = make_mask(p, 7, 12), make_mask(p, 7, 12)
    assert np.array_equal(a.labels, b.labels) and a.k == b.k
    assert not np.array_equal(make_mask(p, 7, 13).labels, a.labels)
    assert not np.array_equal(make_mask(p, 8, 12).labels, a.labels)


@pytest.mark.parametrize("width,height", [(8, 8), (33, 17), (100, 9)])
def test_mask_shape_values_and_areas(width, height):
    p = MaskParams(width=width, height=height, regions=(2, 3), filter_size=3, min_area=0.0)
    m = make_mask(p, 0, 3)
    assert m.labels.shape == (height, width) and m.labels.dtype == np.uint8
    assert set(np.unique(m.labels)) == set(range(m.k))
    assert np.allclose(m.areas, np.bincount(m.labels.ravel(), minlength=m.k) / m.labels.size)
    assert len(m.components) == m.k and min(m.components) >= 1
    assert m.seed_stream == (0, 3, m.redraws)


@pytest.mark.parametrize("filter_", ["none", "majority"])
def test_labels_are_ordered_by_mean_height(filter_):
    p = MaskParams(**{**SMALL, "filter_size": 5}, regions=(5, 5), filter=filter_)
    for index in range(6):
        m = make_mask(p, 1, index)
        h = octave_heightmap(p.width, p.height, p.roughness, p.octaves, mask_stream(1, index, m.redraws))
        means = [h[m.labels == c].mean() for c in range(m.k)]
        assert np.all(np.diff(means) > 0)


def test_min_area_is_honoured_with_deterministic_redraws():
    p = MaskParams(**SMALL, regions=(4, 4), min_area=0.2)
    masks = [make_mask(p, 0, i) for i in range(12)]
    assert all(min(m.areas) >= 0.2 for m in masks)
    assert any(m.redraws > 0 for m in masks)
    again = make_mask(p, 0, 5)
    assert again.redraws == masks[5].redraws and np.array_equal(again.labels, masks[5].labels)


def test_region_range_is_drawn_per_mask_and_covered():
    p = MaskParams(**SMALL, regions=(2, 5), min_area=0.0)
    ks = {make_mask(p, 3, i).k for i in range(40)}
    assert ks == {2, 3, 4, 5}


def test_impossible_rules_raise_a_clean_error():
    p = MaskParams(**SMALL, regions=(4, 4), min_area=0.25, max_redraws=2)
    with pytest.raises(ValueError, match=r"no draw kept all 4 regions above min_area=0.25 in 3 tries; lower --min-area"):
        make_mask(p, 0, 0)


def test_sklearn_path_is_a_valid_alternative_and_never_better():
    base = dict(**SMALL, regions=(3, 3), min_area=0.0, filter="none")
    a = make_mask(MaskParams(**base), 2, 1)
    b = make_mask(MaskParams(**base, kmeans="sklearn"), 2, 1)
    assert a.redraws == b.redraws == 0 and b.k == 3
    h = octave_heightmap(48, 40, 0.5, 1, mask_stream(2, 1, 0)).ravel()

    def inertia(labels):
        lab = labels.ravel()
        return sum(((h[lab == c] - h[lab == c].mean()) ** 2).sum() for c in range(3))

    assert inertia(a.labels) <= inertia(b.labels) * (1 + 1e-3)
    assert np.mean(a.labels == b.labels) > 0.9


def test_octaves_change_the_map_but_keep_it_valid():
    one = make_mask(MaskParams(**SMALL, octaves=1, min_area=0.0), 0, 0)
    three = make_mask(MaskParams(**SMALL, octaves=3, min_area=0.0), 0, 0)
    assert not np.array_equal(one.labels, three.labels)
    assert three.labels.max() == three.k - 1


@settings(max_examples=60, deadline=None)
@given(
    width=st.integers(0, 40),
    height=st.integers(0, 40),
    lo=st.integers(0, 10),
    extra=st.integers(0, 3),
    roughness=st.floats(-0.5, 1.5, allow_nan=False),
    min_area=st.floats(-0.1, 0.6, allow_nan=False),
    filter_=st.sampled_from(["majority", "median", "none"]),
    size=st.integers(0, 9),
    index=st.integers(0, 1000),
)
def test_fuzz_params_give_a_valid_mask_or_a_clean_error(width, height, lo, extra, roughness, min_area, filter_, size, index):
    try:
        p = MaskParams(
            width=width, height=height, regions=(lo, lo + extra), roughness=roughness,
            min_area=min_area, filter=filter_, filter_size=size, max_redraws=3,
        )  # fmt: skip
        m = make_mask(p, 0, index)
    except ValueError as exc:
        assert "\n" not in str(exc) and str(exc)
        return
    assert m.labels.shape == (height, width) and m.labels.dtype == np.uint8
    assert lo <= m.k <= lo + extra
    counts = np.bincount(m.labels.ravel(), minlength=m.k)
    assert len(counts) == m.k and counts.min() > 0
    assert counts.min() >= min_area * m.labels.size
