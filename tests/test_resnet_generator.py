import json

import numpy as np
import pytest
import torch

from doodle.generators.region_norm import RegionInstanceNorm
from doodle.generators.registry import ARCHS, build_generator
from doodle.generators.resnet import ResnetGenerator, gather_pixels, majority_labels, region_conv, region_upsample
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
                      "norm": "batch", "negative_slope": 0.2, "aligned": True, "borders": "region", "downs": 2}
    h = build_generator(config)
    h.load_state_dict(g.state_dict())
    assert isinstance(h, ResnetGenerator) and h.to_config() == config
    assert set(ARCHS) == {"texture", "resnet"}


@pytest.mark.parametrize("downs", [1, 3])
def test_more_or_fewer_downsamplings_paint_any_size_from_their_own_regions(downs):
    g = ResnetGenerator(k=2, width=4, blocks=1, downs=downs).eval()
    assert g.multiple == 2 ** downs and len(g.down) == len(g.up) == downs
    assert g.body[0].second.conv.out_channels == 4 * 2 ** downs
    masks = two_regions(13, 18)
    image = g(masks, noise_seed=0)
    assert image.shape == (1, 3, 13, 18)
    swapped = g(masks.flip(1), noise_seed=0)  # the regions' places exchanged: another picture
    assert not torch.allclose(image, swapped)


def test_configs_from_before_downs_keep_two():
    old = {"arch": "resnet", "k": 2, "width": 4, "blocks": 1, "aligned": True, "borders": "region"}
    g = build_generator(old)
    assert g.downs == 2 and g.multiple == 4
    assert sorted(k for k in g.state_dict() if k.startswith(("down.", "up."))) == sorted(
        k for k in ResnetGenerator(k=2, width=4, blocks=1).state_dict() if k.startswith(("down.", "up.")))


def test_configs_from_before_architectures_build_texture_networks():
    g = build_generator({"k": 3, "scales": 2, "width": 4})
    assert isinstance(g, DoodleGenerator) and g.to_config()["arch"] == "texture"


