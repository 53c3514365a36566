"""Quality evaluation: the judge's figures, and training really raising region fidelity on the exemplar."""

from pathlib import Path

import numpy as np
import pytest
import torch

from doodle.evaluate import StyleJudge, median_seconds
from doodle.generator import DoodleGenerator
from doodle.render import render_labels
from doodle.semantic import StyleExemplar, load_style, load_target_map
from doodle.train import TrainConfig, train
from doodle.weights import load_loss_net

EXEMPLAR = Path(__file__).resolve().parents[1] / "datasets" / "exemplar"
LAYERS = ("relu1_1", "relu2_1", "relu3_1")
SIZE = 48
GENERATOR = {"width": 8, "scales": 3}
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
    with pytest.raises(ValueError, match="crop side 17 px does not fit the 16x16 style; use a side from 1 to 16"):
        judge.painting_crops(17, count=1)


def test_median_seconds_counts_only_the_timed_calls():
    calls = []
    assert median_seconds(lambda: calls.append(1), repeats=3, warmup=2) >= 0.0
    assert len(calls) == 5
    with pytest.raises(ValueError, match="repeats >= 1"):
        median_seconds(lambda: None, repeats=0)


def test_training_raises_region_fidelity_on_the_exemplar(tiny_net, tmp_path):
    # Tiny but real: 30 steps of 48 px masks with random VGG weights (about 5 s on
    # 2 cores) take fidelity from noise level (~0.11) to ~0.7 on the held-out target.
    config = TrainConfig(
        style=str(EXEMPLAR / "style.png"), style_map=str(EXEMPLAR / "style_map.png"), out=str(tmp_path / "run"),
        regions=4, size=SIZE, batch=2, steps=30, lr=0.05, style_layers=LAYERS, loss_net="random", precision="fp32",
        workers=0, sample_every=1000, checkpoint_every=1000, log_every=1000, samples=1, seed=0, generator=GENERATOR,
    )
    torch.manual_seed(config.seed)
    untrained = DoodleGenerator.from_config({**GENERATOR, "k": 4}).eval()
    trained = train(config, progress=False, **QUIET).eval()

    style = load_style(config.style, config.style_map, regions=4, size=SIZE, **QUIET)
    judge = StyleJudge(tiny_net, style, layers=LAYERS, blur=2, border=2)
    labels = load_target_map(EXEMPLAR / "target_1.png", style.palette, size=SIZE)

    def scores(model: DoodleGenerator) -> tuple[float, float]:
        images = [render_labels(model, labels, seed=s, precision="fp32")[0].permute(1, 2, 0).numpy() for s in (0, 1)]
        return (float(np.mean([judge.fidelity(image, labels) for image in images])),
                float(np.mean([judge.gram_loss(image, labels) for image in images])))

    (fidelity_before, gram_before), (fidelity_after, gram_after) = scores(untrained), scores(trained)
    assert fidelity_before < judge.scale(labels)["noise"] + 0.1  # an untrained generator paints no region right
    assert fidelity_after > fidelity_before + 0.3
    # Colours are placed within a few steps; the textures need the whole run.
    assert gram_after < 0.5 * gram_before
