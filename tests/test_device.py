"""Device plumbing on a CPU machine: one-line errors for devices that are not there, checkpoints that move."""

import pytest
import torch
from click.testing import CliRunner

from doodle.cli import main
from doodle.device import resolve_device
from doodle.generators.texture import DoodleGenerator
from doodle.painting.render import render_labels
from doodle.precision import grad_scaler, resolve_precision
from doodle.training.checkpoint import generator_from_checkpoint, load_checkpoint, save_checkpoint

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
@pytest.mark.parametrize("spec", ["cuda", "cuda:0", "CUDA:1"])
def test_cuda_without_cuda_is_a_one_line_error(spec):
    with pytest.raises(ValueError, match=rf"--device {spec}: .* on this machine; use --device cpu \(or auto\)"):
        resolve_device(spec)


def test_auto_picks_the_gpu_and_says_so_or_quietly_the_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    lines = []
    assert resolve_device("auto", log=lines.append) == torch.device("cpu") and lines == []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda _d: "Fake GPU")
    assert resolve_device("auto", log=lines.append) == torch.device("cuda", 0)
    assert lines == ["device: cuda:0 (Fake GPU; --device auto)"]


def test_a_gpu_index_that_does_not_exist_is_refused_with_the_count(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    with pytest.raises(ValueError, match=r"--device cuda:2: this machine has 2 CUDA device\(s\), cuda:0..cuda:1"):
        resolve_device("cuda:2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert resolve_device("cuda") == torch.device("cuda", 1)  # torchrun: one GPU per rank
    monkeypatch.setenv("LOCAL_RANK", "3")
    with pytest.raises(ValueError, match=r"LOCAL_RANK 3 but this node has 2 CUDA device\(s\)"):
        resolve_device("cuda")


@pytest.mark.parametrize("spec, message", [("tpu", "unknown device 'tpu'"), ("cuda:x", "expected cuda:N")])
def test_bad_specs(spec, message, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    with pytest.raises(ValueError, match=message):
        resolve_device(spec)


def test_fp16_is_cuda_only_and_scaled():
    with pytest.raises(ValueError, match="--precision fp16 needs a CUDA device, not cpu; use bf16 or fp32"):
        resolve_precision("fp16", "cpu")
    assert not grad_scaler("bf16").is_enabled() and not grad_scaler("fp32").is_enabled()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
@pytest.mark.parametrize("command", [["render", "--checkpoint", "c.pt", "--map", "m.png", "-o", "o.png"],
                                     ["demo", "--out", "d"]])
def test_cli_device_cuda_without_cuda(tmp_path, command, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.png").write_bytes(b"")
    result = CliRunner().invoke(main, command + ["--device", "cuda"])
    assert result.exit_code != 0
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "--device cuda: " in lines[0] and "use --device cpu" in lines[0], result.output


def _checkpoint(model):
    return {"model": model.state_dict(), "step": 1, "config": {"k": model.k, "generator": model.to_config()},
            "palette": [[255, 0, 0], [0, 0, 255]]}


def test_checkpoint_loads_on_the_cpu_whatever_device_wrote_it(tmp_path, monkeypatch):
    torch.manual_seed(0)
    model = DoodleGenerator(k=2, scales=2, width=4).eval()
    # A checkpoint written on a GPU holds CUDA tensors; load_checkpoint maps them to the CPU.
    seen = {}
    real_load = torch.load

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    save_checkpoint(tmp_path / "c.pt", _checkpoint(model))
    restored, _ = generator_from_checkpoint(load_checkpoint(tmp_path / "c.pt"))
    assert seen["map_location"] == "cpu" and seen["weights_only"] is True
    labels = torch.randint(0, 2, (9, 13)).numpy().astype("uint8")
    torch.testing.assert_close(render_labels(restored, labels, precision="fp32"),
                               render_labels(model, labels, precision="fp32"), rtol=0, atol=0)


@needs_cuda
def test_gpu_round_trip_renders_the_same_shape(tmp_path):
    model = DoodleGenerator(k=2, scales=2, width=4).eval().to("cuda")
    save_checkpoint(tmp_path / "c.pt", _checkpoint(model))
    restored, _ = generator_from_checkpoint(load_checkpoint(tmp_path / "c.pt"))
    labels = torch.randint(0, 2, (9, 13)).numpy().astype("uint8")
    out_gpu = render_labels(restored.to("cuda"), labels, precision="fp32")
    out_cpu = render_labels(restored.cpu(), labels, precision="fp32")
    assert out_gpu.shape == out_cpu.shape == (1, 3, 9, 13)


@needs_cuda
def test_training_on_the_gpu_lowers_the_loss_and_resumes_on_the_cpu(tiny_style, tmp_path):
    import json

    from doodle.training.config import TrainConfig
    from doodle.training.train import train

    style, style_map = tiny_style
    config = TrainConfig(style=str(style), style_map=str(style_map), out=str(tmp_path / "run"), size=32, batch=2,
                         steps=20, style_layers=("relu1_1", "relu2_1"), loss_net="random", workers=0,
                         lr=0.02, generator={"width": 4, "scales": 3}, log_every=1)
    train(config, progress=False, log=lambda _m: None, device="cuda")
    losses = [json.loads(line)["loss"] for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert sum(losses[-5:]) < sum(losses[:5])
    train(TrainConfig.from_run(tmp_path / "run", steps=22), resume=True, progress=False, log=lambda _m: None,
          device="cpu")
    assert load_checkpoint(tmp_path / "run" / "checkpoint.pt")["step"] == 22
