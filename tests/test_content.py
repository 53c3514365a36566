"""Painting a photo with ``doodle optimize --content``: start, content pull, relative losses, colour, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image
from torch import nn

from doodle.cli import main
from doodle.eval.edges import edge_correlation
from doodle.images import resize_rgb, to_tensor
from doodle.maps.semantic import load_style
from doodle.painting.optimize import OptimizeSettings, optimize_doodle
from doodle.style.color import match_luminance, rgb_to_yiq
from doodle.style.loss import RegionStyleLoss

# Shallow layers keep the tiny tests fast and give them a few feature pixels at 32 px.
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1")
CONTENT_LAYERS = ("relu2_1",)


def make_photo(h: int, w: int) -> np.ndarray:
    """A 'photo' with clear structure: a warm disc and a cool bar on a soft gradient, float32 (h, w, 3)."""
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    photo = np.stack([0.3 + 0.3 * xx, 0.35 + 0.2 * yy, 0.5 - 0.2 * xx], axis=-1)
    disc = (yy - 0.3) ** 2 + (xx - 0.35) ** 2 < 0.04
    bar = (np.abs(yy - 0.6) < 0.08) & (xx > 0.5)
    photo[disc] = [0.9, 0.3, 0.15]
    photo[bar] = [0.1, 0.3, 0.85]
    return photo.astype(np.float32)


def make_style(h: int = 32, w: int = 32) -> np.ndarray:
    """A green-yellow striped texture with noise: nothing like the photo's shapes or colours."""
    rng = np.random.default_rng(3)
    stripes = 0.5 + 0.4 * np.sin(np.arange(w) * 1.3)[None, :] * np.cos(np.arange(h) * 0.7)[:, None]
    style = np.stack([0.6 * stripes, 0.3 + 0.6 * stripes, 0.1 * np.ones_like(stripes)], axis=-1)
    return np.clip(style + rng.normal(0, 0.08, style.shape), 0, 1).astype(np.float32)


def paint(net, photo, settings, style=None):
    style = make_style() if style is None else style
    labels = np.zeros(style.shape[:2], np.uint8)
    target = np.zeros(photo.shape[:2], np.uint8)
    return optimize_doodle(net, style, labels, target, 1, settings, content_image=photo, progress=False)[0]


def settings(**kw):
    return OptimizeSettings(layers=STYLE_LAYERS, content_layers=CONTENT_LAYERS, **kw)


@pytest.mark.parametrize("init, start", [("content", "photo"), ("style", "style"), (None, "photo")])
def test_one_iteration_stays_at_the_start(random_net, init, start):
    photo = make_photo(24, 32)
    style = make_style(24, 32)  # the output's size: init "style" is the style itself
    image = paint(random_net, photo, settings(iterations=1, init=init), style=style)
    expected = photo if start == "photo" else style
    assert np.abs(image - expected).mean() < 0.02
    assert np.abs(image - (style if start == "photo" else photo)).mean() > 0.1


def test_content_weight_pulls_toward_the_photo(random_net):
    photo = make_photo(40, 40)
    free, held = (edge_correlation(paint(random_net, photo, settings(iterations=15, init="noise",
                                                                     content_weight=weight)), photo)
                  for weight in (0.0, 1.0))
    assert held > free + 0.2, (free, held)


class ScaledFeatures(nn.Module):
    """The same network with every feature multiplied by ``scale`` (a loss net of other magnitudes)."""

    def __init__(self, net, scale):
        super().__init__()
        self.inner, self.scale = net, scale
        self.layer_names, self.features = net.layer_names, net.features

    def forward(self, image, layers):
        return {name: f * self.scale for name, f in self.inner(image, layers).items()}


