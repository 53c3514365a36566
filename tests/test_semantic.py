"""Style exemplars and target maps loaded from files at a working size."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import ndimage

from doodle.maps.palette import Palette, format_palette
from doodle.maps.semantic import StyleExemplar, load_style, load_target_map, one_hot

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
    assert ex.palette.colours.tolist() == PALETTE.tolist() and ex.palette == Palette.from_colours(PALETTE)
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
    np.testing.assert_array_equal(ex.palette.colours[ex.labels][:, :, 0], grey)


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


def test_more_regions_than_colours_is_refused(style_files):
    style, map_path, _ = style_files
    with pytest.raises(ValueError, match=rf"^style map {map_path}: the map has only 4 distinct colour"):
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


SKY, LAKE, GRASS = (135, 206, 250), (30, 60, 160), (60, 160, 60)
RED_MAJOR, RED_MINOR = (255, 51, 31), (192, 0, 0)  # RGB distance 87: one region with --regions 4
FIVE = np.array([SKY, RED_MAJOR, LAKE, GRASS, RED_MINOR], np.uint8)


def five_colour_layout(h: int = 48, w: int = 72) -> np.ndarray:
    """Indices into FIVE: sky, a red mountain with a darker red barn, a lake, grass."""
    layout = np.zeros((h, w), np.uint8)
    layout[h // 3 :] = 1
    layout[h * 5 // 12 : h * 7 // 12, w * 2 // 3 : w * 5 // 6] = 4  # the barn, in the minor red
    layout[h * 7 // 12 :] = 2
    layout[h * 19 // 24 :] = 3
    return layout


def target_layout(h: int = 40, w: int = 60) -> np.ndarray:
    """A new doodle: sky on top, then a minor-red barn, lake and grass side by side."""
    layout = np.zeros((h, w), np.uint8)
    layout[h // 4 :, : w // 3] = 4
    layout[h // 4 :, w // 3 : 2 * w // 3] = 2
    layout[h // 4 :, 2 * w // 3 :] = 3
    return layout


def save_map(path, rgb: np.ndarray, mode: str):
    """Save ``rgb`` as a user's paint program might: RGBA, palette, grey or JPEG quality 50."""
    im = Image.fromarray(rgb)
    if mode == "RGBA":
        im.putalpha(Image.fromarray(np.random.default_rng(0).integers(0, 256, rgb.shape[:2], dtype=np.uint8)))
    elif mode == "P":
        im = im.convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    elif mode == "L":
        im = im.convert("L")
    path = path.with_suffix(".jpg" if mode == "JPEG" else ".png")
    im.save(path, **({"quality": 50} if mode == "JPEG" else {}))
    return path


def interior(layout: np.ndarray, radius: int = 3) -> np.ndarray:
    """Pixels at least ``radius`` pixels from any border of the layout (JPEG blurs borders)."""
    size = 2 * radius + 1
    return ndimage.maximum_filter(layout, size) == ndimage.minimum_filter(layout, size)


@pytest.fixture
def five_colour_style(tmp_path):
    """A painting (one noise texture per colour) and its five-colour map."""
    layout = five_colour_layout()
    rng = np.random.default_rng(3)
    painting = np.clip(FIVE[layout] * 0.7 + rng.normal(0, 25, layout.shape + (3,)), 0, 255).astype(np.uint8)
    Image.fromarray(painting).save(tmp_path / "painting.png")
    return tmp_path / "painting.png", layout


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "P", "L", "JPEG"])
def test_regions_fewer_than_colours_merge_in_style_and_target_maps(tmp_path, five_colour_style, mode):
    painting, layout = five_colour_style
    style_map = save_map(tmp_path / "style_map", FIVE[layout], mode)
    notes = []
    ex = load_style(painting, style_map, regions=4, log=notes.append)
    assert ex.k == 4 and ex.labels.shape == layout.shape
    core = interior(layout)
    # Every painted colour lands in one region, whatever it was merged with.
    region_of = np.array([np.bincount(ex.labels[core & (layout == c)]).argmax() for c in range(5)])
    np.testing.assert_array_equal(ex.labels[core], region_of[layout[core]])
    assert len(set(region_of.tolist())) == 4
    if mode != "L":  # in grey the minor red is closer to the lake's grey than to the major red's
        assert region_of[1] == region_of[4]
        assert "+" in format_palette(ex.palette)
        assert any("colours in 4 regions, merged by K-means" in n for n in notes)
    # A target map saved the same way goes through the same clustering.
    doodle = target_layout()
    target = load_target_map(save_map(tmp_path / "target", FIVE[doodle], mode), ex.palette)
    np.testing.assert_array_equal(target[interior(doodle)], region_of[doodle[interior(doodle)]])
    if mode != "JPEG":
        np.testing.assert_array_equal(target, region_of[doodle])
    else:
        assert (target == region_of[doodle]).mean() > 0.97


