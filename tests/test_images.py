"""Image I/O: modes, one-line errors on bad files, decompression bombs, atomic PNG writes, sizes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from doodle import images
from doodle.images import fit_size, load_rgb, resize_labels, resize_rgb, save_rgb, to_tensor, to_uint8

RGB = np.array([[[255, 0, 0], [0, 255, 0]], [[0, 0, 255], [10, 20, 30]]], np.uint8)


def test_pillow_limit_is_set_explicitly():
    assert Image.MAX_IMAGE_PIXELS == images.MAX_IMAGE_PIXELS == 4096 * 4096 * 4


def test_rgba_alpha_is_ignored(tmp_path):
    rgba = np.dstack([RGB, np.array([[0, 255], [128, 0]], np.uint8)])
    Image.fromarray(rgba).save(tmp_path / "a.png")
    np.testing.assert_array_equal(load_rgb(tmp_path / "a.png"), RGB)


@pytest.mark.parametrize("mode", ["L", "LA"])
def test_grey_modes_expand_to_rgb(tmp_path, mode):
    grey = np.array([[0, 100], [200, 255]], np.uint8)
    Image.fromarray(grey).convert(mode).save(tmp_path / "g.png")
    out = load_rgb(tmp_path / "g.png")
    assert out.shape == (2, 2, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, np.repeat(grey[:, :, None], 3, axis=2))


def test_palette_mode_is_converted(tmp_path):
    im = Image.new("P", (2, 2))
    im.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30])
    im.putdata([0, 1, 2, 3])
    im.save(tmp_path / "p.png")
    np.testing.assert_array_equal(load_rgb(tmp_path / "p.png"), RGB)


def test_16_bit_grey_is_scaled_not_clipped(tmp_path):
    Image.fromarray(np.array([[0, 257 * 100, 65535]], np.uint16)).save(tmp_path / "i16.png")
    np.testing.assert_array_equal(load_rgb(tmp_path / "i16.png")[0, :, 0], [0, 100, 255])


@pytest.mark.parametrize("orientation, turn", [(1, 0), (3, 2), (6, -1), (8, 1)])
def test_exif_orientation_is_applied_and_sized_alike(tmp_path, orientation, turn):
    # Phones store a portrait as a landscape and an EXIF tag saying how to turn it.
    stored = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3) * 10
    exif = Image.Exif()
    exif[images.EXIF_ORIENTATION] = orientation
    Image.fromarray(stored).save(tmp_path / "phone.png", exif=exif)
    shown = np.rot90(stored, k=turn)  # k=-1: a quarter turn clockwise
    np.testing.assert_array_equal(load_rgb(tmp_path / "phone.png"), shown)
    assert images.image_size(tmp_path / "phone.png") == shown.shape[:2]


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        load_rgb(tmp_path / "nope.png")
    assert str(info.value) == f"image not found: {tmp_path / 'nope.png'}"


@pytest.mark.parametrize("content", [b"", b"hello, not an image\n", b"\x89PNG\r\n\x1a\n garbage"])
def test_non_image_is_a_one_line_value_error(tmp_path, content):
    path = tmp_path / "x.png"
    path.write_bytes(content)
    with pytest.raises(ValueError) as info:
        load_rgb(path)
    message = str(info.value)
    assert message.startswith(f"cannot read image {path}: ")
    assert message.endswith("; give a PNG or JPEG file")
    assert "\n" not in message


def test_directory_is_not_an_image(tmp_path):
    with pytest.raises(ValueError, match="cannot read image"):
        load_rgb(tmp_path)


def test_truncated_png(tmp_path):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(tmp_path / "full.png")
    data = (tmp_path / "full.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"cannot read image .*cut\.png: .*; give a PNG or JPEG file"):
        load_rgb(tmp_path / "cut.png")


@pytest.mark.parametrize("side", [4, 6])  # 16 pixels: Pillow only warns; 36 > 2 x 10: Pillow errors
def test_decompression_bomb_is_refused(tmp_path, monkeypatch, side):
    Image.fromarray(np.zeros((side, side, 3), np.uint8)).save(tmp_path / "bomb.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10)
    with pytest.raises(ValueError, match=r"^image .*bomb\.png is too large to read safely .*resize it below 10 pixels$"):
        load_rgb(tmp_path / "bomb.png")


@pytest.mark.parametrize(
    "image",
    [
        RGB,
        RGB.astype(np.float32) / 255.0,
        torch.from_numpy(RGB).permute(2, 0, 1).float() / 255.0,
        torch.from_numpy(RGB).permute(2, 0, 1).float().unsqueeze(0) / 255.0,
    ],
    ids=["uint8", "float", "tensor3", "tensor4"],
)
def test_save_round_trip(tmp_path, image):
    path = tmp_path / "deep" / "dir" / "out.png"
    save_rgb(path, image)
    np.testing.assert_array_equal(load_rgb(path), RGB)
    assert sorted(p.name for p in path.parent.iterdir()) == ["out.png"]  # no .tmp- leftovers


def test_save_clips_out_of_range_floats(tmp_path):
    save_rgb(tmp_path / "c.png", np.array([[[-0.5, 0.5, 1.5]]], np.float32))
    np.testing.assert_array_equal(load_rgb(tmp_path / "c.png"), [[[0, 128, 255]]])


def test_save_refuses_batches_and_bad_shapes(tmp_path):
    with pytest.raises(ValueError, match="batch of 2"):
        save_rgb(tmp_path / "b.png", torch.zeros(2, 3, 4, 4))
    with pytest.raises(ValueError, match=r"shape \(4, 4\)"):
        save_rgb(tmp_path / "b.png", np.zeros((4, 4), np.uint8))
    assert list(tmp_path.iterdir()) == []


def test_tensor_round_trip():
    t = to_tensor(RGB)
    assert t.shape == (1, 3, 2, 2) and t.dtype == torch.float32
    assert float(t.min()) >= 0.0 and float(t.max()) <= 1.0
    assert t[0, :, 0, 0].tolist() == [1.0, 0.0, 0.0]
    np.testing.assert_array_equal(to_uint8(t), RGB)
    np.testing.assert_array_equal(to_uint8(t[0]), RGB)


@pytest.mark.parametrize(
    "h, w, longest, expected",
    [
        (320, 512, 256, (160, 256)),
        (512, 320, 256, (256, 160)),
        (7, 5, 3, (3, 2)),
        (3, 1000, 10, (1, 10)),  # the short side never drops to 0
        (1, 1, 5, (5, 5)),
        (33, 17, 33, (33, 17)),
        (33, 17, None, (33, 17)),
        (101, 99, 77, (77, 75)),  # 75.47 rounds down, no multiple-of-32 rule
    ],
)
def test_fit_size(h, w, longest, expected):
    assert fit_size(h, w, longest) == expected


@pytest.mark.parametrize("longest", [0, -3])
def test_fit_size_refuses_non_positive(longest):
    with pytest.raises(ValueError, match="size must be a positive number of pixels"):
        fit_size(10, 10, longest)


def test_resize_labels_is_nearest():
    labels = np.array([[0, 1], [2, 3]], np.uint8)
    up = resize_labels(labels, (4, 6))
    assert up.dtype == np.uint8
    np.testing.assert_array_equal(up, np.repeat(np.repeat(labels, 2, axis=0), 3, axis=1))
    odd = resize_labels(np.arange(35, dtype=np.uint8).reshape(5, 7), (3, 2))
    np.testing.assert_array_equal(odd, [[1, 5], [15, 19], [29, 33]])  # pixel under each centre


def test_resize_rgb_keeps_dtype_and_flat_colours():
    flat = np.full((9, 13, 3), (200, 10, 50), np.uint8)
    small = resize_rgb(flat, (4, 5))
    assert small.shape == (4, 5, 3) and small.dtype == np.uint8
    np.testing.assert_array_equal(small, np.full((4, 5, 3), (200, 10, 50)))
    as_float = resize_rgb(flat.astype(np.float32) / 255.0, (20, 3))
    assert as_float.shape == (20, 3, 3) and as_float.dtype == np.float32
    np.testing.assert_allclose(as_float, np.broadcast_to([200 / 255, 10 / 255, 50 / 255], (20, 3, 3)), atol=1e-5)


def test_resize_rgb_antialiases_when_shrinking():
    stripes = np.zeros((8, 64, 3), np.uint8)
    stripes[:, ::2] = 255  # one-pixel stripes average to mid grey, nearest would alias
    small = resize_rgb(stripes, (2, 16))
    assert np.all(np.abs(small[:, 2:-2].astype(int) - 128) <= 3)  # Lanczos rings at the edges