def losses(net, size, relative, photo_fn=make_photo):
    """Style and content parts for a perturbed photo against (style, photo), the same pictures at ``size``."""
    photo = photo_fn(size, size)
    style = resize_rgb(make_style(64, 64), (size, size))
    image = np.clip(photo * 0.7 + 0.3 * style + 0.1, 0, 1)
    masks = torch.ones(1, 1, size, size)
    loss_fn = RegionStyleLoss(net, to_tensor(style), masks, layers=STYLE_LAYERS, content_weight=1.0,
                              content_layers=CONTENT_LAYERS, content_image=to_tensor(photo), relative=relative)
    with torch.no_grad():
        _, parts = loss_fn(to_tensor(image), masks)
    return {name: float(v) for name, v in parts.items()}


def test_relative_losses_do_not_depend_on_the_scale_of_the_features(random_net):
    base = losses(random_net, 32, relative=True)
    scaled = losses(ScaledFeatures(random_net, 10.0), 32, relative=True)
    assert scaled == pytest.approx(base, rel=1e-4)
    raw, raw_scaled = losses(random_net, 32, relative=False), losses(ScaledFeatures(random_net, 10.0), 32, False)
    assert raw_scaled["relu1_1"] == pytest.approx(1e4 * raw["relu1_1"], rel=1e-3)  # Grams grow with scale^2
    assert raw_scaled["content"] == pytest.approx(1e2 * raw["content"], rel=1e-3)


def test_relative_losses_barely_depend_on_the_image_size(random_net):
    # The same pictures at 32 and 64 px: each relative term within 25% (the net sees the pictures at other
    # scales), the style terms steadier than the raw Gram distances.
    small, large = losses(random_net, 32, relative=True), losses(random_net, 64, relative=True)
    assert set(small) == set(STYLE_LAYERS) | {"content"}
    for name in small:
        assert large[name] == pytest.approx(small[name], rel=0.25), name
    assert 0.01 < small["content"] < 1 and all(0.01 < small[n] < 10 for n in STYLE_LAYERS)
    raw_small, raw_large = losses(random_net, 32, relative=False), losses(random_net, 64, relative=False)
    drift = lambda a, b: max(abs(np.log(b[n] / a[n])) for n in STYLE_LAYERS)
    assert drift(small, large) < drift(raw_small, raw_large)


def test_relative_losses_are_zero_at_their_targets(random_net):
    photo, style = make_photo(32, 32), make_style()
    masks = torch.ones(1, 1, 32, 32)
    loss_fn = RegionStyleLoss(random_net, to_tensor(style), masks, layers=STYLE_LAYERS, content_weight=1.0,
                              content_layers=CONTENT_LAYERS, content_image=to_tensor(photo), relative=True)
    with torch.no_grad():
        _, at_photo = loss_fn(to_tensor(photo), masks)
        _, at_style = loss_fn(to_tensor(style), masks)
    assert float(at_photo["content"]) == pytest.approx(0.0, abs=1e-7)
    assert all(float(at_style[n]) == pytest.approx(0.0, abs=1e-5) for n in STYLE_LAYERS)


def test_doodles_keep_the_raw_loss_by_default(random_net):
    style = make_style()
    labels = np.zeros((32, 32), np.uint8)
    target = np.zeros((20, 24), np.uint8)
    run = lambda **kw: optimize_doodle(random_net, style, labels, target, 1, settings(iterations=3, **kw),
                                       progress=False)
    (default, loss), (raw, raw_loss) = run(), run(relative=False)
    assert np.array_equal(default, raw) and loss == raw_loss


def test_preserve_color_keeps_the_photos_chroma(random_net):
    photo = make_photo(24, 24)
    kept = paint(random_net, photo, settings(iterations=6, preserve_color=True))
    painted = paint(random_net, photo, settings(iterations=6))
    chroma = lambda image: rgb_to_yiq(image)[..., 1:]
    assert np.abs(chroma(kept) - chroma(photo)).mean() < 0.01  # exact but for clipping at 0 and 1
    assert np.abs(chroma(painted) - chroma(photo)).mean() > 3 * np.abs(chroma(kept) - chroma(photo)).mean()
    assert np.abs(rgb_to_yiq(kept)[..., 0] - rgb_to_yiq(photo)[..., 0]).mean() > 0.004  # the luminance was painted


