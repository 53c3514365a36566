import dataclasses
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from doodle.cli import main
from doodle.generators.registry import DEFAULT_ARCH, new_generator
from doodle.lossnet.weights import load_loss_net
from doodle.maps.semantic import load_style, one_hot
from doodle.style.loss import DOODLE_BALANCE, DOODLE_COLOUR_WEIGHT, PHOTO_BALANCE, RegionStyleLoss
from doodle.training.checkpoint import load_checkpoint, save_checkpoint
from doodle.training.config import TrainConfig
from doodle.training.schedule import lr_factor
from doodle.training.train import train

LAYERS = ("relu1_1", "relu2_1", "relu3_1")
# The architecture users train (the CLI's default), at a tiny width so that a step takes milliseconds.
TINY_GENERATOR = {"arch": DEFAULT_ARCH, "width": 4, "blocks": 1}


def config(tiny_style, out, **kw):
    style, style_map = tiny_style
    base = dict(style=str(style), style_map=str(style_map), out=str(out), size=32, batch=2, steps=4,
                style_layers=LAYERS, loss_net="random", precision="fp32", workers=0, sample_every=2,
                checkpoint_every=2, log_every=1, samples=2, lr=0.02, generator=TINY_GENERATOR)
    base.update(kw)
    return TrainConfig(**base)


def params(model):
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def _mask_dataset(folder, count, regions):
    """A maskgen dataset of ``count`` 32 px masks with ``regions`` regions in ``folder``."""
    from maskgen.cli import main as maskgen_main

    res = CliRunner().invoke(maskgen_main, ["generate", str(folder), "--count", str(count), "--size", "32",
                                            "--regions", str(regions), "--workers", "1"])
    assert res.exit_code == 0, res.output


def _corrupt_mask_dataset(folder):
    """A 3-region dataset of three masks in ``folder`` whose second file is cut short; returns its path."""
    _mask_dataset(folder, count=3, regions=3)
    bad = sorted((folder / "masks").glob("*.png"))[1]
    bad.write_bytes(bad.read_bytes()[:40])
    return bad


@pytest.mark.slow
def test_a_few_steps_lower_the_loss(tiny_style, tmp_path):
    cfg = config(tiny_style, tmp_path / "run", steps=25, lr=0.05)
    model = train(cfg, progress=False, log=lambda _m: None)
    style = load_style(cfg.style, cfg.style_map, size=32, log=lambda _m: None)
    net = load_loss_net("random", layers=LAYERS, log=lambda _m: None)
    img = torch.from_numpy(style.image).permute(2, 0, 1)[None]
    loss_fn = RegionStyleLoss(net, img, one_hot(style.labels, 3), layers=LAYERS)
    masks = one_hot(np.stack([np.repeat(np.arange(3, dtype=np.uint8), 11)[:32][None].repeat(32, 0)] * 2), 3)
    torch.manual_seed(cfg.seed)
    untrained = new_generator({**TINY_GENERATOR, "k": 3})
    with torch.no_grad():
        before = loss_fn(untrained(masks, noise_seed=1), masks)[0].item()
        after = loss_fn(model(masks, noise_seed=1), masks)[0].item()
    assert after < 0.7 * before


def test_run_folder_contents(tiny_style, tmp_path):
    out = tmp_path / "run"
    train(config(tiny_style, out), progress=False, log=lambda _m: None)
    ckpt = load_checkpoint(out / "checkpoint.pt")
    assert ckpt["step"] == 4 and ckpt["config"]["k"] == 3 and len(ckpt["palette"]) == 3
    assert ckpt["loss_net"] == "random-vgg19-seed0"
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [e["step"] for e in log] == [1, 2, 3, 4]
    assert set(log[0]["layers"]) == set(LAYERS) | {"colour"} and log[0]["steps_per_s"] > 0
    assert sorted(p.name for p in (out / "samples").iterdir()) == ["step_000002.png", "step_000004.png"]
    generator = json.loads((out / "config.json").read_text())["generator"]
    assert (generator["arch"], generator["width"]) == (DEFAULT_ARCH, 4)
    # Options the user did not give take today's defaults, not those of checkpoints from before them.
    assert (generator["aligned"], generator["borders"]) == (True, "region")
    assert not [p for p in out.rglob(".tmp-*")]


def test_a_fresh_run_starts_every_region_at_its_style_colour(tiny_style, tmp_path):
    cfg = config(tiny_style, tmp_path / "run", steps=1, lr=1e-6)
    model = train(cfg, progress=False, log=lambda _m: None)
    style = load_style(cfg.style, cfg.style_map, size=32, log=lambda _m: None)
    means = torch.tensor(np.stack([style.image[style.labels == r].mean(0) for r in range(3)]))
    torch.testing.assert_close(torch.sigmoid(model.region_color.detach()), means, atol=1e-3, rtol=0)


