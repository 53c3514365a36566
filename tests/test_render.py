import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from doodle.cli import main
from doodle.generators.texture import DoodleGenerator
from doodle.painting.render import render_file, render_labels
from doodle.training.checkpoint import save_checkpoint

PALETTE = np.array([[255, 0, 0], [0, 0, 255], [255, 255, 255]], np.uint8)


def tiny_model() -> DoodleGenerator:
    torch.manual_seed(0)
    return DoodleGenerator(k=3, scales=2, width=4).eval()


def paint(path, labels: np.ndarray) -> None:
    Image.fromarray(PALETTE[labels]).save(path)


def stripes(h: int, w: int) -> np.ndarray:
    labels = np.zeros((h, w), np.uint8)
    labels[:, w // 3:] = 1
    labels[h // 2:, 2 * w // 3:] = 2
    return labels


@pytest.fixture
def checkpoint(tmp_path):
    model = tiny_model()
    path = tmp_path / "run" / "checkpoint.pt"
    path.parent.mkdir()
    save_checkpoint(path, {
        "model": model.state_dict(), "optimizer": {}, "scheduler": None, "step": 0,
        "config": {"k": 3, "seed": 0, "generator": model.to_config()}, "palette": PALETTE.tolist(),
        "loss_net": "random", "version": "0.1.0",
    })
    return path


def png_size(path) -> tuple[int, int]:
    with Image.open(path) as im:
        return im.size


def run(*args):
    return CliRunner().invoke(main, ["render", *map(str, args)])


def test_render_labels_shape_and_seed():
    model = tiny_model()
    labels = stripes(9, 14)
    a = render_labels(model, labels, seed=1, precision="fp32")
    assert a.shape == (1, 3, 9, 14) and a.dtype == torch.float32
    assert torch.equal(a, render_labels(model, labels, seed=1, precision="fp32"))
    assert not torch.equal(a, render_labels(model, labels, seed=2, precision="fp32"))


def test_render_labels_bf16_close_to_fp32():
    model = tiny_model()
    labels = stripes(12, 12)
    fp32 = render_labels(model, labels, precision="fp32")
    bf16 = render_labels(model, labels, precision="bf16")
    assert bf16.dtype == torch.float32
    assert (bf16 - fp32).abs().max() < 0.05


def test_render_labels_refuses_unknown_region():
    with pytest.raises(ValueError, match=r"uses region 5 but the generator knows 3 regions \(0..2\)"):
        render_labels(tiny_model(), np.full((4, 4), 5, np.uint8))


def test_render_file_variations(tmp_path):
    paint(tmp_path / "map.png", stripes(10, 16))
    written = render_file(tiny_model(), PALETTE, tmp_path / "map.png", tmp_path / "out" / "pic.png",
                          size=8, seed=4, variations=3)
    assert [w.path.name for w in written] == ["pic_v0.png", "pic_v1.png", "pic_v2.png"]
    assert [w.seed for w in written] == [4, 5, 6]
    images = [np.asarray(Image.open(w.path)) for w in written]
    assert all(im.shape == (5, 8, 3) for im in images)
    assert not np.array_equal(images[0], images[1])


def test_cli_file_keeps_map_size(tmp_path, checkpoint):
    paint(tmp_path / "map.png", stripes(13, 21))
    result = run("--checkpoint", checkpoint, "--map", tmp_path / "map.png", "-o", tmp_path / "out.png")
    assert result.exit_code == 0, result.output
    assert png_size(tmp_path / "out.png") == (21, 13)
    assert f"wrote {tmp_path / 'out.png'} (seed 0) in " in result.output


def test_cli_size_is_longest_side(tmp_path, checkpoint):
    paint(tmp_path / "map.png", stripes(10, 20))
    result = run("--checkpoint", checkpoint, "--map", tmp_path / "map.png", "-o", tmp_path / "out.png",
                 "--size", 30)
    assert result.exit_code == 0, result.output
    assert png_size(tmp_path / "out.png") == (30, 15)


def test_cli_same_seed_same_png_other_seed_differs(tmp_path, checkpoint):
    paint(tmp_path / "map.png", stripes(12, 12))
    for name, seed in (("a.png", 3), ("b.png", 3), ("c.png", 4)):
        assert run("--checkpoint", checkpoint, "--map", tmp_path / "map.png", "-o", tmp_path / name,
                   "--seed", seed).exit_code == 0
    a, b, c = (np.asarray(Image.open(tmp_path / n)) for n in ("a.png", "b.png", "c.png"))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_cli_file_into_existing_dir(tmp_path, checkpoint):
    paint(tmp_path / "face.png", stripes(6, 7))
    (tmp_path / "out").mkdir()
    result = run("--checkpoint", checkpoint, "--map", tmp_path / "face.png", "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert png_size(tmp_path / "out" / "face.png") == (7, 6)


def test_cli_directory_in_directory_out(tmp_path, checkpoint):
    maps = tmp_path / "maps"
    maps.mkdir()
    paint(maps / "a.png", stripes(8, 12))
    Image.fromarray(PALETTE[stripes(10, 6)]).save(maps / "b.jpg", quality=100)
    (maps / "notes.txt").write_text("not a map")
    result = run("--checkpoint", checkpoint, "--map", maps, "-o", tmp_path / "out", "--variations", 2)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a_v0.png", "a_v1.png", "b_v0.png", "b_v1.png"]
    assert png_size(tmp_path / "out" / "b_v1.png") == (6, 10)
    assert result.output.count("wrote ") == 4


def test_cli_unknown_colours_refused_with_palette(tmp_path, checkpoint):
    rgb = PALETTE[stripes(10, 10)]
    rgb[:, :5] = (0, 200, 0)  # green is not in the palette
    Image.fromarray(rgb).save(tmp_path / "map.png")
    result = run("--checkpoint", checkpoint, "--map", tmp_path / "map.png", "-o", tmp_path / "out.png")
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: target map")
    assert "#ff0000" in lines[0] and "#0000ff" in lines[0] and "#ffffff" in lines[0]
    assert not (tmp_path / "out.png").exists()


@pytest.mark.parametrize(
    "setup, expected",
    [
        ("missing-checkpoint", "Error: checkpoint not found: "),
        ("bad-checkpoint", "is not a readable doodle checkpoint"),
        ("missing-map", "Error: map not found: "),
        ("empty-dir", "Error: no maps in "),
    ],
)
def test_cli_errors_are_one_line(tmp_path, checkpoint, setup, expected):
    paint(tmp_path / "map.png", stripes(4, 4))
    ck, map_path = checkpoint, tmp_path / "map.png"
    if setup == "missing-checkpoint":
        ck = tmp_path / "nope.pt"
    elif setup == "bad-checkpoint":
        ck = tmp_path / "bad.pt"
        ck.write_bytes(b"\x00garbage" * 10)
    elif setup == "missing-map":
        map_path = tmp_path / "nope.png"
    else:
        map_path = tmp_path / "empty"
        map_path.mkdir()
    result = run("--checkpoint", ck, "--map", map_path, "-o", tmp_path / "out.png")
    assert result.exit_code == 1
    assert len(result.output.strip().splitlines()) == 1
    assert expected in result.output


def test_cli_size_too_large_for_memory_is_one_line(tmp_path, checkpoint):
    # Refused from the map's header, before the labels are resized to 6e6 x 1e7 pixels.
    paint(tmp_path / "map.png", stripes(6, 10))
    result = run("--checkpoint", checkpoint, "--map", tmp_path / "map.png", "-o", tmp_path / "out.png",
                 "--size", 10_000_000)
    assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1, result.output
    assert "GiB is free; use a smaller --size" in result.output and not (tmp_path / "out.png").exists()


def test_allocation_failure_in_the_forward_pass_says_to_use_a_smaller_size(tmp_path):
    from doodle.painting.render import write_timed

    def forward():
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:127] DefaultCPUAllocator: can't allocate memory")

    with pytest.raises(MemoryError, match="out.png ran out of memory; use a smaller --size"):
        write_timed(tmp_path / "out.png", 0, forward)
    assert not (tmp_path / "out.png").exists()


def test_gpu_memory_torch_has_cached_counts_as_free_for_the_next_render(monkeypatch):
    # After the first image of a folder the driver reports torch's cached blocks as used; they are not.
    from doodle.painting import render

    gib = 1 << 30
    monkeypatch.setattr(render.torch.cuda, "mem_get_info", lambda device: (1 * gib, 80 * gib))
    monkeypatch.setattr(render.torch.cuda, "memory_reserved", lambda device: 6 * gib)
    monkeypatch.setattr(render.torch.cuda, "memory_allocated", lambda device: 2 * gib)
    assert render.free_bytes(torch.device("cuda", 0)) == 5 * gib
