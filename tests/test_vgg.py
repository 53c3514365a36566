"""VGGFeatures: torchvision layout, truncation, pooling, sizes, preprocessing and random weights."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from doodle.lossnet.vgg import DEFAULT_STYLE_LAYERS, VGG_LAYER_NAMES, VGGFeatures, conv_shapes, init_random_

# torchvision.models.vgg19().features: conv layers sit at these indices.
VGG19_CONV_INDICES = [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34]
VGG16_CONV_INDICES = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]


def _keys(indices):
    return [f"features.{i}.{p}" for i in indices for p in ("weight", "bias")]


@pytest.mark.parametrize(
    "arch, indices, n_modules", [("vgg19", VGG19_CONV_INDICES, 37), ("vgg16", VGG16_CONV_INDICES, 31)]
)
def test_state_dict_keys_match_torchvision(arch, indices, n_modules):
    net = VGGFeatures(arch, last_layer="pool5")
    assert list(net.state_dict()) == _keys(indices)
    assert list(conv_shapes(arch)) == _keys(indices)
    assert len(VGG_LAYER_NAMES[arch]) == n_modules == len(net.features)
    for name, module in zip(net.layer_names, net.features):
        kind = {"conv": nn.Conv2d, "relu": nn.ReLU, "pool": nn.AvgPool2d}[name[:4]]
        assert isinstance(module, kind), name
    assert net.state_dict()["features.10.weight"].shape == (256, 128, 3, 3)


def test_layer_names_by_index():
    names = VGG_LAYER_NAMES["vgg19"]
    assert names[:6] == ["conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1", "conv2_1"]
    assert names[18] == "pool3" and names[22] == "relu4_2"
    assert names[34:] == ["conv5_4", "relu5_4", "pool5"]
    assert VGG_LAYER_NAMES["vgg16"][28:] == ["conv5_3", "relu5_3", "pool5"]


def test_truncation_after_last_layer():
    net = VGGFeatures("vgg19", last_layer="relu2_1")
    assert net.layer_names == ["conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1", "conv2_1", "relu2_1"]
    assert list(net.state_dict()) == _keys([0, 2, 5])
    with pytest.raises(ValueError, match="not in this network.*valid names are conv1_1, relu1_1"):
        net(torch.rand(1, 3, 8, 8), ["relu3_1"])


def test_forward_stops_after_deepest_requested_layer():
    net = VGGFeatures("vgg16", last_layer="relu3_1")
    called = []
    for name, module in zip(net.layer_names, net.features):
        module.register_forward_hook(lambda *_, name=name: called.append(name))
    out = net(torch.rand(1, 3, 8, 8), ["relu1_1", "conv2_1"])
    assert set(out) == {"relu1_1", "conv2_1"}
    assert called[-1] == "conv2_1"


@pytest.mark.parametrize(
    "pooling, pool_fn, module_type", [("avg", F.avg_pool2d, nn.AvgPool2d), ("max", F.max_pool2d, nn.MaxPool2d)]
)
def test_pooling_kind(pooling, pool_fn, module_type):
    net = VGGFeatures("vgg19", last_layer="pool1", pooling=pooling)
    assert isinstance(net.features[4], module_type)
    out = net(torch.rand(2, 3, 7, 6, generator=torch.Generator().manual_seed(0)), ["relu1_2", "pool1"])
    torch.testing.assert_close(out["pool1"], pool_fn(out["relu1_2"], 2, 2))
    assert out["pool1"].shape == (2, 64, 3, 3)


def test_odd_sizes_floor_at_each_pool():
    net = VGGFeatures("vgg19", last_layer="relu5_1")
    layers = ["relu1_1", "pool1", "relu2_1", "pool2", "relu3_1", "pool3", "relu4_1", "pool4", "relu5_1"]
    out = net(torch.rand(1, 3, 37, 19), layers)
    sizes = [tuple(out[name].shape[-2:]) for name in layers]
    assert sizes == [(37, 19), (18, 9), (18, 9), (9, 4), (9, 4), (4, 2), (4, 2), (2, 1), (2, 1)]


def test_too_small_image_is_a_one_line_error():
    net = VGGFeatures("vgg19", last_layer="relu3_1")
    assert net(torch.rand(1, 3, 1, 1), ["relu1_1"])["relu1_1"].shape == (1, 64, 1, 1)
    with pytest.raises(ValueError, match="image of 3x9 pixels is too small for layer relu3_1: it needs at least 4"):
        net(torch.rand(1, 3, 3, 9), ["relu3_1"])


def _identity_first_conv(net):
    # conv1_1 copies input channel c to output channel c (centre tap), so relu1_1 shows the input.
    conv = net.features[0]
    conv.weight.zero_()
    conv.bias.zero_()
    for c in range(3):
        conv.weight[c, c, 1, 1] = 1.0


def test_caffe_preprocessing_is_bgr_255_minus_mean():
    net = VGGFeatures("vgg16", last_layer="relu1_1", preprocessing="caffe")
    _identity_first_conv(net)
    rgb = torch.tensor([1.0, 0.9, 0.8]).view(1, 3, 1, 1)
    out = net(rgb, ["relu1_1"])["relu1_1"][0, :3, 0, 0]
    # The Caffe VGG mean, BGR: 103.939, 116.779, 123.68.
    expected = torch.tensor([0.8 * 255 - 103.939, 0.9 * 255 - 116.779, 255 - 123.68])
    torch.testing.assert_close(out, expected)


def test_torchvision_preprocessing_is_imagenet_mean_std():
    net = VGGFeatures("vgg19", last_layer="relu1_1")
    rgb = torch.tensor([0.9, 0.1, 0.5]).view(1, 3, 1, 1)
    # torchvision's ImageNet mean and std.
    expected = (rgb.flatten() - torch.tensor([0.485, 0.456, 0.406])) / torch.tensor([0.229, 0.224, 0.225])
    torch.testing.assert_close(net.preprocess(rgb).flatten(), expected)


def test_frozen_eval_but_differentiable_wrt_image():
    net = VGGFeatures("vgg19", last_layer="relu2_1")
    assert not net.training
    assert not any(p.requires_grad for p in net.parameters())
    image = torch.rand(1, 3, 6, 5, requires_grad=True)
    net(image, ["relu2_1"])["relu2_1"].square().sum().backward()
    assert image.grad is not None and image.grad.abs().sum() > 0
    assert all(p.grad is None for p in net.parameters())


def test_bad_arguments_are_one_line_errors():
    with pytest.raises(ValueError, match=r"unknown vgg16 layer\(s\) relu5_4: valid names are conv1_1, relu1_1"):
        VGGFeatures("vgg16", last_layer="relu5_4")
    with pytest.raises(ValueError, match="unknown pooling 'mean': choose one of avg, max"):
        VGGFeatures(pooling="mean")
    with pytest.raises(ValueError, match="unknown architecture 'vgg11'"):
        VGGFeatures("vgg11")
    with pytest.raises(ValueError, match=r"expected an RGB batch of shape \(B, 3, H, W\), got \(3, 4, 4\)"):
        VGGFeatures(last_layer="relu1_1")(torch.rand(3, 4, 4), ["relu1_1"])


@pytest.mark.parametrize("arch, pooling", [("vgg19", "avg"), ("vgg16", "max")])
def test_random_weights_keep_activation_magnitude(arch, pooling):
    net = init_random_(VGGFeatures(arch, "relu5_1", pooling), seed=3)
    image = torch.rand(1, 3, 80, 72, generator=torch.Generator().manual_seed(11))
    out = net(image, DEFAULT_STYLE_LAYERS)
    rms = [out[name].square().mean().sqrt().item() for name in DEFAULT_STYLE_LAYERS]
    assert max(rms) / min(rms) < 1.5, rms
    assert all(0.5 < r < 2.0 for r in rms), rms


def test_random_weights_are_seeded():
    a, b, c = (init_random_(VGGFeatures(last_layer="relu2_1"), seed=s) for s in (0, 0, 1))
    assert a.net_id == "random-vgg19-seed0" and c.net_id == "random-vgg19-seed1"
    assert all(torch.equal(a.state_dict()[k], b.state_dict()[k]) for k in a.state_dict())
    assert not torch.equal(a.features[0].weight, c.features[0].weight)
    # Truncating deeper does not change the shared layers: the draws happen in layer order.
    deep = init_random_(VGGFeatures(last_layer="relu3_1"), seed=0)
    assert all(torch.equal(a.state_dict()[k], deep.state_dict()[k]) for k in a.state_dict())