@pytest.mark.parametrize("config, message", [
    ({"arch": "unet", "k": 2}, "unknown generator arch 'unet'; this doodle knows texture, resnet"),
    ({"arch": "resnet", "k": 2, "scales": 3}, r"unknown generator config keys \['scales'\]"),
    ({"arch": "resnet", "k": 2, "blocks": -1}, "blocks >= 0"),
    ({"arch": "resnet", "k": 2, "downs": 0}, "downs >= 1"),
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
    assert g.borders == "mixed"
    assert build_generator({**old, "aligned": True}).down[0].conv.kernel_size == (4, 4)


@pytest.mark.parametrize("aligned, offset", [(True, 1.5), (False, 0.0)])
def test_quarter_resolution_features_are_centred_on_the_cells_their_masks_label(aligned, offset):
    # With positive, symmetric kernels the centroid of a 1/4-resolution feature's
    # input gradient is the centre of what it sees. majority_labels labels it with
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


def majority_cells(fine):
    """One-hot (B, K, H/2, W/2) of the 2x2 cells' majority regions."""
    return torch.nn.functional.one_hot(majority_labels(fine, 2)[:, 0], fine.shape[1]).permute(0, 3, 1, 2).float()


def test_region_upsampling_feeds_each_pixel_only_from_cells_of_its_own_region():
    labels = torch.from_numpy(maskgen.make_mask(maskgen.MaskParams(width=32, height=32, regions=(3, 3)), 2, 0).labels)
    fine = torch.nn.functional.one_hot(labels.long(), 3).permute(2, 0, 1)[None].float()
    coarse = majority_cells(fine)
    x = torch.randn(1, 5, 16, 16)
    changed = x + 10 * coarse[:, 1:2]  # change the features of region 1's cells only
    up = lambda features: region_upsample(features, coarse.argmax(1, keepdim=True), labels[None, None])  # noqa: E731
    before, after = up(x), up(changed)
    # Every pixel of another region with a cell of its own region among the 3x3 around its cell is untouched.
    near = torch.nn.functional.max_pool2d(coarse, 3, stride=1, padding=1)
    near = torch.nn.functional.interpolate(near, scale_factor=2.0)
    other = (fine[:, 1] == 0) & ((fine * near).sum(1) == 1)
    assert other.sum() > 500 and (fine[:, 1] == 1).sum() > 100
    assert torch.equal(before[0, :, other[0]], after[0, :, other[0]])
    # Pixels whose cell is of their own region take that cell's features, as nearest upsampling does.
    same = (fine * torch.nn.functional.interpolate(coarse, scale_factor=2.0)).sum(1) == 1
    nearest = torch.nn.functional.interpolate(x, scale_factor=2.0)
    assert torch.equal(before[0, :, same[0]], nearest[0, :, same[0]]) and not same.all()


def dense_region_upsample(x, coarse, fine):
    """The definition, densely: per region, the mean of its cells among the 3x3, where a pixel's cell is another's."""
    up = torch.nn.functional.interpolate(x, scale_factor=2.0)
    same = (fine * torch.nn.functional.interpolate(coarse, scale_factor=2.0)).sum(1, keepdim=True)
    out = up * same
    for k in range(coarse.shape[1]):
        ck = coarse[:, k:k + 1]
        count = torch.nn.functional.avg_pool2d(ck, 3, stride=1, padding=1, count_include_pad=False)
        mean = torch.nn.functional.avg_pool2d(x * ck, 3, stride=1, padding=1, count_include_pad=False)
        mean = torch.where(count > 0, mean / count.clamp_min(1e-6), x)
        out = out + torch.nn.functional.interpolate(mean, scale_factor=2.0) * fine[:, k:k + 1] * (1 - same)
    return out


def test_region_upsampling_matches_its_definition_on_a_random_map():
    torch.manual_seed(0)
    labels = np.stack([maskgen.make_mask(maskgen.MaskParams(width=30, height=22, regions=(4, 4)), 3, i).labels
                       for i in range(2)])
    fine = torch.nn.functional.one_hot(torch.from_numpy(labels).long(), 4).permute(0, 3, 1, 2).float()
    coarse = majority_cells(fine)
    x = torch.randn(2, 5, 11, 15, requires_grad=True)
    fast = region_upsample(x, coarse.argmax(1, keepdim=True), fine.argmax(1, keepdim=True))
    dense = dense_region_upsample(x, coarse, fine)
    assert not torch.equal(dense, torch.nn.functional.interpolate(x, scale_factor=2.0))  # the map has borders
    torch.testing.assert_close(fast, dense)
    grads = [torch.autograd.grad(out.square().sum(), x)[0] for out in (fast, dense)]
    torch.testing.assert_close(*grads)


def test_mixed_borders_are_kept_for_the_configs_that_trained_with_them():
    masks = two_regions(13, 18)
    g = ResnetGenerator(k=2, width=4, blocks=1, borders="mixed").eval()
    h = build_generator(g.to_config())
    h.load_state_dict(g.state_dict())
    assert h.borders == "mixed" and torch.equal(g(masks, noise_seed=1), h(masks, noise_seed=1))
    with pytest.raises(ValueError, match="borders must be 'region' or 'mixed'"):
        ResnetGenerator(k=2, borders="soft")


def dense_region_conv(conv, x, labels):
    """The definition, slowly: every neighbour of another region replaced by the pixel itself."""
    h, w = x.shape[-2:]
    xp = torch.nn.functional.pad(x, (1, 1, 1, 1), mode="reflect")
    lp = torch.nn.functional.pad(labels, (1, 1, 1, 1), mode="reflect")
    out = conv.bias[:, None, None].expand(x.shape[0], -1, h, w).clone()
    for i in range(3):
        for j in range(3):
            neighbour = torch.where(lp[..., i:i + h, j:j + w] == labels, xp[..., i:i + h, j:j + w], x)
            out += torch.nn.functional.conv2d(neighbour, conv.weight[:, :, i:i + 1, j:j + 1])
    return out


def test_region_convolution_matches_its_definition_on_a_random_map():
    torch.manual_seed(0)
    labels = torch.from_numpy(maskgen.make_mask(maskgen.MaskParams(width=24, height=20, regions=(4, 4)), 1, 0).labels)
    labels = labels[None, None].float().expand(2, 1, -1, -1)
    conv, x = torch.nn.Conv2d(5, 3, 3), torch.randn(2, 5, 20, 24, requires_grad=True)
    torch.testing.assert_close(region_conv(conv, x, labels), dense_region_conv(conv, x, labels))
    region_conv(conv, x, labels).square().sum().backward()
    fast = x.grad.clone()
    x.grad = None
    dense_region_conv(conv, x, labels).square().sum().backward()
    torch.testing.assert_close(fast, x.grad)


def test_region_convolution_is_a_plain_convolution_inside_a_region_and_never_reads_across_a_border():
    conv = torch.nn.Conv2d(3, 4, 3)
    x = torch.randn(2, 3, 9, 12)
    one = torch.zeros(2, 1, 9, 12)
    plain = conv(torch.nn.functional.pad(x, (1, 1, 1, 1), mode="reflect"))
    torch.testing.assert_close(region_conv(conv, x, one), plain)
    labels = torch.zeros(2, 1, 9, 12)
    labels[..., 6:] = 1
    changed = x.clone()
    changed[..., 6:] += 5  # region 1's features only
    left = region_conv(conv, x, labels)[..., :6], region_conv(conv, changed, labels)[..., :6]
    assert torch.equal(*left)
    assert not torch.equal(region_conv(conv, x, labels)[..., 6:], region_conv(conv, changed, labels)[..., 6:])


def test_a_region_border_output_does_not_depend_on_the_other_regions_full_resolution_features():
    # The last two full-resolution convolutions read only their own region: changing region 1's
    # features just before them leaves region 0's pixels as they were.
    g = ResnetGenerator(k=2, width=4, blocks=1).eval()
    masks = two_regions(16, 16)
    before = g(masks, noise_seed=0)
    handle = g.up[1].register_forward_pre_hook(lambda m, args: (args[0] + 3 * masks[:, 1:2], *args[1:]))
    after = g(masks, noise_seed=0)
    handle.remove()
    assert torch.equal(before[..., :8], after[..., :8]) and not torch.equal(before[..., 8:], after[..., 8:])


def test_gathered_border_features_give_the_same_gradients_every_time():
    # A resumed run must take the steps an uninterrupted one takes, so the pixels region_conv and
    # region_upsample read more than once must add their gradients in one order (advanced indexing's
    # CPU backward adds them with parallel atomic adds: here it differed on almost every call).
    torch.manual_seed(0)
    x = torch.randn(4, 64, 64, 64).contiguous(memory_format=torch.channels_last)
    b, rows, cols = torch.randint(0, 4, (5000, 1)), torch.randint(0, 64, (5000, 9)), torch.randint(0, 64, (5000, 9))
    upstream = torch.randn(5000, 9, 64)
    grads = []
    for _ in range(8):
        leaf = x.clone().requires_grad_(True)
        picked = gather_pixels(leaf, b, rows, cols)
        grads.append(torch.autograd.grad(picked, leaf, upstream)[0])
    assert torch.equal(picked.detach(), x[b, :, rows, cols])
    assert all(torch.equal(g, grads[0]) for g in grads[1:])
