import re

import numpy as np
import pytest
import torch

from doodle.training.checkpoint import (CHECKPOINT_FORMAT, CHECKPOINT_VERSION, generator_from_checkpoint, load_checkpoint,
                               save_checkpoint)
from doodle.generators.texture import DoodleGenerator

PALETTE = [[255, 0, 0], [0, 0, 255]]


def trained_pair():
    torch.manual_seed(0)
    model = DoodleGenerator(k=2, scales=2, width=4)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    masks = torch.zeros(1, 2, 8, 8)
    masks[:, 0, :, :4] = 1
    masks[:, 1, :, 4:] = 1
    for _ in range(2):
        optimizer.zero_grad()
        model(masks, noise_seed=0).mean().backward()
        optimizer.step()
    return model, optimizer


def make_ckpt(model, optimizer, **extra):
    return {
        "model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": None, "step": 2,
        "config": {"k": 2, "seed": 0, "generator": model.to_config()}, "palette": np.array(PALETTE, np.uint8),
        "loss_net": "random", "version": "0.1.0", "rng": {"torch": torch.get_rng_state()}, **extra,
    }


def one_line(message: str) -> bool:
    return "\n" not in message


def test_round_trip(tmp_path):
    model, optimizer = trained_pair()
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, make_ckpt(model, optimizer))
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]  # no temp files left

    ckpt = load_checkpoint(path)
    assert ckpt["format"] == CHECKPOINT_FORMAT and ckpt["format_version"] == CHECKPOINT_VERSION
    assert ckpt["step"] == 2 and ckpt["palette"] == PALETTE and ckpt["loss_net"] == "random"
    for name, tensor in model.state_dict().items():
        assert torch.equal(ckpt["model"][name], tensor)

    optimizer2 = torch.optim.Adam(DoodleGenerator(k=2, scales=2, width=4).parameters(), lr=1e-2)
    optimizer2.load_state_dict(ckpt["optimizer"])
    state, state2 = optimizer.state_dict(), optimizer2.state_dict()
    assert state["param_groups"] == state2["param_groups"]
    for i, entry in state["state"].items():
        for key, value in entry.items():
            assert torch.equal(value, state2["state"][i][key])

    restored, palette = generator_from_checkpoint(ckpt)
    assert not restored.training
    assert palette.colours.dtype == np.uint8 and palette.colours.tolist() == PALETTE and palette.k == 2
    masks = torch.zeros(1, 2, 6, 6)
    masks[:, 0] = 1
    model.eval()
    with torch.no_grad():
        assert torch.equal(restored(masks, noise_seed=3), model(masks, noise_seed=3))


def test_generator_from_ddp_state_dict():
    model, optimizer = trained_pair()
    ckpt = make_ckpt(model, optimizer)
    ckpt["model"] = {"module." + name: t for name, t in model.state_dict().items()}
    restored, _ = generator_from_checkpoint(ckpt)
    assert restored.state_dict().keys() == model.state_dict().keys()
    assert all(name.startswith("module.") for name in ckpt["model"])  # caller's dict untouched


def test_save_requires_keys(tmp_path):
    with pytest.raises(ValueError, match="checkpoint dict lacks step, palette"):
        save_checkpoint(tmp_path / "c.pt", {"model": {}, "config": {}})


def test_missing_file(tmp_path):
    path = tmp_path / "nope.pt"
    with pytest.raises(FileNotFoundError, match=f"^checkpoint not found: {re.escape(str(path))}$"):
        load_checkpoint(path)


def saved_bytes(tmp_path) -> bytes:
    model, optimizer = trained_pair()
    save_checkpoint(tmp_path / "good.pt", make_ckpt(model, optimizer))
    return (tmp_path / "good.pt").read_bytes()


@pytest.mark.parametrize("kind", ["random", "truncated", "empty"])
def test_unreadable_file(tmp_path, kind):
    path = tmp_path / "bad.pt"
    if kind == "random":
        path.write_bytes(np.random.default_rng(0).bytes(4096))
    elif kind == "truncated":
        data = saved_bytes(tmp_path)
        path.write_bytes(data[: len(data) // 2])
    else:
        path.write_bytes(b"")
    with pytest.raises(ValueError, match=f"^{re.escape(str(path))} is not a readable doodle checkpoint") as info:
        load_checkpoint(path)
    assert one_line(str(info.value))


def test_pickle_with_code_is_refused(tmp_path):
    # weights_only=True: a pickle naming arbitrary callables is not executed.
    path = tmp_path / "evil.pt"
    torch.save({"format": CHECKPOINT_FORMAT, "hook": np.random.default_rng}, path)
    with pytest.raises(ValueError, match="is not a readable doodle checkpoint") as info:
        load_checkpoint(path)
    assert one_line(str(info.value))


@pytest.mark.parametrize("payload", [torch.zeros(3), {"model": {}}, [1, 2]])
def test_torch_file_that_is_not_ours(tmp_path, payload):
    path = tmp_path / "other.pt"
    torch.save(payload, path)
    with pytest.raises(ValueError) as info:
        load_checkpoint(path)
    assert str(info.value) == (
        f"{path} is not a doodle checkpoint (no 'format' key); pass the RUN/checkpoint.pt written by `doodle train`"
    )


def test_other_format_version(tmp_path):
    path = tmp_path / "future.pt"
    torch.save({"format": CHECKPOINT_FORMAT, "format_version": 2, "version": "0.9.0"}, path)
    with pytest.raises(ValueError) as info:
        load_checkpoint(path)
    assert str(info.value) == (
        f"{path} has format version 2; this doodle reads version 1; retrain or use doodle 0.9.0"
    )


def test_mismatched_weights_and_config():
    model, optimizer = trained_pair()
    ckpt = make_ckpt(model, optimizer)
    ckpt["config"]["generator"]["width"] = 5
    with pytest.raises(ValueError, match="checkpoint weights do not match its generator config") as info:
        generator_from_checkpoint(ckpt)
    assert one_line(str(info.value))


def test_palette_must_match_regions():
    model, optimizer = trained_pair()
    ckpt = make_ckpt(model, optimizer)
    ckpt["palette"] = [[1, 2, 3]]
    with pytest.raises(ValueError, match=r"checkpoint palette \[\[1, 2, 3\]\] is not 2 RGB colours"):
        generator_from_checkpoint(ckpt)