def test_a_target_far_from_every_style_colour_is_refused_with_the_merged_palette(tmp_path, five_colour_style):
    painting, layout = five_colour_style
    Image.fromarray(FIVE[layout]).save(tmp_path / "style_map.png")
    ex = load_style(painting, tmp_path / "style_map.png", regions=4, log=lambda _m: None)
    doodle = FIVE[target_layout()]
    doodle[:, :10] = (255, 255, 0)  # yellow: no colour of the style map, nor a blend of two
    Image.fromarray(doodle).save(tmp_path / "yellow.png")
    with pytest.raises(ValueError, match=r"most often #ffff00 .*palette: .*#ff331f\+#c00000"):
        load_target_map(tmp_path / "yellow.png", ex.palette)


def test_merged_map_trains_optimizes_and_renders(tmp_path, five_colour_style):
    from click.testing import CliRunner

    from doodle.cli import main
    from doodle.training.checkpoint import generator_from_checkpoint, load_checkpoint, save_checkpoint

    painting, layout = five_colour_style
    Image.fromarray(FIVE[layout]).save(tmp_path / "style_map.png")
    Image.fromarray(FIVE[target_layout()]).save(tmp_path / "target.png")  # painted with the minor red
    common = ["--style", painting, "--style-map", tmp_path / "style_map.png", "--regions", 4, "--size", 32,
              "--style-layers", "relu1_1,relu2_1", "--loss-net", "random", "--precision", "fp32"]
    run = lambda *args: CliRunner().invoke(main, [str(a) for a in args])  # noqa: E731
    result = run("train", *common, "--steps", 2, "--batch", 1, "--width", 4, "--blocks", 1, "--workers", 0,
                 "--out", tmp_path / "run")
    assert result.exit_code == 0, result.output
    assert "#ff331f+#c00000" in result.output
    assert Image.open(tmp_path / "run" / "legend.png").size[1] >= 4 * 96  # one row per region
    ckpt = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    _, palette = generator_from_checkpoint(ckpt)
    merged = next(i for i, m in enumerate(palette.members) if len(m) == 2)
    assert palette.members[merged].tolist() == [list(RED_MAJOR), list(RED_MINOR)]
    assert (load_target_map(tmp_path / "target.png", palette)[10:, :20] == merged).all()  # the barn's red
    result = run("render", "--checkpoint", tmp_path / "run" / "checkpoint.pt", "--map", tmp_path / "target.png",
                 "-o", tmp_path / "render.png")
    assert result.exit_code == 0, result.output
    assert Image.open(tmp_path / "render.png").size == (60, 40)
    result = run("optimize", *common, "--target-map", tmp_path / "target.png", "--iterations", 2, "-o", tmp_path / "o.png")
    assert result.exit_code == 0, result.output
    assert Image.open(tmp_path / "o.png").size == (32, 21)
    # A checkpoint from before merged colours were stored still renders maps painted with its palette colours.
    del ckpt["palette_members"]
    save_checkpoint(tmp_path / "old.pt", ckpt)
    old = load_checkpoint(tmp_path / "old.pt")
    del old["palette_members"]
    _, old_palette = generator_from_checkpoint(old)
    assert old_palette == Palette.from_colours(palette.colours)
