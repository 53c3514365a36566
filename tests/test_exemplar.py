import importlib.util
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
EXEMPLAR = ROOT / "datasets" / "exemplar"
FILES = ("style.png", "style_map.png", "target_1.png", "target_2.png")


def load_script():
    spec = importlib.util.spec_from_file_location("make_exemplar", ROOT / "scripts" / "make_exemplar.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def colours_of(path: Path) -> set[tuple[int, ...]]:
    rgb = np.asarray(Image.open(path).convert("RGB")).reshape(-1, 3)
    return {tuple(c) for c in np.unique(rgb, axis=0).tolist()}


def test_committed_files_exist_and_are_small():
    for name in FILES:
        path = EXEMPLAR / name
        assert path.is_file(), f"{path} missing; run python scripts/make_exemplar.py"
        assert path.stat().st_size < 300_000


def test_style_and_map_align():
    style, style_map = Image.open(EXEMPLAR / "style.png"), Image.open(EXEMPLAR / "style_map.png")
    assert style.mode == style_map.mode == "RGB"
    assert style.size == style_map.size == (384, 256)


def test_map_has_four_distinct_non_black_colours():
    colours = colours_of(EXEMPLAR / "style_map.png")
    assert colours == {tuple(c) for c in load_script().MAP_COLOURS.tolist()}
    assert len(colours) == 4
    assert (0, 0, 0) not in colours


def test_doodle_finds_the_four_regions_on_its_own():
    from doodle.maps.palette import fit_palette

    palette, _ = fit_palette(np.asarray(Image.open(EXEMPLAR / "style_map.png").convert("RGB")))
    assert {tuple(c) for c in palette.colours.tolist()} == colours_of(EXEMPLAR / "style_map.png")


@pytest.mark.parametrize("name", ["target_1.png", "target_2.png"])
def test_targets_use_exactly_the_map_colours(name):
    assert colours_of(EXEMPLAR / name) == colours_of(EXEMPLAR / "style_map.png")


def test_style_regions_differ_in_colour():
    # Each region's mean painted colour is far from every other's: the textures are distinguishable.
    style = np.asarray(Image.open(EXEMPLAR / "style.png"), dtype=np.float64)
    style_map = np.asarray(Image.open(EXEMPLAR / "style_map.png")).reshape(-1, 3)
    means = [style.reshape(-1, 3)[(style_map == c).all(1)].mean(0) for c in load_script().MAP_COLOURS]
    distances = [np.linalg.norm(a - b) for i, a in enumerate(means) for b in means[i + 1 :]]
    assert min(distances) > 40


@pytest.mark.slow
def test_regeneration_reproduces_committed_pixels(tmp_path):
    # About 2 s. Decoded pixels rather than bytes, so that another zlib build cannot fail it.
    paths = load_script().make_exemplar(tmp_path, seed=0)
    assert [p.name for p in paths] == list(FILES)
    for name in FILES:
        np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / name)), np.asarray(Image.open(EXEMPLAR / name)))
    assert not list(tmp_path.glob(".tmp-*"))
