"""Palette derivation and snapping on tiny literal maps."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from doodle.maps.palette import Palette, fit_palette, format_palette, snap_to_palette

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
    palette, style_labels = fit_palette(m)
    assert palette.colours.tolist() == [list(BLACK), list(RED)]  # the blends are no third region
    assert palette.k == 2 and all(len(c) == 1 for c in palette.members)  # nor members of one
    labels = snap_to_palette(m, palette)
    np.testing.assert_array_equal(style_labels, labels)
    assert labels.dtype == np.uint8 and labels.shape == (8, 8)
    assert set(np.unique(labels)) == {0, 1}
    # Each blend goes to the nearer end.
    np.testing.assert_array_equal(labels[:, 4], (np.linspace(0.1, 0.9, 8) > 0.5).astype(np.uint8))


def test_antialiased_diagonal_border_gives_two_regions():
    yy, xx = np.mgrid[0:24, 0:24]
    coverage = np.clip((xx - yy) / 2.0 + 0.5, 0.0, 1.0)[:, :, None]  # ~2 px wide soft diagonal
    m = np.rint((1 - coverage) * np.array(GREEN) + coverage * np.array(BLUE)).astype(np.uint8)
    for k in (None, 2):
        palette = fit_palette(m, k)[0]
        assert sorted(palette.colours.tolist()) == sorted([list(GREEN), list(BLUE)])
        assert set(np.unique(snap_to_palette(m, palette))) == {0, 1}


def test_palette_is_sorted_by_area_then_colour():
    m, labels = quadrants([BLUE, WHITE, RED, GREEN])
    palette, style_labels = fit_palette(m)
    # WHITE covers 1/2, BLUE 1/4; RED and GREEN tie at 1/8 and are ordered by value.
    assert palette.colours.tolist() == [list(WHITE), list(BLUE), list(GREEN), list(RED)]
    np.testing.assert_array_equal(palette.colours[style_labels], m)
    for seed in (0, 1, 7):
        assert fit_palette(m, 4, seed=seed)[0] == palette


def test_jpeg_noise_is_snapped_to_the_painted_colours():
    m, labels = quadrants([BLUE, WHITE, RED, GREEN], size=32)
    buffer = io.BytesIO()
    Image.fromarray(m).save(buffer, format="JPEG", quality=70)
    noisy = np.asarray(Image.open(buffer).convert("RGB"))
    assert len(np.unique(noisy.reshape(-1, 3), axis=0)) > 4
    palette, style_labels = fit_palette(noisy)
    assert len(palette) == 4 and all(len(c) == 1 for c in palette.members)  # noise is no merged colour
    clean = fit_palette(m)[0]
    assert np.abs(palette.colours.astype(int) - clean.colours.astype(int)).max() <= 20  # near the painted colours
    np.testing.assert_array_equal(snap_to_palette(noisy, palette), snap_to_palette(m, palette))
    np.testing.assert_array_equal(style_labels, snap_to_palette(m, palette))


def test_small_noise_keeps_every_label():
    m, labels = quadrants([BLUE, WHITE, RED, GREEN])
    noise = np.random.default_rng(0).integers(-20, 21, m.shape)
    noisy = np.clip(m.astype(int) + noise, 0, 255).astype(np.uint8)
    palette = np.array([BLUE, WHITE, RED, GREEN], np.uint8)
    np.testing.assert_array_equal(snap_to_palette(noisy, palette), labels)
    # Each automatic palette colour is a real colour of the map, never an average.
    derived = fit_palette(noisy)[0]
    assert len(derived) == 4
    present = {tuple(c) for c in noisy.reshape(-1, 3)}
    assert all(tuple(c) in present for c in derived.colours)


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
        fit_palette(m, 5)
    for k in (0, 256):
        with pytest.raises(ValueError, match="between 1 and 255"):
            fit_palette(m, k)


def test_k_smaller_than_the_colours_merges_every_colour_into_a_region():
    m, labels = quadrants([BLUE, WHITE, RED, GREEN])
    palette, style_labels = fit_palette(m, 2)
    assert palette.k == 2 and sum(len(c) for c in palette.members) == 4
    # Every pixel of a painted colour lands in the region that colour was merged into.
    for colour in (BLUE, WHITE, RED, GREEN):
        painted = (m == colour).all(axis=2)
        assert len(np.unique(style_labels[painted])) == 1
    np.testing.assert_array_equal(snap_to_palette(m, palette), style_labels)  # target maps: the same clustering
    assert np.bincount(style_labels.ravel()).tolist() == sorted(np.bincount(style_labels.ravel()).tolist(), reverse=True)


def test_single_colour_and_single_pixel_maps():
    assert fit_palette(np.full((5, 3, 3), 7, np.uint8))[0].colours.tolist() == [[7, 7, 7]]
    one = np.array([[[1, 2, 3]]], np.uint8)
    assert fit_palette(one, 1)[0].tolists() == [[[1, 2, 3]]]
    assert snap_to_palette(one, fit_palette(one)[0]).tolist() == [[0]]


def test_photo_like_map_is_refused_by_the_automatic_choice():
    levels = np.array([0, 64, 128, 192, 255])
    colours = np.stack(np.meshgrid(levels, levels, levels), -1).reshape(-1, 3)[:40]
    m = np.zeros((4 * 5, 4 * 8, 3), np.uint8)
    for i, c in enumerate(colours):  # 40 flat 4x4 blocks of well separated colours
        m[4 * (i // 8) : 4 * (i // 8) + 4, 4 * (i % 8) : 4 * (i % 8) + 4] = c
    with pytest.raises(ValueError, match="found 40 colour regions .*more than 32: this does not look like a semantic map"):
        fit_palette(m)
    assert len(fit_palette(m, 40)[0]) == 40


def test_bad_arguments():
    with pytest.raises(ValueError, match="expected a uint8 RGB map"):
        snap_to_palette(np.zeros((2, 2, 3), np.float32), np.zeros((1, 3), np.uint8))
    with pytest.raises(ValueError, match="expected a uint8 RGB map"):
        fit_palette(np.zeros((2, 2, 4), np.uint8))
    with pytest.raises(ValueError, match=r"^palette: expected a \(K, 3\) array of RGB colours, K >= 1, got shape \(0, 3\)$"):
        snap_to_palette(np.zeros((2, 2, 3), np.uint8), np.zeros((0, 3), np.uint8))


def test_format_palette():
    assert format_palette(np.array([GREEN, (170, 187, 204)], np.uint8)) == "0 #00ff00, 1 #aabbcc"
    assert format_palette(Palette([[GREEN], [RED_MAJOR, RED_MINOR]])) == "0 #00ff00, 1 #ff331f+#c00000"


def test_palette_object():
    p = Palette([[RED_MAJOR, RED_MINOR], [BLUE]])
    assert p.k == len(p) == 2 and np.asarray(p).tolist() == [list(RED_MAJOR), list(BLUE)]
    assert Palette(p.tolists()) == p and p != Palette.from_colours(p.colours)
    assert p.tolists() == [[list(RED_MAJOR), list(RED_MINOR)], [list(BLUE)]]
    colours, region = p.flat()
    assert colours.tolist() == [list(RED_MAJOR), list(RED_MINOR), list(BLUE)] and region.tolist() == [0, 0, 1]
    with pytest.raises(ValueError):
        p.members[0][0, 0] = 1  # palettes are values: shared freely, never changed
    with pytest.raises(ValueError, match="a palette has 1 to 255 regions, got 0"):
        Palette([])
    with pytest.raises(ValueError, match=r"^region 1: expected a \(K, 3\) array"):
        Palette([[RED], [[1, 2]]])
    with pytest.raises(ValueError, match="^region 0: palette colours must be whole 0..255 RGB values$"):
        Palette([[[300, 0, 0]]])


SKY, GRASS, LAKE = (135, 206, 250), (60, 160, 60), (30, 60, 160)
RED_MAJOR, RED_MINOR = (255, 51, 31), (192, 0, 0)  # RGB distance 87: farther apart than the 80 snapping allows


def stripes(colours, widths, height=8) -> np.ndarray:
    """Vertical stripes of the given colours and widths."""
    return np.concatenate([np.tile(np.array(c, np.uint8), (height, w, 1)) for c, w in zip(colours, widths)], axis=1)


def test_two_similar_reds_share_a_region_and_target_maps_follow_the_clustering():
    style = stripes([SKY, GRASS, LAKE, RED_MAJOR, RED_MINOR], [14, 12, 10, 5, 3])
    palette, labels = fit_palette(style, 4)
    assert palette.tolists() == [[list(SKY)], [list(GRASS)], [list(LAKE)], [list(RED_MAJOR), list(RED_MINOR)]]
    assert (labels[:, 36:] == 3).all() and labels[:, :36].max() < 3
    # A target painted with the minor red, and anti-aliased blends of it, lands in the merged region.
    target = stripes([RED_MINOR, GRASS], [6, 6])
    target[:, 5] = np.rint(0.6 * np.array(RED_MINOR) + 0.4 * np.array(GRASS))
    np.testing.assert_array_equal(snap_to_palette(target, palette), np.array([3] * 6 + [1] * 6)[None].repeat(8, 0))
    # The region colours alone, as an old checkpoint stores them, do not know the minor red.
    with pytest.raises(ValueError, match="most often #c00000"):
        snap_to_palette(target, palette.colours)
    # Colours far from every colour the style map used are refused, the merged ones listed.
    with pytest.raises(ValueError, match=r"most often #ffff00 .*palette: 0 #87cefa, 1 #3ca03c, 2 #1e3ca0, 3 #ff331f\+#c00000;"):
        snap_to_palette(stripes([(255, 255, 0), GRASS], [6, 6]), palette)
