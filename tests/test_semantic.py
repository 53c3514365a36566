"""Style exemplars and target maps loaded from files at a working size."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from doodle.semantic import StyleExemplar, load_style, load_target_map, one_hot

GREEN, WHITE, BLUE, RED = (0, 255, 0), (255, 255, 255), (0, 0, 255), (255, 0, 0)
PALETTE = np.array([GREEN, WHITE, BLUE, RED], np.uint8)


def labels_hw(h: int, w: int) -> np.ndarray:
    """Four regions with distinct areas: green > white > blue > red."""
    labels = np.zeros((h, w), np.uint8)
    labels[:, 5 * w // 8 :] = 1
    labels[h // 2 :, : w // 4] = 2
    labels[h - h // 4 :, w - w // 4 :] = 3
    return labels


@pytest.fixture
def style_files(tmp_path):
    rng = np.random.default_rng(0)
    style = tmp_path / "style.png"
    Image.fromarray(rng.integers(0, 256, (16, 24, 3), dtype=np.uint8)).save(style)
    labels = labels_hw(16, 24)
    rgba = np.dstack([PALETTE[labels], rng.integers(0, 256, (16, 24), dtype=np.uint8)])  # alpha is noise
    Image.fromarray(rgba).save(tmp_path / "map.png")
    return style, tmp_path / "map.png", labels


def test_load_style_full_size(style_files):
    style, map_path, labels = style_files
    notes = []
    ex = load_style(style, map_path, log=notes.append)
    assert isinstance(ex, StyleExemplar) and ex.k == 4
    assert ex.palette.tolist() == PALETTE.tolist()
    np.testing.assert_array_equal(ex.labels, labels)
    assert ex.image.dtype == np.float32 and ex.image.shape == (16, 24, 3)
    np.testing.assert_allclose(ex.image * 255, np.asarray(Image.open(style)), atol=1e-3)
    assert notes == []


def test_load_style_working_size(style_files):
    style, map_path, labels = style_files
    ex = load_style(style, map_path, regions=4, size=12)
    assert ex.image.shape == (8, 12, 3) and ex.labels.shape == (8, 12) and ex.labels.dtype == np.uint8
    assert 0.0 <= ex.image.min() and ex.image.max() <= 1.0
    np.testing.assert_array_equal(ex.labels, labels[1::2, 1::2])  # nearest neighbour, never blended


@pytest.mark.parametrize("mode", ["L", "P"])
def test_grey_and_palette_mode_maps(tmp_path, style_files, mode):
    style, _, labels = style_files
    grey = np.array([0, 90, 170, 255], np.uint8)[labels]
    Image.fromarray(grey).convert(mode).save(tmp_path / f"map_{mode}.png")
    ex = load_style(style, tmp_path / f"map_{mode}.png")
    assert ex.k == 4
    np.testing.assert_array_equal(ex.palette[ex.labels][:, :, 0], grey)


def test_map_of_another_size_same_aspect_is_resized_with_a_notice(tmp_path, style_files):
    style, _, labels = style_files
    big = np.repeat(np.repeat(PALETTE[labels], 2, axis=0), 2, axis=1)  # 48x32, same aspect
    Image.fromarray(big).save(tmp_path / "big.png")
    notes = []
    ex = load_style(style, tmp_path / "big.png", log=notes.append)
    np.testing.assert_array_equal(ex.labels, labels)
    assert len(notes) == 1
    assert "is 48x32, resizing it to the style image's 24x16 (nearest neighbour)" in notes[0]


def test_map_with_another_aspect_ratio_is_refused(tmp_path, style_files):
    style, _, _ = style_files
    Image.fromarray(np.zeros((16, 30, 3), np.uint8)).save(tmp_path / "wide.png")
    with pytest.raises(ValueError) as info:
        load_style(style, tmp_path / "wide.png")
    assert str(info.value) == (
        "style map is 30x16 but style image is 24x16: the aspect ratios differ; "
        "give a map drawn over the style image, at any scale"
    )


def test_too_few_regions_is_refused(style_files):
    style, map_path, _ = style_files
    with pytest.raises(ValueError, match=rf"^style map {map_path}: .*palette: 0 #.*\(or give a larger number of regions\)$"):
        load_style(style, map_path, regions=2)
    with pytest.raises(ValueError, match="the map has only 4 distinct colour"):
        load_style(style, map_path, regions=9)


def test_missing_and_broken_files(tmp_path, style_files):
    style, map_path, _ = style_files
    with pytest.raises(FileNotFoundError, match="^image not found: .*nope.png$"):
        load_style(tmp_path / "nope.png", map_path)
    with pytest.raises(FileNotFoundError, match="^image not found: .*nope.png$"):
        load_style(style, tmp_path / "nope.png")
    (tmp_path / "text.png").write_text("not a png")
    with pytest.raises(ValueError, match="^cannot read image .*text.png: "):
        load_target_map(tmp_path / "text.png", PALETTE)


def test_target_map_snaps_noise_and_resizes(tmp_path):
    labels = labels_hw(20, 10)
    noisy = np.clip(PALETTE[labels].astype(int) + np.random.default_rng(1).integers(-25, 26, (20, 10, 3)), 0, 255)
    Image.fromarray(noisy.astype(np.uint8)).save(tmp_path / "t.png")
    np.testing.assert_array_equal(load_target_map(tmp_path / "t.png", PALETTE), labels)
    small = load_target_map(tmp_path / "t.png", PALETTE, size=10)
    assert small.shape == (10, 5) and small.dtype == np.uint8
    np.testing.assert_array_equal(small, labels[1::2, 1::2])


def test_target_map_with_unknown_colours_is_refused(tmp_path):
    labels = labels_hw(10, 10)
    rgb = PALETTE[labels]
    rgb[:3] = (128, 0, 255)  # purple: 30 % of the map
    Image.fromarray(rgb).save(tmp_path / "t.png")
    with pytest.raises(ValueError) as info:
        load_target_map(tmp_path / "t.png", PALETTE)
    message = str(info.value)
    assert message.startswith(f"target map {tmp_path / 't.png'} does not match the style palette: 30.0% of the map's pixels")
    assert "most often #8000ff" in message
    assert "palette: 0 #00ff00, 1 #ffffff, 2 #0000ff, 3 #ff0000" in message
    assert "\n" not in message


def test_one_hot():
    labels = np.array([[0, 2], [1, 2]], np.uint8)
    masks = one_hot(labels, 3)
    assert masks.shape == (1, 3, 2, 2) and masks.dtype == torch.float32
    torch.testing.assert_close(masks.sum(dim=1), torch.ones(1, 2, 2))
    assert masks[0, 2].tolist() == [[0.0, 1.0], [0.0, 1.0]]
    batch = one_hot(torch.from_numpy(np.stack([labels, 2 - labels])), 4)
    assert batch.shape == (2, 4, 2, 2)
    assert batch[1, :, 0, 0].tolist() == [0.0, 0.0, 1.0, 0.0]
    assert batch[:, 3].sum() == 0  # an unused region has an empty mask
    with pytest.raises(ValueError, match=r"labels must be in 0..1, found 0..2"):
        one_hot(labels, 2)
    with pytest.raises(ValueError, match="expected labels of shape"):
        one_hot(np.zeros(4, np.uint8), 2)