def test_matched_luminance_has_the_photos_tones():
    style, photo = make_style(), make_photo(24, 40)
    y = rgb_to_yiq(match_luminance(style, photo))[..., 0]
    y_photo = rgb_to_yiq(photo)[..., 0]
    assert y.mean() == pytest.approx(y_photo.mean(), abs=0.02) and y.std() == pytest.approx(y_photo.std(), rel=0.1)


def test_a_style_without_map_is_one_region(tiny_style):
    style, _ = tiny_style
    exemplar = load_style(style, None, size=20)
    assert exemplar.k == 1 and exemplar.labels.shape == (20, 20) and not exemplar.labels.any()
    with pytest.raises(ValueError, match="one region"):
        load_style(style, None, regions=3)


@pytest.fixture
def photo_file(tmp_path):
    path = tmp_path / "photo.png"
    Image.fromarray((make_photo(30, 45) * 255).astype(np.uint8)).save(path)
    return path


def invoke(*args):
    return CliRunner().invoke(main, ["optimize", "--size", "32", "--iterations", "2", "--loss-net", "random",
                                     *[str(a) for a in args]])


def test_cli_paints_a_photo_without_maps(tiny_style, photo_file, tmp_path):
    style, _ = tiny_style
    res = invoke("--style", style, "--content", photo_file, "--preserve-color", "--content-layers", "relu3_1,relu4_2",
                 "-o", tmp_path / "out.png")
    assert res.exit_code == 0, res.output
    assert Image.open(tmp_path / "out.png").size == (32, 21)  # the photo's aspect ratio


def test_cli_paints_a_photo_with_its_map(tiny_style, photo_file, tmp_path):
    style, style_map = tiny_style
    photo_map = tmp_path / "photo_map.png"
    labels = np.zeros((30, 45), np.int64)
    labels[15:, :20], labels[15:, 20:] = 1, 2
    Image.fromarray(np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255]], np.uint8)[labels]).save(photo_map)
    res = invoke("--style", style, "--style-map", style_map, "--target-map", photo_map, "--content", photo_file,
                 "--init", "noise", "--raw", "-o", tmp_path / "out.png")
    assert res.exit_code == 0, res.output
    assert Image.open(tmp_path / "out.png").size == (32, 21)


@pytest.mark.parametrize("case, message", [
    ("preserve without content", "needs a content image"),
    ("init content without content", "needs a content image"),
    ("nothing to paint", "nothing to paint"),
    ("target map without style map", "needs the style map"),
    ("photo and style map without target map", "3 regions"),
    ("photo of another aspect ratio", "aspect ratios differ"),
    ("unknown content layer", "relu9_9"),
    ("negative content weight", "--content-weight"),
    ("missing photo", "nope.png"),
])
def test_bad_photo_inputs_give_one_line_errors(tiny_style, photo_file, tmp_path, case, message):
    style, style_map = tiny_style
    square = tmp_path / "square.png"
    Image.fromarray(np.full((30, 30, 3), [255, 0, 0], np.uint8)).save(square)
    args = {
        "preserve without content": ["--style-map", style_map, "--target-map", square, "--preserve-color"],
        "init content without content": ["--style-map", style_map, "--target-map", square, "--init", "content"],
        "nothing to paint": ["--style-map", style_map],
        "target map without style map": ["--target-map", square, "--content", photo_file],
        "photo and style map without target map": ["--style-map", style_map, "--content", photo_file],
        "photo of another aspect ratio": ["--style-map", style_map, "--target-map", square, "--content", photo_file],
        "unknown content layer": ["--content", photo_file, "--content-layers", "relu9_9"],
        "negative content weight": ["--content", photo_file, "--content-weight", "-1"],
        "missing photo": ["--content", tmp_path / "nope.png"],
    }[case]
    res = invoke("--style", style, *args, "-o", tmp_path / "out.png")
    lines = res.output.strip().splitlines()
    assert res.exit_code != 0 and "Traceback" not in res.output, res.output
    assert lines[-1].startswith("Error: ") and message in lines[-1], res.output
    assert sum(line.startswith("Error") for line in lines) == 1 and not (tmp_path / "out.png").exists()
