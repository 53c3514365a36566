"""Quality evaluation: the judge's figures, and training really raising region fidelity on the exemplar."""

from pathlib import Path

import numpy as np
import pytest
import torch

from doodle.eval.evaluate import RATIO_MEASURES, RENDERS, StyleJudge, compare_with_optimize, summarize
from doodle.generators.registry import DEFAULT_ARCH, new_generator
from doodle.images import to_array
from doodle.lossnet.weights import load_loss_net
from doodle.maps.semantic import StyleExemplar, load_style, load_target_map
from doodle.painting.optimize import OptimizeSettings
from doodle.painting.render import render_labels
from doodle.training.config import TrainConfig
from doodle.training.train import train

EXEMPLAR = Path(__file__).resolve().parents[1] / "datasets" / "exemplar"
LAYERS = ("relu1_1", "relu2_1", "relu3_1")
SIZE = 48
# The default architecture, small: what a user trains, at test size.
GENERATOR = {"arch": DEFAULT_ARCH, "width": 8, "blocks": 2}
QUIET = {"log": lambda _msg: None}


def halves_style() -> StyleExemplar:
    labels = np.zeros((16, 16), np.uint8)
    labels[:, 8:] = 1
    image = np.where(labels[..., None] == 0, [0.9, 0.2, 0.1], [0.1, 0.3, 0.8]).astype(np.float32)
    return StyleExemplar(image, labels, np.array([[255, 0, 0], [0, 0, 255]], np.uint8))


@pytest.fixture(scope="module")
def tiny_net():
    torch.set_num_threads(2)
    return load_loss_net("random", LAYERS, seed=0, **QUIET)


def test_judge_scores_the_style_perfectly_on_its_own_map(tiny_net):
    style = halves_style()
    judge = StyleJudge(tiny_net, style, layers=LAYERS, blur=1, border=1)
    assert judge.gram_loss(style.image, style.labels) == pytest.approx(0.0, abs=1e-6)
    assert judge.fidelity(style.image, style.labels) == 1.0
    swapped = 1 - style.labels
    assert judge.fidelity(style.image, swapped) == 0.0
    assert judge.gram_loss(style.image, swapped) > 0.01
    assert judge.scale(style.labels) == {"noise": pytest.approx(judge.fidelity(
        np.random.default_rng(0).random((16, 16, 3)), style.labels)), "style": 1.0}


def test_judge_refuses_an_image_and_map_of_different_sizes(tiny_net):
    style = halves_style()
    judge = StyleJudge(tiny_net, style, layers=LAYERS, blur=1, border=1)
    with pytest.raises(ValueError, match=r"image is \(16, 15\) but its map is \(16, 16\)"):
        judge.gram_loss(style.image[:, :15], style.labels)


def test_painting_crops_score_near_zero_on_a_stationary_style_and_are_seeded(tiny_net):
    # Every crop of two flat halves holds the same colours per region as the whole:
    # only borders (zero padding, blurred masks; large at 12 px) keep the loss from 0.
    style = halves_style()
    judge = StyleJudge(tiny_net, style, layers=LAYERS, blur=1, border=1)
    crops = judge.painting_crops(12, count=4, seed=3)
    noise = judge.gram_loss(np.random.default_rng(0).random((12, 12, 3)).astype(np.float32), style.labels[:12, :12])
    assert len(crops) == 4 and max(crops) < 0.3 * noise
    assert judge.painting_crops(12, count=4, seed=3) == crops
    assert judge.painting_crops(16, count=1) == [pytest.approx(0.0, abs=1e-6)]  # the whole style
    # The same crops judged by the relative distance: 0 for the whole style, small for crops, seeded.
    assert judge.painting_crops(16, count=1, measure="style_distance") == [pytest.approx(0.0, abs=1e-6)]
    distances = judge.painting_crops(12, count=4, seed=3, measure="style_distance")
    noisy = judge.style_distance(np.random.default_rng(0).random((12, 12, 3)).astype(np.float32), style.labels[:12, :12])
    assert 0 < max(distances) < 0.3 * noisy and judge.painting_crops(12, 4, 3, "style_distance") == distances
    with pytest.raises(ValueError, match="measure must be 'gram' or 'style_distance', got 'fidelity'"):
        judge.painting_crops(12, count=1, measure="fidelity")
    with pytest.raises(ValueError, match="crop side 17 px does not fit the 16x16 style; use a side from 1 to 16"):
        judge.painting_crops(17, count=1)


