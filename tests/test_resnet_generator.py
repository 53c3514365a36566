import json

import numpy as np
import pytest
import torch

from doodle.generators.region_norm import RegionInstanceNorm
from doodle.generators.registry import ARCHS, build_generator
from doodle.generators.resnet import ResnetGenerator
from doodle.generators.texture import DoodleGenerator
from doodle.training.maskdata import TrainingMasks

import maskgen


def two_regions(h: int, w: int, batch: int = 1) -> torch.Tensor:
    masks = torch.zeros(batch, 2, h, w)
    masks[:, 0, :, : w // 2] = 1
    masks[:, 1, :, w // 2:] = 1
    return masks


@pytest.mark.parametrize("size", [(1, 1), (3, 5), (7, 13), (33, 47), (64, 64)])
@pytest.mark.parametrize("norm", ["region", "instance"])
def test_any_size_in_gives_same_size_out(size, norm):
    g = ResnetGenerator(k=2, width=4, blocks=1, norm=norm).eval()
    out = g(two_regions(*size), noise_seed=0)
    assert out.shape == (1, 3, *size)
    assert torch.isfinite(out).all() and 0 <= out.min() and out.max() <= 1


def test_same_seed_same_image_other_seed_other_image():
    g = ResnetGenerator(k=2, width=4, blocks=1).eval()
    masks = two_regions(16, 24)
    assert torch.equal(g(masks, noise_seed=3), g(masks, noise_seed=3))
    assert not torch.equal(g(masks, noise_seed=3), g(masks, noise_seed=4))


def test_the_mask_is_injected_at_every_norm_and_residual_block():
    g = ResnetGenerator(k=3, width=4, blocks=2)
    norms = [m for m in g.modules() if isinstance(m, RegionInstanceNorm)]
    assert len(norms) == 1 + 2 + 2 * 2 + 2  # stem, two downs, two per block, two ups
    assert all(block.first.conv.in_channels == 4 * 4 + 3 for block in g.body)  # features + the pooled mask


def test_gradients_reach_every_parameter():
    g = ResnetGenerator(k=2, width=4, blocks=1)
    g(two_regions(12, 12, batch=2), noise_seed=0).mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in g.parameters())


def test_config_round_trip_through_the_architecture_registry():
    g = ResnetGenerator(k=4, width=3, blocks=2, noise_channels=1, norm="batch")
    config = json.loads(json.dumps(g.to_config()))
    assert config == {"arch": "resnet", "k": 4, "width": 3, "blocks": 2, "noise_channels": 1, "image_channels": 0,
                      "norm": "batch", "negative_slope": 0.2, "aligned": True}
    h = build_generator(config)
    h.load_state_dict(g.state_dict())
    assert isinstance(h, ResnetGenerator) and h.to_config() == config
    assert set(ARCHS) == {"texture", "resnet"}


def test_configs_from_before_architectures_build_texture_networks():
    g = build_generator({"k": 3, "scales": 2, "width": 4})
    assert isinstance(g, DoodleGenerator) and g.to_config()["arch"] == "texture"


@pytest.mark.parametrize("config, message", [
    ({"arch": "unet", "k": 2}, "unknown generator arch 'unet'; this doodle knows texture, resnet"),
    ({"arch": "resnet", "k": 2, "scales": 3}, r"unknown generator config keys \['scales'\]"),
    ({"arch": "resnet", "k": 2, "blocks": -1}, "blocks >= 0"),
])
def test_bad_configs_are_refused(config, message):
    with pytest.raises(ValueError, match=message):
        build_generator(config)


def test_an_image_input_is_required_by_and_only_by_image_generators():
    photo = ResnetGenerator(k=2, width=4, blocks=1, noise_channels=0, image_channels=3).eval()
    masks = two_regions(9, 11)
    with pytest.raises(ValueError, match=r"takes an image of shape \(1, 3, 9, 11\); got none"):
        photo(masks)
    with pytest.raises(ValueError, match=r"got \(1, 3, 9, 10\)"):
        photo(masks, image=torch.rand(1, 3, 9, 10))
    with pytest.raises(ValueError, match="takes no image"):
        ResnetGenerator(k=2, width=4, blocks=1)(masks, image=torch.rand(1, 3, 9, 11))
    image = torch.rand(1, 3, 9, 11)
    changed = image.clone()
    changed[..., :3, :3] = 1 - changed[..., :3, :3]
    assert photo(masks, image=image).shape == (1, 3, 9, 11)
    assert not torch.equal(photo(masks, image=image), photo(masks, image=changed))


def test_style_crops_replace_the_given_share_of_training_masks():
    params = maskgen.MaskParams(width=16, height=16, regions=(2, 2))
    style = np.zeros((24, 40), np.uint8)
    style[:, 20:] = 1
    plain = TrainingMasks(2, 16, seed=5, params=params)
    mixed = TrainingMasks(2, 16, seed=5, params=params, style_labels=style, style_share=0.5)
    same = [torch.equal(plain[i], mixed[i]) for i in range(40)]
    assert 10 <= sum(same) <= 30  # about half are the random masks, unchanged
    for i in (i for i, s in enumerate(same) if not s):
        crop = mixed[i].numpy()
        assert crop.shape == (16, 16)
        # A crop of a left/right split is a left/right split: every row reads 0...0 1...1 (or its mirror).
        assert all((np.diff(row.astype(int)) != 0).sum() <= 1 for row in crop)
    again = TrainingMasks(2, 16, seed=5, params=params, style_labels=style, style_share=0.5)
    assert all(torch.equal(mixed[i], again[i]) for i in range(40))  # a function of (seed, index)
    with pytest.raises(ValueError, match="style_share must be in"):
        TrainingMasks(2, 16, seed=0, params=params, style_share=0.5)


def test_configs_from_before_alignment_build_the_3x3_downsampling_they_trained():
    old = {"arch": "resnet", "k": 2, "width": 4, "blocks": 1, "noise_channels": 0, "image_channels": 0,
           "norm": "region", "negative_slope": 0.2}
    g = build_generator(old)
    assert not g.aligned and all(d.conv.kernel_size == (3, 3) for d in g.down)
    assert build_generator({**old, "aligned": True}).down[0].conv.kernel_size == (4, 4)


@pytest.mark.parametrize("aligned, offset", [(True, 1.5), (False, 0.0)])
def test_quarter_resolution_features_are_centred_on_the_cells_their_masks_label(aligned, offset):
    # With positive, symmetric kernels the centroid of a 1/4-resolution feature's
    # input gradient is the centre of what it sees. majority_pool labels it with
    # the region of cell j, rows 4j..4j+3, centred at 4j + 1.5: the aligned
    # encoder looks there, the old one 1.5 px up and left.
    g = ResnetGenerator(k=1, width=1, blocks=0, noise_channels=0, aligned=aligned)
    x = torch.zeros(1, 1, 32, 32, requires_grad=True)
    y = x
    for down in g.down:
        torch.nn.init.ones_(down.conv.weight)
        y = down.conv(down.pad(y))
    y[0, 0, 3, 4].backward()
    weight = x.grad[0, 0].abs()
    rows, cols = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    centre = ((weight * rows).sum() / weight.sum(), (weight * cols).sum() / weight.sum())
    assert (float(centre[0]), float(centre[1])) == pytest.approx((4 * 3 + offset, 4 * 4 + offset))