def test_resume_continues_exactly(tiny_style, tmp_path):
    full = train(config(tiny_style, tmp_path / "full"), progress=False, log=lambda _m: None)
    half = tmp_path / "half"
    train(config(tiny_style, half, steps=2), progress=False, log=lambda _m: None)
    resumed = train(TrainConfig.from_run(half, steps=4), resume=True, progress=False, log=lambda _m: None)
    torch.testing.assert_close(params(resumed), params(full), rtol=0, atol=0)
    a = load_checkpoint(tmp_path / "full" / "checkpoint.pt")["optimizer"]["state"]
    b = load_checkpoint(half / "checkpoint.pt")["optimizer"]["state"]
    assert a[0]["step"] == b[0]["step"] == 4
    torch.testing.assert_close(a[0]["exp_avg_sq"], b[0]["exp_avg_sq"], rtol=0, atol=0)
    assert [json.loads(x)["step"] for x in (half / "log.jsonl").read_text().splitlines()] == [1, 2, 3, 4]


def test_resume_tolerates_a_torn_last_log_line(tiny_style, tmp_path):
    full = train(config(tiny_style, tmp_path / "full"), progress=False, log=lambda _m: None)
    half = tmp_path / "half"
    train(config(tiny_style, half, steps=2), progress=False, log=lambda _m: None)
    with open(half / "log.jsonl", "a") as f:
        f.write('{"step": 3, "loss": 1.2')  # power loss mid-line
    resumed = train(TrainConfig.from_run(half, steps=4), resume=True, progress=False, log=lambda _m: None)
    torch.testing.assert_close(params(resumed), params(full), rtol=0, atol=0)
    log = [json.loads(x) for x in (half / "log.jsonl").read_text().splitlines()]
    assert [e["step"] for e in log] == [1, 2, 3, 4]
    elapsed = [e["elapsed_s"] for e in log]
    assert elapsed == sorted(elapsed) and elapsed[0] > 0  # the clock continues across the resume


def test_a_resume_drops_the_samples_a_killed_run_wrote_after_its_checkpoint(tiny_style, tmp_path):
    out = tmp_path / "run"
    train(config(tiny_style, out, steps=2, sample_every=1), progress=False, log=lambda _m: None)
    for later in (3, 4):  # sampled, then killed before the checkpoint of step 4
        shutil.copy(out / "samples" / "step_000002.png", out / "samples" / f"step_{later:06d}.png")
    train(TrainConfig.from_run(out, steps=3), resume=True, progress=False, log=lambda _m: None)
    assert sorted(p.name for p in (out / "samples").iterdir()) == [f"step_00000{i}.png" for i in (1, 2, 3)]


def test_minutes_budget_stops_the_run_and_spans_the_learning_rate(tiny_style, tmp_path):
    out = tmp_path / "run"
    train(config(tiny_style, out, steps=10**9, minutes=0.05), progress=False, log=lambda _m: None)  # 3 s
    log = [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines()]
    ckpt = load_checkpoint(out / "checkpoint.pt")
    assert ckpt["step"] == log[-1]["step"] >= 2
    assert 3.0 <= log[-1]["elapsed_s"] < 3.0 + 10 * (log[-1]["elapsed_s"] / log[-1]["step"]) + 2
    lrs = [e["lr"] for e in log]
    assert lrs == sorted(lrs, reverse=True) and lrs[0] <= 0.02 and lrs[-1] < 0.6 * 0.02
    assert (out / "samples" / f"step_{ckpt['step']:06d}.png").exists()
    with pytest.raises(ValueError, match="--minutes must be > 0"):
        config(tiny_style, out, minutes=0)


@pytest.mark.slow
def test_compiled_generator_matches_eager_in_output_and_gradients():
    torch.manual_seed(0)
    eager = new_generator({"k": 3, **TINY_GENERATOR})
    twin = new_generator({"k": 3, **TINY_GENERATOR})
    twin.load_state_dict(eager.state_dict())
    compiled = torch.compile(twin)
    masks = one_hot(torch.randint(0, 3, (2, 32, 32)), 3).float()
    weight = torch.randn(2, 3, 32, 32)  # a loss whose gradient reaches every output pixel
    grads = []
    for model in (eager, compiled):
        image = model(masks, generator=torch.Generator().manual_seed(1))
        (image * weight).sum().backward()
        grads.append((image.detach(), torch.cat([p.grad.flatten() for p in model.parameters()])))
    (image_e, grad_e), (image_c, grad_c) = grads
    assert torch.allclose(image_c, image_e, atol=1e-5)
    assert torch.allclose(grad_c, grad_e, rtol=1e-3, atol=1e-4 * float(grad_e.abs().max()))