def test_style_distance_is_zero_on_the_style_and_relative_per_layer(tiny_net):
    labels = np.zeros((16, 16), np.uint8); labels[:, 8:] = 1
    rng = np.random.default_rng(0)
    image = np.where(labels[..., None] == 0, 0.2, 0.8) + 0.1 * rng.random((16, 16, 3))
    style = StyleExemplar(image.astype(np.float32), labels, np.array([[0, 0, 0], [255, 255, 255]], np.uint8))
    judge = StyleJudge(tiny_net, style, layers=["relu1_1", "relu2_1"], blur=1, border=1)
    assert judge.style_distance(style.image, labels) == pytest.approx(0.0, abs=1e-6)
    black = np.zeros_like(style.image)
    per_layer = []
    for layer in ("relu1_1", "relu2_1"):
        alone = StyleJudge(tiny_net, style, layers=[layer], blur=1, border=1)
        target = getattr(alone.loss_fn, f"target_{layer}")
        per_layer.append(alone.gram_loss(black, labels) / float(target.pow(2).sum()))
    assert judge.style_distance(black, labels) == pytest.approx(sum(per_layer), rel=1e-5)
    noisy = judge.style_distance(style.image + 0.02 * rng.standard_normal(image.shape).astype(np.float32), labels)
    assert 0 < noisy < 0.1 * judge.style_distance(black, labels)


def test_compare_with_optimize_paints_three_ways_and_judges_all(tiny_net):
    style = halves_style()
    judge = StyleJudge(tiny_net, style, layers=["relu1_1", "relu2_1"], blur=1, border=1)
    model = new_generator({**GENERATOR, "k": 2, "width": 4, "blocks": 1}).eval()
    labels = style.labels[:, ::-1].copy()  # the halves swapped
    row = compare_with_optimize(judge, model, labels, OptimizeSettings(iterations=5, layers=["relu1_1", "relu2_1"]),
                                precision="fp32")
    assert row["generated"].shape == row["optimized"].shape == row["optimized_relative"].shape == (16, 16, 3)
    assert not np.array_equal(row["optimized"], row["optimized_relative"])  # two losses, two pictures
    assert row["gram_optimize"] == pytest.approx(judge.gram_loss(row["optimized"], labels))
    assert row["patch_distance_optimize_relative"] == pytest.approx(
        judge.patch_distance(row["optimized_relative"], labels))
    for measure in RATIO_MEASURES:
        for painter in ("generator", "optimize", "optimize_relative"):
            assert np.isfinite(row[f"{measure}_{painter}"])
    assert row["gram_ratio"] == pytest.approx(row["gram_generator"] / row["gram_optimize"])
    assert row["style_distance_vs_relative_ratio"] == pytest.approx(
        row["style_distance_generator"] / row["style_distance_optimize_relative"])
    assert len(row["fidelity_by_region_generator"]) == 2
    assert row["gram_optimize"] < row["gram_generator"]  # 5 L-BFGS iterations beat an untrained generator
    assert row["optimize_iterations_to_match"] in (1, 2, 3, 4, 5)
    # The generator is judged by the mean over renders with noise seeds 0, 1, ...; its picture is the first.
    renders = [to_array(render_labels(model, labels, seed=s, precision="fp32")) for s in range(RENDERS)]
    distances = [judge.style_distance(image, labels) for image in renders]
    assert len(set(distances)) == RENDERS and row["style_distance_generator_renders"] == pytest.approx(distances)
    assert row["style_distance_generator"] == pytest.approx(np.mean(distances))
    assert row["patch_distance_generator"] == pytest.approx(np.mean([judge.patch_distance(i, labels) for i in renders]))
    assert np.array_equal(row["generated"], renders[0])
    with pytest.raises(ValueError, match="renders must be >= 1"):
        compare_with_optimize(judge, model, labels, OptimizeSettings(iterations=1), renders=0)


