import pytest
import torch


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    # Tests never read or write the user's weight cache.
    monkeypatch.setenv("DOODLE_HOME", str(tmp_path_factory.mktemp("doodle_home")))
    # ... and never download weights: --loss-net auto falls back to random weights at once.
    monkeypatch.setenv("DOODLE_OFFLINE", "1")


@pytest.fixture(scope="session")
def random_net():
    """A seeded random-weight VGG-19 up to relu5_1 (what tests use as loss network)."""
    from doodle.lossnet.weights import load_loss_net

    torch.set_num_threads(2)
    return load_loss_net("random", seed=0, log=lambda _msg: None)


@pytest.fixture
def tiny_style(tmp_path):
    """A 40x40 three-region style image (distinct colours and stripes) and its map, as PNG paths."""
    import numpy as np
    from PIL import Image

    yy, xx = np.mgrid[0:40, 0:40]
    labels = np.where(yy < 14, 0, np.where(xx < 20, 1, 2))
    colours = np.array([[230, 40, 40], [40, 200, 60], [40, 60, 220]], np.uint8)
    rng = np.random.default_rng(0)
    image = colours[labels].astype(np.float32)
    image[(labels == 0) & (yy % 4 < 2)] *= 0.5  # horizontal stripes in region 0
    image[(labels == 2) & (xx % 6 < 3)] *= 0.4  # vertical stripes in region 2
    image += rng.normal(0, 10, image.shape)
    style = tmp_path / "style.png"
    style_map = tmp_path / "style_map.png"
    Image.fromarray(image.clip(0, 255).astype(np.uint8)).save(style)
    map_colours = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255]], np.uint8)
    Image.fromarray(map_colours[labels]).save(style_map)
    return style, style_map


@pytest.fixture(autouse=True)
def _no_training_curves(monkeypatch):
    # Redrawing RUN/curves.png costs ~1 s per sample step with matplotlib, and the
    # tiny test runs sample every other step; tests/test_plot.py tests the drawing.
    import doodle.training.train

    monkeypatch.setattr(doodle.training.train, "update_run_curves", lambda run: False)