@pytest.mark.slow
def test_compiled_training_follows_eager_training(tiny_style, tmp_path):
    # Weights are not compared after the steps: Adam's first steps move each weight by ~lr along the sign of
    # its gradient, so rounding-level differences in near-zero gradients become lr-sized (the test above
    # compares the gradients themselves). The losses, which those weights barely move, are compared.
    for run in ("eager", "compiled"):
        train(config(tiny_style, tmp_path / run, steps=2), progress=False, log=lambda _m: None,
              compile=run == "compiled")
    eager, compiled = ([json.loads(line)["loss"] for line in (tmp_path / run / "log.jsonl").read_text().splitlines()]
                       for run in ("eager", "compiled"))
    assert compiled[0] == pytest.approx(eager[0], rel=1e-4)  # the same first forward
    assert compiled[1] == pytest.approx(eager[1], rel=2e-3)  # after one Adam step from the same gradients
    assert not any(k.startswith("_orig_mod.") for k in load_checkpoint(tmp_path / "compiled" / "checkpoint.pt")["model"])


def test_config_from_dict_refuses_unknown_keys_naming_them(tiny_style, tmp_path):
    stored = config(tiny_style, tmp_path).to_dict()
    assert TrainConfig.from_dict(stored) == config(tiny_style, tmp_path)
    with pytest.raises(ValueError, match="unknown training config key.*lr_halflife"):
        TrainConfig.from_dict(stored | {"lr_halflife": 10})


def test_resuming_a_run_from_before_region_colors_is_refused_in_one_line(tiny_style, tmp_path):
    out = tmp_path / "run"
    train(config(tiny_style, out, steps=2), progress=False, log=lambda _m: None)
    ckpt = load_checkpoint(out / "checkpoint.pt")
    del ckpt["model"]["region_color"]  # the last parameter, as an older doodle wrote it
    group = ckpt["optimizer"]["param_groups"][0]
    del ckpt["optimizer"]["state"][group["params"].pop()]
    torch.save(ckpt, out / "checkpoint.pt")
    with pytest.raises(ValueError, match="optimizer state for another generator") as err:
        train(TrainConfig.from_run(out, steps=4), resume=True, progress=False, log=lambda _m: None)
    assert "\n" not in str(err.value)


def test_refuses_a_folder_of_other_files_and_resume_without_checkpoint(tiny_style, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    (out / "config.json").write_text('{"mine": 1}')  # not a run's config: the user's
    with pytest.raises(ValueError, match=r"holds files no run writes \(config.json, notes.txt\); .*pass --overwrite"):
        train(config(tiny_style, out), progress=False)
    # --resume points at the command that works, not back at --resume.
    with pytest.raises(ValueError, match="nothing to resume.*drop --resume and pass --overwrite") as err:
        train(config(tiny_style, out), resume=True, progress=False)
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="nothing to resume.*drop --resume to start it"):
        train(config(tiny_style, tmp_path / "new"), resume=True, progress=False)
    assert (out / "notes.txt").read_text() == "keep me" and not (out / "legend.png").exists()
    train(config(tiny_style, out, steps=2), overwrite=True, progress=False, log=lambda _m: None)
    assert (out / "notes.txt").read_text() == "keep me" and (out / "checkpoint.pt").exists()