def test_pixel_judges_see_a_fringe_and_a_misplaced_region(tiny_net):
    # A painting of two flat colours with a little grain; the output paints it right but
    # draws a magenta line on the border: fringes there, none inside, patches farther.
    rng = np.random.default_rng(0)
    style = halves_style()
    style = StyleExemplar(np.clip(style.image + 0.03 * rng.standard_normal(style.image.shape), 0, 1).astype(np.float32),
                          style.labels, style.palette)
    judge = StyleJudge(tiny_net, style, layers=LAYERS, blur=1, border=1)
    clean = judge.report(style.image, style.labels)
    assert clean["fringe_border"] == clean["fringe_interior"] == 0.0 and clean["patch_distance"] == 0.0
    fringed = style.image.copy()
    fringed[:, 7:9] = [1.0, 0.0, 1.0]
    report = judge.report(fringed, style.labels)
    assert report["fringe_border"] > 0.25 and report["fringe_interior"] == 0.0
    assert report["patch_distance"] > 1.0
    swapped = judge.report(style.image[:, ::-1].copy(), style.labels)  # each region painted like the other
    assert swapped["fringe_border"] == 0.0  # the painting's own colours, only misplaced:
    assert swapped["fidelity_by_region"] == [0.0, 0.0] and swapped["patch_distance"] > 3 * report["patch_distance"]


def test_summarize_averages_ratios_geometrically_and_counts_never_matched_maps():
    rows = [{"gram_ratio": 2.0, "fidelity_generator": 0.5, "optimize_iterations_to_match": None},
            {"gram_ratio": 8.0, "fidelity_generator": 1.0, "optimize_iterations_to_match": 3}]
    assert summarize(rows, iterations=10) == {"gram_ratio": 4.0, "fidelity_generator": 0.75,
                                              "optimize_iterations_to_match": 7.0}


@pytest.mark.slow
def test_training_raises_region_fidelity_on_the_exemplar(tiny_net, tmp_path):
    # Tiny but real: 30 steps of 48 px masks with random VGG weights (about 5 s on
    # 2 cores) take fidelity from noise level (~0.11) to ~0.7 on the held-out target.
    config = TrainConfig(
        style=str(EXEMPLAR / "style.png"), style_map=str(EXEMPLAR / "style_map.png"), out=str(tmp_path / "run"),
        regions=4, size=SIZE, batch=2, steps=30, lr=0.05, style_layers=LAYERS, loss_net="random", precision="fp32",
        workers=0, sample_every=1000, checkpoint_every=1000, log_every=1000, samples=1, seed=0, generator=GENERATOR,
    )
    torch.manual_seed(config.seed)
    untrained = new_generator({**GENERATOR, "k": 4}).eval()
    trained = train(config, progress=False, **QUIET).eval()

    style = load_style(config.style, config.style_map, regions=4, size=SIZE, **QUIET)
    judge = StyleJudge(tiny_net, style, layers=LAYERS, blur=2, border=2)
    labels = load_target_map(EXEMPLAR / "target_1.png", style.palette, size=SIZE)

    def scores(model) -> tuple[float, float]:
        images = [render_labels(model, labels, seed=s, precision="fp32")[0].permute(1, 2, 0).numpy() for s in (0, 1)]
        return (float(np.mean([judge.fidelity(image, labels) for image in images])),
                float(np.mean([judge.gram_loss(image, labels) for image in images])))

    (fidelity_before, gram_before), (fidelity_after, gram_after) = scores(untrained), scores(trained)
    assert fidelity_before < judge.scale(labels)["noise"] + 0.1  # an untrained generator paints no region right
    assert fidelity_after > fidelity_before + 0.3
    # Colours are placed within a few steps; the textures need the whole run.
    assert gram_after < 0.5 * gram_before
