"""Legends: one row per region with its colours, index, share and where it is in the painting."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from doodle.cli import main
from doodle.generators.texture import DoodleGenerator
from doodle.maps.legend import ROW, legend_image
from doodle.maps.palette import Palette
from doodle.training.checkpoint import save_checkpoint

BLUE, RED_MAJOR, RED_MINOR = (30, 60, 160), (255, 51, 31), (192, 0, 0)


@pytest.fixture
def style(tmp_path):
    """A painting whose top is blue and bottom red, and its map with the bottom in two reds."""
    painting = np.zeros((40, 60, 3), np.uint8)
    painting[:24] = (20, 40, 200)
    painting[24:] = (200, 30, 30)
    colours = np.zeros((40, 60, 3), np.uint8)
    colours[:24] = BLUE
    colours[24:] = RED_MAJOR
    colours[32:, 40:] = RED_MINOR
    Image.fromarray(painting).save(tmp_path / "painting.png")
    Image.fromarray(colours).save(tmp_path / "map.png")
    return tmp_path / "painting.png", tmp_path / "map.png"


def test_one_row_per_region_with_its_swatches_and_crop():
    labels = np.zeros((40, 60), np.uint8)
    labels[24:] = 1
    painting = np.where(labels[..., None] == 0, np.array([20, 40, 200], np.uint8), np.array([200, 30, 30], np.uint8))
    palette = Palette([[BLUE], [RED_MAJOR, RED_MINOR]])
    legend = legend_image(painting.astype(np.uint8), labels, palette)
    gap = 4
    assert legend.shape[0] == 2 * ROW + gap and legend.dtype == np.float32
    rows = [np.rint(legend[i * (ROW + gap) : i * (ROW + gap) + ROW] * 255).astype(int) for i in range(2)]
    colours = [{tuple(c) for c in row.reshape(-1, 3)} for row in rows]
    assert BLUE in colours[0] and RED_MINOR not in colours[0]
    assert {RED_MAJOR, RED_MINOR} <= colours[1]  # the merged colour is shown too
    # The crop of region 1 is the red of the painting (the densest window lies inside the region).
    assert (200, 30, 30) in colours[1] and (200, 30, 30) not in colours[0]


def test_legend_refuses_labels_that_do_not_fit():
    with pytest.raises(ValueError, match="labels use region 2 but the palette has 2 regions"):
        legend_image(np.zeros((4, 4, 3), np.uint8), np.full((4, 4), 2, np.uint8), Palette([[BLUE], [RED_MAJOR]]))
    with pytest.raises(ValueError, match="do not fit a painting"):
        legend_image(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 5), np.uint8), Palette([[BLUE]]))


def run(*args):
    return CliRunner().invoke(main, ["legend", *map(str, args)])


def test_cli_for_a_style_map(style, tmp_path):
    painting, style_map = style
    result = run(style_map, "--style", painting, "--regions", 2, "-o", tmp_path / "legend.png")
    assert result.exit_code == 0, result.output
    assert "2 regions, palette 0 #1e3ca0, 1 #ff331f+#c00000" in result.output
    assert Image.open(tmp_path / "legend.png").size[1] == 2 * ROW + 4


def test_cli_for_a_checkpoint_uses_its_palette_and_its_style(style, tmp_path):
    painting, style_map = style
    model = DoodleGenerator(k=2, scales=2, width=4)
    save_checkpoint(tmp_path / "checkpoint.pt", {
        "model": model.state_dict(), "step": 1, "palette": Palette([[BLUE], [RED_MAJOR, RED_MINOR]]),
        "config": {"k": 2, "style": str(painting), "style_map": str(style_map), "generator": model.to_config()},
    })
    result = run(tmp_path / "checkpoint.pt", "-o", tmp_path / "legend.png")
    assert result.exit_code == 0, result.output
    assert "palette 0 #1e3ca0, 1 #ff331f+#c00000" in result.output
    assert Image.open(tmp_path / "legend.png").size[1] == 2 * ROW + 4


@pytest.mark.parametrize("args, expected", [
    (["MAP"], "is a style map: give the painting it was drawn over with --style"),
    (["nope.pt"], "checkpoint not found"),
    (["MAP", "--style", "nope.png"], "image not found"),
])
def test_cli_errors_are_one_line(style, tmp_path, args, expected):
    _, style_map = style
    result = run(*[style_map if a == "MAP" else a for a in args], "-o", tmp_path / "legend.png")
    assert result.exit_code != 0
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and expected in lines[0], result.output
