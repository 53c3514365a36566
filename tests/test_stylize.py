"""Feed-forward photo stylization: doodle train --content, doodle stylize (tiny, random weights)."""

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from doodle.cli import main
from doodle.generators.resnet import ResnetGenerator
from doodle.lossnet.weights import load_loss_net
from doodle.painting.stylize import stylize_photo
from doodle.style.loss import RegionStyleLoss
from doodle.training.checkpoint import generator_from_checkpoint, load_checkpoint, save_checkpoint
from doodle.training.photodata import TrainingPhotos, find_photos
from doodle.training.config import TrainConfig
from doodle.training.train import train

LAYERS = ("relu1_1", "relu2_1")
QUIET = {"progress": False, "log": lambda _m: None}


def photo(h: int, w: int, seed: int = 0) -> np.ndarray:
    """Smooth colour blobs with an edge: something a content loss can hold on to."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    image = np.stack([np.sin(6 * xx + c) * np.cos(4 * yy + 2 * c) for c in rng.uniform(0, 3, 3)], axis=2)
    image[: h // 2, : w // 3] += 1.0
    return (np.clip((image + 1) / 3, 0, 1) * 255).astype(np.uint8)


@pytest.fixture
def photos(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for i, (h, w) in enumerate([(40, 60), (50, 50), (64, 48)]):
        Image.fromarray(photo(h, w, i)).save(folder / f"p{i}.png")
    (folder / "notes.txt").write_text("not a photo: ignored")
    return folder


def photo_config(tiny_style, photos, out, **kw):
    style, _ = tiny_style
    base = dict(style=str(style), style_map=None, content=str(photos), out=str(out), size=32, batch=2, steps=4,
                style_layers=LAYERS, loss_net="random", precision="fp32", workers=0, sample_every=2,
                checkpoint_every=2, log_every=1, samples=2, lr=0.01,
                generator={"arch": "resnet", "width": 4, "blocks": 1})
    return TrainConfig(**base | kw)


def stylizer(k: int = 1, seed: int = 0) -> ResnetGenerator:
    torch.manual_seed(seed)
    return ResnetGenerator(k=k, width=4, blocks=1, noise_channels=0, image_channels=3).eval()


@pytest.mark.parametrize("size", [(1, 1), (5, 9), (31, 17), (64, 48)])
def test_any_size_in_gives_the_same_size_out(size):
    assert stylize_photo(stylizer(), photo(*size), precision="fp32").shape == (1, 3, *size)


def test_a_changed_photo_changes_the_output_where_it_changed():
    model, before = stylizer(), photo(96, 96)
    after = before.copy()
    after[:12, :12] = 255 - after[:12, :12]
    diff = (stylize_photo(model, after, precision="fp32") - stylize_photo(model, before, precision="fp32")).abs()
    diff = diff[0].mean(0)
    near, far = diff[:12, :12].mean(), diff[56:, 56:].mean()
    assert near > 8 * far  # instance statistics carry a trace of the change everywhere, no more


def test_maps_change_the_output_region_by_region():
    model = stylizer(k=2)
    with torch.no_grad():
        model.region_color.copy_(torch.tensor([[-2.0, 0.0, 2.0], [2.0, 0.0, -2.0]]))  # blue-ish, red-ish regions
    image, left_is_1 = photo(48, 64), np.zeros((48, 64), np.uint8)
    left_is_1[:, :32] = 1
    one_region = stylize_photo(model, image, np.zeros((48, 64), np.uint8), precision="fp32")[0]
    two_regions = stylize_photo(model, image, left_is_1, precision="fp32")[0]
    diff = (two_regions - one_region).abs().mean(0)
    assert diff[:, :28].mean() > 5 * diff[:, 36:].mean()
    assert two_regions[0, :, :28].mean() > one_region[0, :, :28].mean() + 0.2  # the left half turned red


def test_the_content_term_falls_as_the_stylizer_learns_the_photos(tiny_style, photos, tmp_path):
    # Content alone: the stylizer must learn to keep the photos' structure.
    cfg = photo_config(tiny_style, photos, tmp_path / "run", steps=30, style_weight=0.0, lr=0.02, sample_every=100,
                       checkpoint_every=100)
    train(cfg, **QUIET)
    content = [json.loads(line)["layers"]["content"] for line in (tmp_path / "run" / "log.jsonl").open()]
    assert np.mean(content[-5:]) < 0.6 * np.mean(content[:5])


def test_photo_batches_are_random_crops_of_the_photos_with_their_maps(photos, tiny_style):
    from doodle.maps.semantic import load_style

    style = load_style(*tiny_style, log=lambda _m: None)
    maps = photos.parent / "maps"
    maps.mkdir()
    for path in find_photos(photos):
        h, w = Image.open(path).size[::-1]
        rgb = np.zeros((h, w, 3), np.uint8)
        rgb[:] = style.palette.colours[1]
        rgb[:, : w // 2] = style.palette.colours[2]
        Image.fromarray(rgb).resize((w * 2, h * 2), Image.NEAREST).save(maps / f"{path.stem}.png")  # any scale
    data = TrainingPhotos(find_photos(photos), 24, seed=3, palette=style.palette, maps_dir=maps)
    image, labels = data[5]
    assert image.shape == (3, 24, 24) and image.dtype == torch.uint8 and labels.shape == (24, 24)
    assert set(np.unique(labels.numpy())) <= {1, 2}
    assert torch.equal(data[5][0], TrainingPhotos(find_photos(photos), 24, seed=3)[5][0])  # (seed, index) decide


def test_resume_continues_exactly(tiny_style, photos, tmp_path):
    full = train(photo_config(tiny_style, photos, tmp_path / "full"), **QUIET)
    train(photo_config(tiny_style, photos, tmp_path / "half", steps=2), **QUIET)
    resumed = train(TrainConfig.from_run(tmp_path / "half", steps=4), resume=True, **QUIET)
    for a, b in zip(full.parameters(), resumed.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_a_stylizer_from_before_downs_resumes_with_the_network_it_trained(tiny_style, photos, tmp_path):
    out = tmp_path / "old"
    train(photo_config(tiny_style, photos, out, steps=2,
                       generator={"arch": "resnet", "width": 4, "blocks": 1, "downs": 2}), **QUIET)
    ckpt = load_checkpoint(out / "checkpoint.pt")
    del ckpt["config"]["generator"]["downs"]  # as written before the option existed
    save_checkpoint(out / "checkpoint.pt", ckpt)
    resumed = train(TrainConfig.from_run(out, steps=4), resume=True, **QUIET)
    assert resumed.downs == 2 and load_checkpoint(out / "checkpoint.pt")["step"] == 4


def test_stylizers_default_to_small_crops_of_photos_against_a_larger_style(tiny_style, photos, tmp_path):
    style, style_map = tiny_style
    photo_run = TrainConfig(style=str(style), style_map=None, content=str(photos), out=str(tmp_path / "p"))
    doodle_run = TrainConfig(style=str(style), style_map=str(style_map), out=str(tmp_path / "d"))
    assert (photo_run.size, photo_run.style_size) == (128, 256)
    assert (doodle_run.size, doodle_run.style_size or doodle_run.size) == (256, 256)
    given = TrainConfig(style=str(style), style_map=None, content=str(photos), out=str(tmp_path / "g"), size=64)
    assert (given.size, given.style_size or given.size) == (64, 64)  # --style-size follows a given --size


def test_a_stylizer_from_before_its_size_defaults_resumes_with_its_own_style_size(tiny_style, photos, tmp_path):
    out = tmp_path / "old"
    train(photo_config(tiny_style, photos, out, steps=2), **QUIET)
    ckpt = load_checkpoint(out / "checkpoint.pt")
    assert ckpt["config"]["style_size"] is None  # trained its style at --size, as every run did then
    resumed = TrainConfig.from_run(out, steps=4)
    assert resumed.style_size == 32
    train(resumed, resume=True, **QUIET)
    assert load_checkpoint(out / "checkpoint.pt")["step"] == 4


def test_train_then_stylize_from_the_command_line(tiny_style, photos, tmp_path):
    style, _ = tiny_style
    run = lambda *args: CliRunner().invoke(main, [str(a) for a in args])  # noqa: E731
    result = run("train", "--content", photos, "--style", style, "--size", 32, "--batch", 2, "--steps", 2,
                 "--style-layers", ",".join(LAYERS), "--loss-net", "random", "--precision", "fp32", "--workers", 0,
                 "--width", 4, "--blocks", 1, "--out", tmp_path / "run")
    assert result.exit_code == 0, result.output
    assert "content: 3 photos" in result.output
    model, _ = generator_from_checkpoint(load_checkpoint(tmp_path / "run" / "checkpoint.pt"))
    assert (model.k, model.image_channels, model.noise_channels, model.downs) == (1, 3, 0, 3)
    result = run("stylize", "--checkpoint", tmp_path / "run" / "checkpoint.pt", "--content", photos,
                 "-o", tmp_path / "out", "--size", 40)
    assert result.exit_code == 0, result.output
    sizes = {p.name: Image.open(p).size for p in sorted((tmp_path / "out").iterdir())}
    assert sizes == {"p0.png": (40, 27), "p1.png": (40, 40), "p2.png": (30, 40)}


def one_line_error(*args) -> str:
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code != 0 and "Traceback" not in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    return result.output


def test_bad_inputs_are_one_line_errors(tiny_style, photos, tmp_path):
    style, style_map = tiny_style
    common = ["--style", style, "--size", 32, "--steps", 1, "--loss-net", "random", "--workers", 0,
              "--style-layers", "relu1_1"]
    (tmp_path / "empty").mkdir()
    assert "no photos in" in one_line_error("train", "--content", tmp_path / "empty", *common, "--out", tmp_path / "a")
    (photos / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    message = one_line_error("train", "--content", photos, *common, "--out", tmp_path / "b")
    assert "broken.jpg" in message and "--skip-corrupt" in message
    (photos / "broken.jpg").unlink()
    maps = tmp_path / "maps"
    maps.mkdir()
    for i in range(3):
        Image.fromarray(np.zeros((10, 30, 3), np.uint8)).save(maps / f"p{i}.png")  # wrong aspect ratio
    message = one_line_error("train", "--content", photos, "--content-maps", maps, *common, "--style-map", style_map,
                             "--out", tmp_path / "c")
    assert "aspect ratios differ" in message
    assert "--content-maps needs --content" in one_line_error("train", *common, "--style-map", style_map,
                                                              "--content-maps", maps, "--out", tmp_path / "d")
    assert "drop --arch texture" in one_line_error("train", "--content", photos, *common, "--arch", "texture",
                                                   "--out", tmp_path / "e")


def test_doodle_and_photo_checkpoints_each_refuse_the_other_command(tiny_style, photos, tmp_path):
    from doodle.painting.render import render_labels

    train(photo_config(tiny_style, photos, tmp_path / "photo", steps=1), **QUIET)
    doodle_cfg = photo_config(tiny_style, photos, tmp_path / "doodle", steps=1, content=None,
                              style_map=str(tiny_style[1]))
    train(doodle_cfg, **QUIET)
    message = one_line_error("stylize", "--checkpoint", tmp_path / "doodle" / "checkpoint.pt",
                             "--content", photos / "p0.png", "-o", tmp_path / "x.png")
    assert "paints doodles, not photos" in message
    model, _ = generator_from_checkpoint(load_checkpoint(tmp_path / "photo" / "checkpoint.pt"))
    with pytest.raises(ValueError, match="stylizes photos"):
        render_labels(model, np.zeros((8, 8), np.uint8))


def test_batch_content_targets_match_a_fixed_content_image():
    # The per-batch content term (feed-forward) is the optimizer's fixed-photo term, image by image.
    torch.manual_seed(0)
    net = load_loss_net("random", layers=LAYERS, seed=0, log=lambda _m: None)
    style, masks = torch.rand(1, 3, 24, 24), torch.ones(1, 1, 24, 24)
    photo_a, photo_b, image = torch.rand(1, 3, 24, 24), torch.rand(1, 3, 24, 24), torch.rand(2, 3, 24, 24)
    batch = RegionStyleLoss(net, style, masks, layers=LAYERS, content_weight=1.0, relative=True)
    _, parts = batch(image, masks.expand(2, -1, -1, -1), content=torch.cat([photo_a, photo_b]))
    singles = [RegionStyleLoss(net, style, masks, layers=LAYERS, content_weight=1.0, relative=True, content_image=p)
               for p in (photo_a, photo_b)]
    expected = np.mean([float(loss(image[i:i + 1], masks)[1]["content"]) for i, loss in enumerate(singles)])
    assert float(parts["content"]) == pytest.approx(expected, rel=1e-5)


@pytest.mark.slow
def test_photo_demo_paints_the_held_out_photos(tmp_path):
    pytest.importorskip("skimage")
    from doodle.demos.photos import HELD_OUT_PHOTOS, TRAINING_PHOTOS, run_photo_demo

    picture = run_photo_demo(tmp_path / "demo", steps=2, size=32, batch=1, loss_net="random", log=lambda _m: None)
    assert sorted(p.stem for p in (tmp_path / "demo" / "photos").iterdir()) == sorted(TRAINING_PHOTOS)
    assert sorted(p.stem for p in (tmp_path / "demo" / "stylized").iterdir()) == sorted(HELD_OUT_PHOTOS)
    rows = Image.open(picture).size[1]
    assert rows > 64  # a row per held-out photo, each with its longest side at twice the training size (64)
    with pytest.raises(ValueError, match="not made by `doodle demo`"):
        (tmp_path / "mine").mkdir()
        (tmp_path / "mine" / "precious.txt").write_text("keep")
        run_photo_demo(tmp_path / "mine", steps=1, size=32, loss_net="random", log=lambda _m: None)


def test_stylize_size_too_large_for_memory_is_one_line(photos, tmp_path):
    model = stylizer()
    checkpoint = tmp_path / "run" / "checkpoint.pt"
    checkpoint.parent.mkdir()
    save_checkpoint(checkpoint, {"model": model.state_dict(), "optimizer": {}, "scheduler": None, "step": 0,
                                 "config": {"k": 1, "seed": 0, "generator": model.to_config()},
                                 "palette": [[0, 0, 0]], "loss_net": "random", "version": "0.1.0"})
    message = one_line_error("stylize", "--checkpoint", checkpoint, "--content", photos / "p0.png",
                             "-o", tmp_path / "x.png", "--size", 10_000_000)
    assert "GiB is free; use a smaller --size" in message and not (tmp_path / "x.png").exists()
