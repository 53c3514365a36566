"""Palette derivation and snapping on tiny literal maps."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from doodle.palette import derive_palette, format_palette, snap_to_palette

BLACK, WHITE, RED, GREEN, BLUE = (0, 0, 0), (255, 255, 255), (255, 0, 0), (0, 255, 0), (0, 0, 255)


def two_colour_blended(a=BLACK, b=RED, size=8) -> np.ndarray:
    """Left half ``a``, right half ``b``, one anti-aliased column of blends between them."""
    m = np.zeros((size, size, 3), np.uint8)
    m[:, : size // 2] = a
    m[:, size // 2 :] = b
    for row, t in enumerate(np.linspace(0.1, 0.9, size)):
        m[row, size // 2] = np.rint((1 - t) * np.array(a) + t * np.array(b))
    return m


def quadrants(colours, size=16) -> tuple[np.ndarray, np.ndarray]:
    """A map of four quadrants (areas 4:2:1:1 so the order is known) and its clean labels."""
    half, quarter = size // 2, size // 4
    labels = np.zeros((size, size), np.uint8)  # region 0: top-left quarter
    labels[half:, :] = 1  # bottom half
    labels[:quarter, half:] = 2  # 1/8
    labels[quarter:half, half:] = 3  # 1/8
    return np.array(colours, np.uint8)[labels], labels


def test_blended_border_snaps_to_one_of_the_two_colours():
    m = two_colour_blended()
    palette = derive_palette(m)
    assert palette.tolist() == [list(BLACK), list(RED)]  # the blends are no third region
    labels = snap_to_palette(m, palette)
    assert labels.dtype == np.uint8 and labels.shape == (8, 8)
    assert set(np.unique(labels)) == {0, 1}
    # Each blend goes to the nearer end.
    np.testing.assert_array_equal(labels[:, 4], (np.linspace(0.1, 0.9, 8) > 0.5).astype(np.uint8))


def test_antialiased_diagonal_border_gives_two_regions():
    yy, xx = np.mgrid[0:24, 0:24]
    coverage = np.clip((xx - yy) / 2.0 + 0.5, 0.0, 1.0)[:, :, None]  # ~2 px wide soft diagonal
    m = np.rint((1 - coverage) * np.array(GREEN) + coverage * np.array(BLUE)).astype(np.uint8)
    for k in (None, 2):
        palette = derive_palette(m, k)
        assert sorted(palette.tolist()) == sorted([list(GREEN), list(BLUE)])
        assert set(np.unique(snap_to_palette(m, palette))) == {0, 1}


def test_palette_is_sorted_by_area_then_colour():
    m, labels = quadrants([BLUE, WHITE, RED, GREEN])
    palette = derive_palette(m)
    # WHITE covers 1/2, BLUE 1/4; RED and GREEN tie at 1/8 and are ordered by value.
    assert palette.tolist() == [list(WHITE), list(BLUE), list(GREEN), list(RED)]
    for seed in (0, 1, 7):
        np.testing.assert_array_equal(derive_palette(m, 4, seed=seed), palette)


def test_jpeg_noise_is_snapped_to_the_painted_colours():
    m, labels = quadrants([BLUE, WHITE, RED, GREEN], size=32)
    buffer = io.BytesIO()
    Image.fromarray(m).save(buffer, format="JPEG", quality=70)
    noisy = np.asarray(Image.open(buffer).convert("RGB"))
    assert len(np.unique(noisy.reshape(-1, 3), axis=0)) > 4
    palette = derive_palette(noisy)
    assert len(palette) == 4
    clean = derive_palette(m)
    assert np.abs(palette.astype(int) - clean.astype(int)).max() <= 20  # near the painted colours
    np.testing.assert_array_equal(snap_to_palette(noisy, palette), snap_to_palette(m, palette))


def test_small_noise_keeps_every_label():
    m, labels = quadrants([BLUE, WHITE, RED, GREEN])
    noise = np.random.default_rng(0).integers(-20, 21, m.shape)
    noisy = np.clip(m.astype(int) + noise, 0, 255).astype(np.uint8)
    palette = np.array([BLUE, WHITE, RED, GREEN], np.uint8)
    np.testing.assert_array_equal(snap_to_palette(noisy, palette), labels)
    # Each automatic palette colour is a real colour of the map, never an average.
    derived = derive_palette(noisy)
    assert len(derived) == 4
    present = {tuple(c) for c in noisy.reshape(-1, 3)}
    assert all(tuple(c) in present for c in derived)


def test_unknown_colour_is_refused_with_the_palette():
    m = np.zeros((10, 10, 3), np.uint8)
    m[:, 5:] = WHITE
    m[:2, :] = (255, 0, 255)  # 20 % magenta: no mix of black and white
    palette = np.array([BLACK, WHITE], np.uint8)
    with pytest.raises(ValueError) as info:
        snap_to_palette(m, palette)
    message = str(info.value)
    assert message == (
        "20.0% of the map's pixels are farther than 80 from every palette colour, most often #ff00ff "
        "(20.0% of the pixels, 255 from the nearest palette colour); palette: 0 #000000, 1 #ffffff; "
        "paint the map with the palette colours only"
    )


def test_a_region_painted_with_a_mix_is_refused_but_its_border_is_not():
    m = np.zeros((16, 16, 3), np.uint8)
    m[:, 8:] = WHITE
    m[5:11, 1:7] = (128, 128, 128)  # a grey region: a black/white mix, but 6x6 px, not a border
    palette = np.array([BLACK, WHITE], np.uint8)
    with pytest.raises(ValueError, match=r"most often #808080"):
        snap_to_palette(m, palette)
    m[5:11, 1:7] = BLACK
    m[:, 8] = (128, 128, 128)  # the same grey as a 1 px border column: 6 % of the map, accepted
    assert set(np.unique(snap_to_palette(m, palette))) == {0, 1}


def test_a_few_stray_pixels_are_tolerated():
    m = np.zeros((16, 16, 3), np.uint8)
    m[3, 3] = (255, 0, 255)  # 1 pixel of 256: under 1 %, snapped to its nearest colour (white)
    labels = snap_to_palette(m, np.array([BLACK, WHITE], np.uint8))
    expected = np.zeros((16, 16), np.uint8)
    expected[3, 3] = 1
    np.testing.assert_array_equal(labels, expected)


def test_max_distance():
    m = np.full((4, 4, 3), (0, 0, 70), np.uint8)  # 70 from black, far from any black/white mix
    palette = np.array([BLACK, WHITE], np.uint8)
    with pytest.raises(ValueError, match="farther than 50 from"):
        snap_to_palette(m, palette, max_distance=50)
    assert snap_to_palette(m, palette).max() == 0  # within the default 80
    m[:] = (0, 0, 200)
    with pytest.raises(ValueError, match="farther than 80 from"):
        snap_to_palette(m, palette)
    assert snap_to_palette(m, palette, max_distance=float("inf")).max() == 0


def test_ties_go_to_the_lower_label():
    palette = np.array([BLACK, (2, 0, 0)], np.uint8)
    assert snap_to_palette(np.array([[[1, 0, 0]]], np.uint8), palette).tolist() == [[0]]


def test_k_larger_than_the_colours_is_refused():
    m, _ = quadrants([BLUE, WHITE, RED, GREEN])
    with pytest.raises(ValueError, match=r"^the map has only 4 distinct colour\(s\), fewer than the 5 regions asked for; ask for at most 4 regions$"):
        derive_palette(m, 5)
    for k in (0, 256):
        with pytest.raises(ValueError, match="between 1 and 255"):
            derive_palette(m, k)


def test_k_smaller_than_the_regions_then_snapping_refuses():
    m, _ = quadrants([BLUE, WHITE, RED, GREEN])
    palette = derive_palette(m, 2)
    assert len(palette) == 2
    with pytest.raises(ValueError, match="palette: 0 #"):
        snap_to_palette(m, palette)


def test_single_colour_and_single_pixel_maps():
    assert derive_palette(np.full((5, 3, 3), 7, np.uint8)).tolist() == [[7, 7, 7]]
    one = np.array([[[1, 2, 3]]], np.uint8)
    assert derive_palette(one, 1).tolist() == [[1, 2, 3]]
    assert snap_to_palette(one, derive_palette(one)).tolist() == [[0]]


def test_photo_like_map_is_refused_by_the_automatic_choice():
    levels = np.array([0, 64, 128, 192, 255])
    colours = np.stack(np.meshgrid(levels, levels, levels), -1).reshape(-1, 3)[:40]
    m = np.zeros((4 * 5, 4 * 8, 3), np.uint8)
    for i, c in enumerate(colours):  # 40 flat 4x4 blocks of well separated colours
        m[4 * (i // 8) : 4 * (i // 8) + 4, 4 * (i % 8) : 4 * (i % 8) + 4] = c
    with pytest.raises(ValueError, match="found 40 colour regions .*more than 32: this does not look like a semantic map"):
        derive_palette(m)
    assert len(derive_palette(m, 40)) == 40


def test_bad_arguments():
    with pytest.raises(ValueError, match="expected a uint8 RGB map"):
        snap_to_palette(np.zeros((2, 2, 3), np.float32), np.zeros((1, 3), np.uint8))
    with pytest.raises(ValueError, match="expected a uint8 RGB map"):
        derive_palette(np.zeros((2, 2, 4), np.uint8))
    with pytest.raises(ValueError, match=r"a palette is a \(K, 3\) array"):
        snap_to_palette(np.zeros((2, 2, 3), np.uint8), np.zeros((0, 3), np.uint8))


def test_format_palette():
    assert format_palette(np.array([GREEN, (170, 187, 204)], np.uint8)) == "0 #00ff00, 1 #aabbcc"
