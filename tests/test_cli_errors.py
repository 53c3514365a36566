"""Bad input to the doodle commands: one line, non-zero exit, no traceback, nothing written."""

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from doodle.cli import main


def run(args):
    res = CliRunner().invoke(main, [str(a) for a in args])
    assert res.exit_code != 0, res.output
    assert "Traceback" not in res.output
    lines = res.output.strip().splitlines()
    assert lines[-1].startswith("Error: ") and sum(line.startswith("Error") for line in lines) == 1, res.output
    assert len(lines) <= 3, res.output  # at most the notices printed before the failing step
    return res.output


@pytest.fixture
def target(tmp_path):
    labels = np.zeros((30, 30), np.int64)
    labels[:, 15:] = 1
    path = tmp_path / "target.png"
    Image.fromarray(np.array([[255, 0, 0], [0, 255, 0]], np.uint8)[labels]).save(path)
    return path


def optimize(style, style_map, target_map, out, *extra):
    return ["optimize", "--style", style, "--style-map", style_map, "--target-map", target_map, "--size", 32,
            "--iterations", 1, "--loss-net", "random", "-o", out, *extra]


def test_missing_style_file(tiny_style, target, tmp_path):
    _, style_map = tiny_style
    out = run(optimize(tmp_path / "nope.png", style_map, target, tmp_path / "o.png"))
    assert "nope.png" in out and not (tmp_path / "o.png").exists()


def test_non_image_style_map(tiny_style, target, tmp_path):
    style, _ = tiny_style
    bad = tmp_path / "map.png"
    bad.write_text("not an image")
    assert "cannot read image" in run(optimize(style, bad, target, tmp_path / "o.png"))


def test_style_map_with_other_aspect_ratio(tiny_style, target, tmp_path):
    style, _ = tiny_style
    wide = tmp_path / "wide.png"
    Image.fromarray(np.zeros((20, 40, 3), np.uint8) + 200).save(wide)
    assert "aspect ratios differ" in run(optimize(style, wide, target, tmp_path / "o.png"))


def test_target_colours_not_in_palette(tiny_style, tmp_path):
    style, style_map = tiny_style
    odd = tmp_path / "odd.png"
    Image.fromarray(np.full((30, 30, 3), [250, 250, 0], np.uint8)).save(odd)
    out = run(optimize(style, style_map, odd, tmp_path / "o.png"))
    assert "#ff0000" in out and not (tmp_path / "o.png").exists()


def test_size_too_large_for_memory(tiny_style, target, tmp_path):
    style, style_map = tiny_style
    out = run(optimize(style, style_map, target, tmp_path / "o.png", "--size", 200_000))
    assert "GiB but only" in out and "smaller --size" in out


def test_train_size_too_large_for_memory(tiny_style, tmp_path):
    style, style_map = tiny_style
    out = run(["train", "--style", style, "--style-map", style_map, "--size", 100_000, "--out", tmp_path / "r"])
    assert "GiB but only" in out


def test_train_mask_dataset_with_other_k(tiny_style, tmp_path):
    from maskgen.cli import main as maskgen_main

    style, style_map = tiny_style
    res = CliRunner().invoke(maskgen_main, ["generate", str(tmp_path / "m"), "--count", "2", "--size", "32",
                                            "--regions", "5", "--workers", "1"])
    assert res.exit_code == 0, res.output
    out = run(["train", "--style", style, "--style-map", style_map, "--masks", tmp_path / "m", "--size", 32,
               "--loss-net", "random", "--out", tmp_path / "r"])
    assert "K=5" in out and "3 regions" in out


@pytest.mark.parametrize("content", [b"", b"garbage bytes", b"PK\x03\x04 truncated zip"])
def test_render_with_corrupt_checkpoint(target, tmp_path, content):
    ckpt = tmp_path / "checkpoint.pt"
    ckpt.write_bytes(content)
    out = run(["render", "--checkpoint", ckpt, "--map", target, "-o", tmp_path / "out.png"])
    assert "checkpoint" in out and not (tmp_path / "out.png").exists()


def test_an_output_under_a_file_names_the_file(tiny_style, target, tmp_path):
    # Path.mkdir said only "[Errno 17] File exists" (or "[Errno 20] Not a directory"), naming nothing.
    style, style_map = tiny_style
    blocker = tmp_path / "notes.txt"
    blocker.write_text("keep me")
    for out in (blocker / "o.png", blocker / "sub" / "o.png"):
        said = run(optimize(style, style_map, target, out))
        assert said.strip().endswith(f"Error: cannot make the folder {out.parent}: {blocker} is a file; "
                                     "choose another path"), said
    said = run(["train", "--style", style, "--style-map", style_map, "--steps", 1, "--loss-net", "random",
                "--out", blocker / "run"])
    assert f"--out {blocker / 'run'} cannot be a folder: {blocker} is a file" in said
    assert blocker.read_text() == "keep me"
