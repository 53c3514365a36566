from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from doodle.eval.fidelity import fidelity_scale, fit_region_colour_model, interior_mask, region_fidelity

EXEMPLAR = Path(__file__).resolve().parents[1] / "datasets" / "exemplar"

RED, BLUE, GREEN, GREY = (0.9, 0.1, 0.1), (0.1, 0.1, 0.9), (0.1, 0.8, 0.1), (0.5, 0.5, 0.5)


def paint_flat(labels: np.ndarray, colours) -> np.ndarray:
    return np.asarray(colours, dtype=np.float64)[labels]


def halves(h: int = 12, w: int = 16) -> np.ndarray:
    labels = np.zeros((h, w), np.uint8)
    labels[:, w // 2 :] = 1
    return labels


def quadrants(n: int = 32) -> np.ndarray:
    labels = np.zeros((n, n), np.uint8)
    labels[: n // 2, n // 2 :] = 1
    labels[n // 2 :, : n // 2] = 2
    labels[n // 2 :, n // 2 :] = 3
    return labels


def test_fit_means_are_region_colours():
    labels = halves()
    model = fit_region_colour_model(paint_flat(labels, [RED, BLUE]), labels, k=2, blur=0)
    np.testing.assert_allclose(model.means, [RED, BLUE])
    assert model.covariances.shape == (2, 3, 3)
    assert model.present.tolist() == [True, True]
    # Flat regions have zero variance; the floor keeps the covariances invertible.
    assert np.all(np.linalg.eigvalsh(model.covariances) > 0)


def test_two_flat_colours_classified_perfectly():
    labels = halves()
    style = paint_flat(labels, [RED, BLUE])
    model = fit_region_colour_model(style, labels, k=2, blur=2)
    np.testing.assert_array_equal(model.classify(style), labels)
    assert model.classify(style).dtype == np.uint8
    assert region_fidelity(style, labels, model, border=2) == 1.0


def test_swapped_colours_score_zero():
    labels = halves()
    model = fit_region_colour_model(paint_flat(labels, [RED, BLUE]), labels, k=2, blur=2)
    assert region_fidelity(paint_flat(labels, [BLUE, RED]), labels, model, border=2) == 0.0


def test_uniform_noise_scores_about_chance():
    labels = quadrants()
    rng = np.random.default_rng(0)
    style = np.clip(paint_flat(labels, [RED, BLUE, GREEN, GREY]) + rng.normal(0, 0.05, (32, 32, 3)), 0, 1)
    model = fit_region_colour_model(style, labels, k=4, blur=2)
    noise = rng.random((32, 32, 3))
    assert abs(region_fidelity(noise, labels, model, border=2) - 0.25) < 0.1
    assert region_fidelity(style, labels, model, border=2) == 1.0


def test_interior_mask_excludes_border_band_but_not_image_edge():
    labels = np.array([[0, 0, 0, 0, 1, 1, 1, 1]] * 3)
    expected = np.array([[1, 1, 0, 0, 0, 0, 1, 1]] * 3, dtype=bool)
    np.testing.assert_array_equal(interior_mask(labels, border=2), expected)
    assert interior_mask(labels, border=0).all()


def test_disagreement_near_borders_is_ignored():
    labels = halves(12, 24)
    model = fit_region_colour_model(paint_flat(labels, [RED, BLUE]), labels, k=2, blur=0)
    # The painted border is 2 pixels off the map's border.
    shifted = paint_flat(np.roll(labels, 2, axis=1) * (np.arange(24) >= 2), [RED, BLUE])
    assert region_fidelity(shifted, labels, model, border=0) < 1.0
    assert region_fidelity(shifted, labels, model, border=2) == 1.0


def test_map_that_is_all_border_raises():
    labels = halves(12, 6)  # every pixel is within 3 pixels of the middle border
    model = fit_region_colour_model(paint_flat(labels, [RED, BLUE]), labels, k=2, blur=0)
    with pytest.raises(ValueError, match=r"^no pixel of the 6x12 target map is farther than border=3 pixels from a region border; use a smaller border$"):
        region_fidelity(paint_flat(labels, [RED, BLUE]), labels, model, border=3)
    assert region_fidelity(paint_flat(labels, [RED, BLUE]), labels, model, border=2) == 1.0


def test_regions_absent_from_style_are_never_predicted_and_absent_from_map_ignored():
    labels = halves()
    model = fit_region_colour_model(paint_flat(labels, [RED, BLUE]), labels, k=3, blur=0)
    assert model.present.tolist() == [True, True, False]
    assert model.classify(np.full((4, 4, 3), 0.5)).max() <= 1
    target = np.zeros((6, 6), np.uint8)  # only region 0 drawn
    assert region_fidelity(paint_flat(target, [RED, BLUE, GREEN]), target, model, border=1) == 1.0


def test_bad_arguments_raise_one_line_value_errors():
    labels = halves()
    style = paint_flat(labels, [RED, BLUE])
    with pytest.raises(ValueError, match=r"^labels holds labels 0\.\.1 but k=1; labels must be in 0\.\.0$"):
        fit_region_colour_model(style, labels, k=1)
    with pytest.raises(ValueError, match=r"^style must be an RGB array of shape \(H, W, 3\), got shape \(12, 16\)$"):
        fit_region_colour_model(style[..., 0], labels, k=2)
    model = fit_region_colour_model(style, labels, k=2)
    with pytest.raises(ValueError, match=r"^target_labels has shape \(12, 8\) but the image is \(12, 16\)"):
        region_fidelity(style, labels[:, :8], model)
    with pytest.raises(ValueError, match=r"^border must be >= 0, got -1$"):
        region_fidelity(style, labels, model, border=-1)


def load_labels(path: Path, colours: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    rgb = np.asarray(Image.open(path).convert("RGB")).reshape(-1, 3)
    if colours is None:
        colours = np.unique(rgb, axis=0)
    labels = np.argmax((rgb[:, None, :] == colours[None]).all(-1), axis=1)
    return labels.reshape(Image.open(path).size[::-1]).astype(np.uint8), colours


def test_exemplar_style_scores_high_and_noise_low():
    style = np.asarray(Image.open(EXEMPLAR / "style.png").convert("RGB"), dtype=np.float64) / 255
    labels, colours = load_labels(EXEMPLAR / "style_map.png")
    model = fit_region_colour_model(style, labels, k=len(colours))
    for target in ("style_map.png", "target_1.png", "target_2.png"):
        target_labels, _ = load_labels(EXEMPLAR / target, colours)
        scale = fidelity_scale(style, labels, target_labels, model)
        assert scale["style"] > 0.8
        assert scale["noise"] < 0.4