def test_a_run_stopped_before_its_first_checkpoint_is_started_again(tiny_style, tmp_path, monkeypatch):
    import doodle.training.train as train_module

    out = tmp_path / "run"
    real_save = train_module.save_checkpoint

    def interrupted(*_a, **_k):
        raise KeyboardInterrupt

    monkeypatch.setattr(train_module, "save_checkpoint", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train(config(tiny_style, out), progress=False, log=lambda _m: None)
    left = sorted(str(p.relative_to(out)) for p in out.rglob("*"))
    assert "checkpoint.pt" not in left and {"config.json", "legend.png", "log.jsonl", "samples/step_000002.png"} <= set(left)
    style, style_map = tiny_style
    res = CliRunner().invoke(main, ["train", "--style", str(style), "--style-map", str(style_map), "--out", str(out),
                                    "--resume"])
    assert res.exit_code != 0 and "nothing to resume" in res.output and "drop --resume to start it" in res.output
    monkeypatch.setattr(train_module, "save_checkpoint", real_save)
    # The same command again starts the run over, as if the folder were empty.
    train(config(tiny_style, out, sample_every=3), progress=False, log=lambda _m: None)
    assert [json.loads(x)["step"] for x in (out / "log.jsonl").read_text().splitlines()] == [1, 2, 3, 4]
    assert sorted(p.name for p in (out / "samples").iterdir()) == ["step_000003.png", "step_000004.png"]
    with pytest.raises(ValueError, match="holds a run; pass --resume to continue it or --overwrite to replace it"):
        train(config(tiny_style, out), progress=False)


def test_mask_dataset_with_other_k_is_refused(tiny_style, tmp_path):
    _mask_dataset(tmp_path / "m", count=2, regions=4)
    with pytest.raises(ValueError, match="has K=4 but the style map has 3 regions"):
        train(config(tiny_style, tmp_path / "run", masks=str(tmp_path / "m")), progress=False, log=lambda _m: None)


def test_corrupt_mask_file_stops_with_its_name_or_is_skipped(tiny_style, tmp_path):
    bad = _corrupt_mask_dataset(tmp_path / "m")
    with pytest.raises(ValueError, match=bad.name):
        train(config(tiny_style, tmp_path / "r1", masks=str(tmp_path / "m"), steps=3), progress=False,
              log=lambda _m: None)
    model = train(config(tiny_style, tmp_path / "r2", masks=str(tmp_path / "m"), steps=3, skip_corrupt=True),
                  progress=False, log=lambda _m: None)
    assert torch.isfinite(params(model)).all()


def test_cli_errors_are_one_line(tiny_style, tmp_path):
    style, style_map = tiny_style
    res = CliRunner().invoke(main, ["train", "--style", str(style), "--out", str(tmp_path / "r")])
    assert res.exit_code == 2 and "--style-map are required" in res.output
    res = CliRunner().invoke(main, ["train", "--out", str(tmp_path / "nothing"), "--resume"])
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert len(res.output.strip().splitlines()) == 1


def test_lr_halves_every_half_life_down_to_the_floor():
    assert lr_factor(0, 100, 0.05) == pytest.approx(1.0)
    assert lr_factor(100, 100, 0.05) == pytest.approx(0.5)
    assert lr_factor(10_000, 100, 0.05) == pytest.approx(0.05)
    assert lr_factor(10_000, 100, 0.0) < 1e-20


def test_lr_min_ratio_outside_0_to_1_is_refused():
    with pytest.raises(ValueError, match=r"^--lr-min-ratio must be in \[0, 1\], got 1.5$"):
        TrainConfig(style="s.png", style_map="m.png", out="run", lr_min_ratio=1.5)


def _train_cmd(tiny_style, out, steps):
    style, style_map = tiny_style
    return [sys.executable, "-m", "doodle", "train", "--style", str(style), "--style-map", str(style_map),
            "--size", "32", "--batch", "2", "--steps", str(steps), "--style-layers", ",".join(LAYERS),
            "--loss-net", "random", "--precision", "fp32", "--workers", "0", "--width", "4", "--blocks", "1",
            "--checkpoint-every", "1", "--sample-every", "100", "--log-every", "1", "--out", str(out)]


def test_norm_option_reaches_the_checkpoint(tiny_style, tmp_path):
    from click.testing import CliRunner

    from doodle.cli import main

    from doodle.generators.region_norm import RegionInstanceNorm
    from doodle.training.checkpoint import generator_from_checkpoint

    out = tmp_path / "run"
    res = CliRunner().invoke(main, _train_cmd(tiny_style, out, 1)[3:] + ["--norm", "region"])
    assert res.exit_code == 0, res.output
    assert json.loads((out / "config.json").read_text())["generator"]["norm"] == "region"
    model = generator_from_checkpoint(load_checkpoint(out / "checkpoint.pt"))[0]
    assert any(isinstance(m, RegionInstanceNorm) for m in model.modules())


@pytest.mark.slow
def test_kill_9_then_resume_matches_an_uninterrupted_run(tiny_style, tmp_path):
    steps = 12
    ref = tmp_path / "ref"
    subprocess.run(_train_cmd(tiny_style, ref, steps), check=True, capture_output=True)
    out = tmp_path / "killed"
    proc = subprocess.Popen(_train_cmd(tiny_style, out, steps), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline:
        if (out / "log.jsonl").exists() and len((out / "log.jsonl").read_text().splitlines()) >= 3:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    (out / ".tmp-checkpoint.pt.killed.pt").write_bytes(b"half-written")  # as if killed mid-save
    killed_at = load_checkpoint(out / "checkpoint.pt")["step"]
    assert 1 <= killed_at < steps
    subprocess.run(_train_cmd(tiny_style, out, steps)[:-2] + ["--out", str(out), "--resume"], check=True,
                   capture_output=True)
    a, b = load_checkpoint(ref / "checkpoint.pt"), load_checkpoint(out / "checkpoint.pt")
    assert a["step"] == b["step"] == steps
    for key in a["model"]:
        torch.testing.assert_close(a["model"][key], b["model"][key], rtol=0, atol=0)
    assert [json.loads(x)["step"] for x in (out / "log.jsonl").read_text().splitlines()] == list(range(1, steps + 1))
    assert not list(out.rglob(".tmp-*"))


DDP_SCRIPT = r"""
import json, os, sys, torch, torch.distributed as dist
import doodle.training.config, doodle.training.train, doodle.lossnet.weights
cfg, folder, poison = doodle.training.config.TrainConfig(**json.loads(sys.argv[1])), sys.argv[2], sys.argv[3] == "nan"
rank = int(os.environ["RANK"])

def offline_fetch(log=print, timeout=0.0):  # a fresh machine without the index: who tries to fetch?
    with open(os.path.join(folder, "fetches.txt"), "a") as f:
        f.write(f"{rank}\n")
    raise OSError("no package index in this test")

doodle.lossnet.weights.fetch_hed = offline_fetch
if poison and rank == 1:
    step = doodle.training.train.train_step
    doodle.training.train.train_step = lambda *a, **kw: (lambda loss, parts: (loss * float("nan"), parts))(*step(*a, **kw))
try:
    model = doodle.training.train.train(cfg, progress=False, log=lambda _m: None)
except ValueError as exc:
    print(exc)
    sys.exit(3)
torch.save(torch.cat([p.detach().flatten() for p in model.parameters()]), os.path.join(folder, f"rank{rank}.pt"))
dist.destroy_process_group()
"""


def _two_ranks(cfg, folder, poison=False):
    """Run ``cfg`` as two gloo processes; their (return code, output)."""
    script = folder / "ddp_train.py"
    script.write_text(DDP_SCRIPT)
    procs = []
    for rank in range(2):
        env = dict(os.environ, RANK=str(rank), WORLD_SIZE="2", LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                   MASTER_PORT=str(29500 + os.getpid() % 1000), OMP_NUM_THREADS="1")
        env.pop("DOODLE_OFFLINE")  # --loss-net auto tries to fetch, as on a fresh machine
        procs.append(subprocess.Popen([sys.executable, str(script), json.dumps(cfg.to_dict()), str(folder),
                                       "nan" if poison else "-"], env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True))
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    return [(p.returncode, output) for p, output in zip(procs, outputs)]


@pytest.mark.slow
def test_two_gloo_processes_train_as_one_at_twice_the_batch(tiny_style, tmp_path):
    # Without noise inputs, rank r's masks are those the single process draws at batch 4: the same gradients
    # (the mean of the ranks' means) only if DDP synchronizes them.
    # balance 1: every layer's gradient well above rounding (at balance 0 the deep layers' are ~1e-6 of the
    # shallow ones', and Adam turns their rounding into lr-sized steps, so no parameter comparison could hold).
    # No colour term: its gradients through the sort are rounding-level for some weights too (its split over
    # processes is pinned in tests/test_histogram.py).
    tiny = dict(generator=TINY_GENERATOR | {"noise_channels": 0}, steps=3, loss_net="auto", balance=1.0,
                colour_weight=0.0)
    results = _two_ranks(config(tiny_style, tmp_path / "ddp", batch=2, **tiny), tmp_path)
    for code, output in results:
        assert code == 0, output[-2000:]
    assert (tmp_path / "fetches.txt").read_text() == "0\n"  # rank 0 alone tries; rank 1 loads what it resolved
    r0, r1 = torch.load(tmp_path / "rank0.pt"), torch.load(tmp_path / "rank1.pt")
    torch.testing.assert_close(r0, r1, rtol=0, atol=0)
    single = train(config(tiny_style, tmp_path / "single", batch=4, **tiny), progress=False, log=lambda _m: None)
    logs = [[json.loads(x)["loss"] for x in (tmp_path / run / "log.jsonl").read_text().splitlines()]
            for run in ("ddp", "single")]
    # The mean of all ranks, not rank 0's; steps 2 and 3 match only if step 1's gradients were synchronized.
    assert logs[0] == pytest.approx(logs[1], rel=1e-5)
    # Adam turns rounding-level gradients (weights a normalization makes nearly irrelevant; GEMMs of batch 2
    # and 4 round differently, also in the border pixels' patch products) into lr-sized steps: 0.88-0.92 of
    # the weights agree, by thread counts (the ranks run one thread, OMP_NUM_THREADS=1; up to stop 42 they
    # ran one per core from their first region norm on); a rank's batch of 2 trained alone agrees on 0.001.
    assert torch.isclose(r0, params(single), rtol=1e-4, atol=1e-5).float().mean() > 0.8
    assert load_checkpoint(tmp_path / "ddp" / "checkpoint.pt")["step"] == 3


@pytest.mark.slow
def test_a_non_finite_loss_on_one_rank_stops_every_rank(tiny_style, tmp_path):
    results = _two_ranks(config(tiny_style, tmp_path / "ddp", steps=3), tmp_path, poison=True)
    for code, output in results:
        assert code == 3 and "loss became nan at step 1" in output, output[-2000:]


def test_cli_defaults_are_the_config_defaults():
    # The CLI keeps its own defaults (it imports doodle.training.train lazily for a fast --help);
    # they must not drift from TrainConfig's, which the library and the demo use.
    from doodle.cli.train import train as train_command

    defaults = {p.name: p.default for p in train_command.params}
    fields = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
    shared = ["size", "style_size", "batch", "lr", "lr_half_life", "lr_min_ratio", "style_weight", "tv_weight", "relative",
              "map_share", "seed", "sample_every", "checkpoint_every", "log_every", "workers", "content_weight",
              "colour_weight"]
    assert {n: defaults[n] for n in shared} == {n: fields[n] for n in shared}


def test_cli_builds_the_chosen_architecture_and_refuses_options_of_another(tiny_style, tmp_path):
    from doodle.generators.resnet import ResnetGenerator
    from doodle.training.checkpoint import generator_from_checkpoint

    out = tmp_path / "run"
    res = CliRunner().invoke(main, _train_cmd(tiny_style, out, 1)[3:] + ["--downs", "3"])
    assert res.exit_code == 0, res.output
    model = generator_from_checkpoint(load_checkpoint(out / "checkpoint.pt"))[0]
    assert isinstance(model, ResnetGenerator) and (model.width, model.blocks, model.downs) == (4, 1, 3)
    res = CliRunner().invoke(main, _train_cmd(tiny_style, tmp_path / "other", 1)[3:] + ["--arch", "texture"])
    assert res.exit_code == 2 and "--blocks do not apply to --arch texture" in res.output


def test_a_run_from_before_relative_losses_resumes_with_its_own_loss(tiny_style, tmp_path):
    # Runs of doodle <= 0.4 stored neither setting: they trained raw Grams on random masks only.
    cfg = config(tiny_style, tmp_path / "run", steps=1)
    train(cfg, progress=False, log=lambda _m: None)
    ckpt = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    for key in ("relative", "map_share"):
        del ckpt["config"][key]
    save_checkpoint(tmp_path / "run" / "checkpoint.pt", ckpt)
    resumed = TrainConfig.from_run(tmp_path / "run", steps=2)
    assert (resumed.relative, resumed.map_share) == (False, 0.0)
    assert (cfg.relative, cfg.map_share) == (True, 0.25)  # what a new run trains with


def test_a_run_from_before_balance_resumes_with_every_layer_an_equal_say(tiny_style, tmp_path):
    cfg = config(tiny_style, tmp_path / "run", steps=1)
    train(cfg, progress=False, log=lambda _m: None)
    ckpt = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    del ckpt["config"]["balance"]
    save_checkpoint(tmp_path / "run" / "checkpoint.pt", ckpt)
    assert TrainConfig.from_run(tmp_path / "run", steps=2).balance == 1.0
    assert cfg.balance == DOODLE_BALANCE != 1.0  # what a new doodle run trains with, stored as a number
    # Runs stored the balance unresolved (None) until stop 42: doodles trained at 0, whatever today's default.
    ckpt["config"]["balance"] = None
    save_checkpoint(tmp_path / "run" / "checkpoint.pt", ckpt)
    assert TrainConfig.from_run(tmp_path / "run", steps=2).balance == 0.0
    assert load_checkpoint(tmp_path / "run" / "checkpoint.pt")["config"]["balance"] is None
    photos = TrainConfig(style=cfg.style, style_map=None, content=str(tmp_path), out=str(tmp_path / "photos"))
    assert photos.balance == PHOTO_BALANCE == 1.0


def test_doodles_train_with_the_colour_term_and_runs_from_before_it_resume_without(tiny_style, tmp_path):
    cfg = config(tiny_style, tmp_path / "run", steps=1)
    train(cfg, progress=False, log=lambda _m: None)
    first = json.loads((tmp_path / "run" / "log.jsonl").read_text().splitlines()[0])
    assert cfg.colour_weight == DOODLE_COLOUR_WEIGHT > 0 and first["layers"]["colour"] > 0
    photos = TrainConfig(style=cfg.style, style_map=None, content=str(tmp_path), out=str(tmp_path / "photos"))
    assert photos.colour_weight == 0.0  # not measured on photo stylizers
    ckpt = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    del ckpt["config"]["colour_weight"]
    save_checkpoint(tmp_path / "run" / "checkpoint.pt", ckpt)
    assert TrainConfig.from_run(tmp_path / "run", steps=2).colour_weight == 0.0
    with pytest.raises(ValueError, match="--colour-weight must be >= 0"):
        config(tiny_style, tmp_path / "bad", colour_weight=-1.0)


def test_a_library_resume_refuses_settings_of_another_run_naming_them(tiny_style, tmp_path, monkeypatch):
    # The CLI takes a resumed run's settings from its checkpoint; a config built by hand used to be
    # trusted but for k and the loss net, so its size, learning rate or generator trained on silently.
    out = tmp_path / "run"
    train(config(tiny_style, out, steps=2), progress=False, log=lambda _m: None)
    other = config(tiny_style, out, steps=4, size=48, lr=0.5,
                   generator={**TINY_GENERATOR, "borders": "mixed"})
    with pytest.raises(ValueError) as err:
        train(other, resume=True, progress=False, log=lambda _m: None)
    message = str(err.value)
    assert message.startswith("borders (mixed; the run's region); lr (0.5; the run's 0.02); "
                              "size (48; the run's 32); style_size (48; the run's 32): not the settings of the run in ")
    assert "\n" not in message and load_checkpoint(out / "checkpoint.pt")["step"] == 2
    # The same settings, given by hand with the style as a relative path, resume it.
    monkeypatch.chdir(tmp_path)
    same = config(tiny_style, out, steps=3, style=os.path.relpath(tiny_style[0], tmp_path))
    train(same, resume=True, progress=False, log=lambda _m: None)
    assert load_checkpoint(out / "checkpoint.pt")["step"] == 3


def test_resume_refuses_another_loss_network_naming_both(tiny_style, tmp_path):
    out = tmp_path / "run"
    train(config(tiny_style, out, steps=2, loss_net="auto"), progress=False, log=lambda _m: None)  # offline: random
    elsewhere = dataclasses.replace(TrainConfig.from_run(out, steps=4), loss_net="random-vgg16")
    with pytest.raises(ValueError, match=r"random-vgg19-seed0.*random-vgg16-seed0.*--loss-net random\b") as err:
        train(elsewhere, resume=True, progress=False, log=lambda _m: None)
    assert "\n" not in str(err.value)
    same = dataclasses.replace(TrainConfig.from_run(out, steps=3), loss_net="random")  # resolves to the recorded net
    train(same, resume=True, progress=False, log=lambda _m: None)
    assert load_checkpoint(out / "checkpoint.pt")["step"] == 3


def test_resume_restores_the_gradient_scaler_of_fp16_runs(tiny_style, tmp_path, monkeypatch):
    import doodle.training.train

    # fp16 needs CUDA; an enabled scaler on the CPU goes through the same bookkeeping. Growing every
    # finite step, its scale counts the steps it has seen.
    monkeypatch.setattr(doodle.training.train, "grad_scaler",
                        lambda precision, device: torch.amp.GradScaler("cpu", init_scale=2.0**8, growth_interval=1))
    out = tmp_path / "run"
    train(config(tiny_style, out, steps=2), progress=False, log=lambda _m: None)
    assert load_checkpoint(out / "checkpoint.pt")["scaler"]["scale"] == 2.0**10
    train(TrainConfig.from_run(out, steps=4), resume=True, progress=False, log=lambda _m: None)
    assert load_checkpoint(out / "checkpoint.pt")["scaler"]["scale"] == 2.0**12


def test_resume_takes_a_new_budget_and_refuses_other_changed_flags_naming_them(tiny_style, tmp_path):
    out = tmp_path / "run"
    res = CliRunner().invoke(main, _train_cmd(tiny_style, out, 1)[3:])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(main, ["train", "--out", str(out), "--resume", "--steps", "2", "--lr", "0.5",
                                    "--batch", "3", "--raw", "--blocks", "2", "--size", "48"])
    # Named as typed: --size also moves the unset --style-size, which is not reported.
    assert res.exit_code == 2 and res.output.strip().splitlines()[-1].startswith(
        "Error: --batch, --blocks, --lr, --relative, --size differ")
    assert load_checkpoint(out / "checkpoint.pt")["step"] == 1
    # The command line that started the run, plus --resume, is the usual way to continue it.
    res = CliRunner().invoke(main, _train_cmd(tiny_style, out, 2)[3:] + ["--resume", "--minutes", "5"])
    assert res.exit_code == 0, res.output
    stored = json.loads((out / "config.json").read_text())
    assert (stored["steps"], stored["minutes"]) == (2, 5.0)


def test_a_resumed_minutes_run_keeps_its_learning_rate_schedule_and_stops_when_spent(tiny_style, tmp_path, monkeypatch):
    import types

    import doodle.training.train

    class Killed(Exception):
        pass

    # A clock that only training steps advance (one second each) makes the budget's schedule deterministic.
    clock, kill_after = [0.0], [math.inf]
    step = doodle.training.train.train_step

    def one_second_step(*args, **kw):
        clock[0] += 1.0
        if clock[0] > kill_after[0]:
            raise Killed
        return step(*args, **kw)

    monkeypatch.setattr(doodle.training.train, "train_step", one_second_step)
    monkeypatch.setattr(doodle.training.train, "time", types.SimpleNamespace(perf_counter=lambda: clock[0]))
    # Checkpoints at even steps, logs every third: the checkpoint of step 2 has no log line of its own.
    kw = dict(steps=10**9, minutes=6 / 60, checkpoint_every=2, log_every=3, sample_every=100)
    train(config(tiny_style, tmp_path / "full", **kw), progress=False, log=lambda _m: None)
    clock[0], kill_after[0] = 0.0, 3.0
    with pytest.raises(Killed):
        train(config(tiny_style, tmp_path / "killed", **kw), progress=False, log=lambda _m: None)
    assert load_checkpoint(tmp_path / "killed" / "checkpoint.pt")["step"] == 2
    kill_after[0] = math.inf
    train(TrainConfig.from_run(tmp_path / "killed"), resume=True, progress=False, log=lambda _m: None)
    logs = [[(e["step"], e["lr"]) for e in map(json.loads, (tmp_path / run / "log.jsonl").read_text().splitlines())]
            for run in ("full", "killed")]
    assert logs[1] == logs[0] and len(logs[0]) >= 2
    # A finished run resumed with the same budget trains nothing (it used to train one more step).
    said = []
    train(TrainConfig.from_run(tmp_path / "full"), resume=True, progress=False, log=said.append)
    assert load_checkpoint(tmp_path / "full" / "checkpoint.pt")["step"] == logs[0][-1][0]
    log = (tmp_path / "full" / "log.jsonl").read_text().splitlines()
    assert [(e["step"], e["lr"]) for e in map(json.loads, log)] == logs[0]
    assert any("spent its --minutes 0.1 budget" in m for m in said)


def test_a_corrupt_mask_read_by_a_worker_stops_with_its_own_one_line_message(tiny_style, tmp_path):
    # The CLI's default --workers 1: the loader re-raises a worker's error with the worker's whole
    # traceback as its message, which the CLI's one-line error used to print, squashed.
    bad = _corrupt_mask_dataset(tmp_path / "m")
    with pytest.raises(ValueError) as err:
        train(config(tiny_style, tmp_path / "run", masks=str(tmp_path / "m"), map_share=0.0, steps=3, workers=1),
              progress=False, log=lambda _m: None)
    assert str(err.value).startswith(str(bad)) and str(err.value).endswith("or pass --skip-corrupt")
    assert "Traceback" not in str(err.value) and "\n" not in str(err.value)


def test_a_run_on_a_relative_masks_folder_resumes_from_another_folder(tiny_style, tmp_path, monkeypatch):
    # --style and --style-map are stored absolute; --masks was stored as typed, so a resume from
    # another working folder read another dataset, or none.
    _mask_dataset(tmp_path / "m", count=3, regions=3)
    out = tmp_path / "run"
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(main, _train_cmd(tiny_style, out, 1)[3:] + ["--masks", "m"])
    assert res.exit_code == 0, res.output
    assert json.loads((out / "config.json").read_text())["masks"] == str(tmp_path / "m")
    res = CliRunner().invoke(main, ["train", "--out", str(out), "--resume", "--steps", "2", "--masks", "m"])
    assert res.exit_code == 0, res.output  # the same folder, typed again from where the run began
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    res = CliRunner().invoke(main, ["train", "--out", str(out), "--resume", "--steps", "3"])
    assert res.exit_code == 0, res.output
    assert load_checkpoint(out / "checkpoint.pt")["step"] == 3


def test_resume_refuses_a_step_total_below_the_checkpoint_in_one_line(tiny_style, tmp_path):
    out = tmp_path / "run"
    train(config(tiny_style, out, steps=2), progress=False, log=lambda _m: None)
    with pytest.raises(ValueError, match=r"is at step 2, past --steps 1; pass a larger --steps") as err:
        train(TrainConfig.from_run(out, steps=1), resume=True, progress=False, log=lambda _m: None)
    assert "\n" not in str(err.value)
    assert json.loads((out / "config.json").read_text())["steps"] == 2  # the run's total, untouched
    train(TrainConfig.from_run(out), resume=True, progress=False, log=lambda _m: None)  # a finished run: nothing to do
    assert load_checkpoint(out / "checkpoint.pt")["step"] == 2


@pytest.mark.parametrize("bad", [{"style": "nope.png"}, {"style_map": "nope_map.png"}, {"masks": "no_masks"},
                                 {"content": "no_photos"}, {"loss_net": "no_weights.pth"}])
def test_overwrite_keeps_the_old_run_when_the_new_inputs_are_wrong(tiny_style, tmp_path, bad):
    out = tmp_path / "run"
    train(config(tiny_style, out, steps=2), progress=False, log=lambda _m: None)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    wrong = {key: str(tmp_path / value) for key, value in bad.items()}
    with pytest.raises((ValueError, OSError), match=re.escape(next(iter(bad.values())))):  # the mistyped path
        train(config(tiny_style, out, **wrong), overwrite=True, progress=False, log=lambda _m: None)
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_ctrl_c_suggests_resume_only_when_there_is_a_checkpoint_to_resume(tiny_style, tmp_path, monkeypatch):
    import click

    import doodle.training.train as train_module
    from maskgen.clitools import FriendlyGroup

    style, style_map = tiny_style
    out = tmp_path / "run"

    def ctrl_c(*_a, **_k):
        raise KeyboardInterrupt

    def checkpoint_then_ctrl_c(config, **_k):
        (tmp_path / "fresh" / "checkpoint.pt").write_bytes(b"written by this run")
        raise KeyboardInterrupt

    def interrupted(*extra, run=ctrl_c, folder=out):
        monkeypatch.setattr(train_module, "train", run)
        res = CliRunner().invoke(main, ["train", "--style", str(style), "--style-map", str(style_map),
                                        "--out", str(folder), *extra])
        monkeypatch.undo()
        assert res.exit_code == 130 and len(res.output.strip().splitlines()) == 1, res.output
        return res.output

    first = interrupted()  # before the first checkpoint: nothing to resume
    assert "--resume" not in first and "run the same command again" in first
    (tmp_path / "fresh").mkdir()
    assert "with --resume to continue" in interrupted(run=checkpoint_then_ctrl_c, folder=tmp_path / "fresh")
    train(config(tiny_style, out, steps=2), progress=False, log=lambda _m: None)
    assert "with --resume to continue" in interrupted("--resume")
    # The old run's checkpoint is not this --overwrite run's to resume.
    assert "--resume" not in interrupted("--overwrite")

    @click.group(cls=FriendlyGroup)
    def group():
        pass

    @group.command()
    def paint():
        raise KeyboardInterrupt

    res = CliRunner().invoke(group, ["paint"])
    assert res.exit_code == 130 and res.output.strip() == "Interrupted."
