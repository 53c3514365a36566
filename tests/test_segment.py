"""``doodle map``: semantic maps segmented from a painting alone."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image
from sklearn.metrics import adjusted_rand_score

import maskgen
from maskgen.components import count_components
from doodle.cli import main
from doodle.maps import segment
from doodle.maps.semantic import load_style


def two_textures(h: int = 48, w: int = 96, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A wide painting: stripes on top, a smooth area below, both of one mean colour.

    Position alone would split it left from right (the long side), colour
    alone finds nothing: only texture tells the halves apart.
    """
    rng = np.random.default_rng(seed)
    yy = np.mgrid[0:h, 0:w][0]
    truth = (yy >= h // 2).astype(np.uint8)
    stripes = np.where(yy % 4 < 2, 70, 190)
    grey = np.where(truth == 0, stripes, 130) + rng.normal(0, 4, (h, w))
    rgb = np.clip(grey[..., None] * np.array([1.0, 0.9, 0.7]), 0, 255).astype(np.uint8)
    return rgb, truth


def test_two_textures_of_one_mean_colour_are_split_by_texture():
    rgb, truth = two_textures()
    assert np.abs(rgb[truth == 0].mean(0) - rgb[truth == 1].mean(0)).max() < 2  # the same mean colour
    found = segment.segment_painting(rgb, 2)
    assert found.k == 2 and found.labels.shape == truth.shape
    assert adjusted_rand_score(truth.ravel(), found.labels.ravel()) > 0.7


def test_superpixels_follow_edges_and_their_features_are_weighted_means():
    rgb, truth = two_textures()
    pieces = segment.superpixels(rgb)
    inside = np.bincount(pieces.ravel(), truth.ravel()) / np.bincount(pieces.ravel())
    assert set(inside.tolist()) <= {0.0, 1.0}  # no superpixel straddles the two halves
    assert 2 < pieces.max() + 1 < rgb.shape[0] * rgb.shape[1] / segment.MIN_SUPERPIXEL + 1
    features, counts = segment.superpixel_features(segment.pixel_features(rgb), pieces)
    assert features.shape == (pieces.max() + 1, 3 + 6 + 2) and counts.sum() == pieces.size
    np.testing.assert_allclose(np.average(features, axis=0, weights=counts), 0, atol=1e-3)


def test_same_seed_same_map():
    rgb, _ = two_textures(seed=1)
    rgb[:, :30] = rgb[:, :30] // 2  # a darker third region on the left
    a, b = segment.segment_painting(rgb, 3, seed=5), segment.segment_painting(rgb, 3, seed=5)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert a.k == b.k == 3 and a.scores == {}


def test_pieces_stay_few_on_a_noisy_painting():
    """Speckled colour noise over four blocks: at most a few pieces per region, not hundreds."""
    rng = np.random.default_rng(0)
    blocks = np.array([[30, 90, 160], [200, 60, 40], [90, 170, 60], [230, 220, 120]], float)
    truth = np.zeros((64, 96), np.uint8)
    truth[32:, :48], truth[:32, 48:], truth[32:, 48:] = 1, 2, 3
    rgb = np.clip(blocks[truth] + rng.normal(0, 40, (64, 96, 3)), 0, 255).astype(np.uint8)
    found = segment.segment_painting(rgb, 4, seed=2)
    assert adjusted_rand_score(truth.ravel(), found.labels.ravel()) > 0.8
    assert count_components(found.labels, found.k).sum() <= 3 * found.k


def test_a_painting_with_fewer_superpixels_than_regions_is_clustered_by_pixel():
    rgb = np.zeros((8, 8, 3), np.uint8)
    rgb[:, 4:] = 200
    rgb[0, 0] = 100  # one pixel: less than a superpixel's minimum size
    assert segment.superpixels(rgb).max() + 1 < 3
    found = segment.segment_painting(rgb, 3)
    assert found.clustered == 3 and found.labels.shape == (8, 8)


@pytest.mark.slow
def test_automatic_choice_scores_three_to_eight_regions_the_same_for_a_seed():
    rgb, _ = two_textures(32, 64)
    rgb[:, :20] = rgb[:, :20] // 2
    found, again = segment.segment_painting(rgb, seed=3), segment.segment_painting(rgb, seed=3)
    assert sorted(found.scores) == list(segment.AUTO_REGIONS)
    best = max(found.scores.values())  # the largest count near the best score
    assert found.clustered == max(k for k, v in found.scores.items() if v >= best - segment.SILHOUETTE_TOLERANCE)
    assert 1 <= found.k <= found.clustered
    np.testing.assert_array_equal(found.labels, again.labels)
    assert found.scores == again.scores


def test_regions_are_numbered_by_area_and_solid():
    labels = np.zeros((64, 64), np.uint8)
    labels[40:] = 1
    labels[10:14, 10:14] = 2  # a speck: joins its surroundings
    labels[20:30, 50:60] = 2  # region 2's largest piece: kept, however small
    labels[5, 40] = 3  # a single pixel: the majority filter removes the region
    solid = segment.solid_regions(labels, 4)
    assert np.bincount(solid.ravel()).tolist() == sorted(np.bincount(solid.ravel()).tolist(), reverse=True)
    assert solid.max() == 2
    assert (solid[12, 12] == solid[5, 5]) and solid[25, 55] != solid[5, 5]


def test_map_file_is_a_palette_png_that_training_reads_in_the_same_order(tmp_path):
    rgb, _ = two_textures()
    Image.fromarray(rgb).save(tmp_path / "painting.png")
    found = segment.map_painting(tmp_path / "painting.png", tmp_path / "maps" / "map.png", 2,
                                 preview=tmp_path / "preview.png")
    labels = maskgen.read_label_png(tmp_path / "maps" / "map.png")
    np.testing.assert_array_equal(labels, found.labels)
    style = load_style(tmp_path / "painting.png", tmp_path / "maps" / "map.png", log=lambda _m: None)
    np.testing.assert_array_equal(style.palette.colours, maskgen.PALETTE[:2])  # region i of the map is region i
    np.testing.assert_array_equal(style.labels, labels)
    preview = np.asarray(Image.open(tmp_path / "preview.png"))
    assert preview.shape == rgb.shape
    changed = (preview != rgb).any(axis=2)
    assert 0 < changed.mean() < 0.2  # only the borders are drawn


def test_draw_borders_outlines_each_region_in_its_palette_colour():
    labels = np.zeros((20, 20), np.uint8)
    labels[:, 10:] = 1
    out = segment.draw_borders(np.full((20, 20, 3), 128, np.uint8), labels, width=1)
    assert out[5, 9].tolist() == maskgen.PALETTE[0].tolist() and out[5, 10].tolist() == maskgen.PALETTE[1].tolist()
    assert out[5, 8].tolist() == [0, 0, 0] and out[5, 0].tolist() == [128, 128, 128]


def run(*args):
    return CliRunner().invoke(main, ["map", *map(str, args)])


def test_cli(tmp_path):
    rgb, _ = two_textures()
    Image.fromarray(rgb).save(tmp_path / "painting.png")
    result = run(tmp_path / "painting.png", "-o", tmp_path / "map.png", "--regions", 2, "--preview", tmp_path / "p.png")
    assert result.exit_code == 0, result.output
    assert f"wrote {tmp_path / 'map.png'} (96x48): 2 regions: 0 #e6194b " in result.output
    assert ", 1 #3cb44b " in result.output
    assert (tmp_path / "p.png").exists()


@pytest.mark.parametrize("setup, args, expected", [
    ("text", ["--regions", 3], "cannot read image"),
    ("png", ["--regions", 1], "--regions must be between 2 and 20"),
    ("png", ["--regions", 21], "--regions must be between 2 and 20"),
    ("png", ["--regions", 3, "-o", "map.jpg"], "give a .png name"),
    ("missing", [], "image not found"),
    ("flat", ["--regions", 3], "has 1 distinct colour(s), too few for 3 regions"),
])
def test_cli_bad_inputs_give_one_line_errors(tmp_path, setup, args, expected):
    painting = tmp_path / "painting.png"
    if setup == "text":
        painting.write_text("not an image")
    elif setup == "png":
        Image.fromarray(two_textures()[0]).save(painting)
    elif setup == "flat":
        Image.fromarray(np.full((8, 8, 3), 9, np.uint8)).save(painting)
    out = ["-o", tmp_path / "map.png"] if "-o" not in args else []
    result = run(painting, *out, *[tmp_path / a if a == "map.jpg" else a for a in args])
    assert result.exit_code != 0
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and expected in lines[0], result.output
    assert not (tmp_path / "map.png").exists()
