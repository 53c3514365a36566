import pytest
import torch

from doodle.lossnet.vgg import VGGFeatures
from doodle.style.pyramid import mask_pyramid


@pytest.mark.parametrize("h,w", [(37, 23), (16, 16), (33, 47)])
def test_masks_align_with_features_for_odd_sizes(h, w):
    net = VGGFeatures("vgg19", last_layer="relu5_1")
    layers = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]
    feats = net(torch.rand(1, 3, h, w), layers)
    masks = mask_pyramid(net, torch.rand(1, 3, h, w), layers)
    for name in layers:
        assert masks[name].shape[-2:] == feats[name].shape[-2:], name
        assert masks[name].shape[:2] == (1, 3)


def test_partition_of_unity_is_kept_and_full_region_stays_one():
    net = VGGFeatures("vgg19", last_layer="relu3_1")
    labels = torch.randint(0, 3, (1, 21, 19))
    onehot = torch.nn.functional.one_hot(labels, 3).permute(0, 3, 1, 2).float()
    out = mask_pyramid(net, onehot, ["relu1_1", "relu3_1"])
    for m in out.values():
        torch.testing.assert_close(m.sum(1), torch.ones_like(m[:, 0]))
    full = mask_pyramid(net, torch.ones(1, 1, 21, 19), ["relu3_1"])["relu3_1"]
    torch.testing.assert_close(full, torch.ones_like(full))


def test_masks_soften_with_depth():
    net = VGGFeatures("vgg19", last_layer="relu1_2")
    m = torch.zeros(1, 1, 9, 9)
    m[..., 4, 4] = 1
    out = mask_pyramid(net, m, ["relu1_1", "relu1_2"])
    # One 3x3 mean after conv1_1, two after conv1_2.
    assert out["relu1_1"][0, 0, 3:6, 3:6].allclose(torch.full((3, 3), 1 / 9))
    assert (out["relu1_2"] > 0).sum() == 25
    assert out["relu1_2"].sum().item() == pytest.approx(1.0)


def test_unknown_layer_is_refused():
    net = VGGFeatures("vgg19", last_layer="relu2_1")
    with pytest.raises(ValueError, match="relu5_1"):
        mask_pyramid(net, torch.ones(1, 1, 8, 8), ["relu5_1"])
