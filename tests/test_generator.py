import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from doodle.generators.texture import DoodleGenerator


def masks_from_labels(labels: torch.Tensor, k: int) -> torch.Tensor:
    return F.one_hot(labels.long(), k).permute(2, 0, 1)[None].float()


def two_region_labels(h: int, w: int) -> torch.Tensor:
    labels = torch.zeros(h, w, dtype=torch.long)
    labels[:, w // 2:] = 1
    return labels


@pytest.fixture(autouse=True)
def _seeded():
    torch.manual_seed(0)


@pytest.mark.parametrize("size", [(1, 1), (7, 13), (33, 47), (64, 64), (2, 70)])
@pytest.mark.parametrize("scales", [1, 3, 5])
@pytest.mark.parametrize("norm", ["region", "instance"])
def test_any_size_in_gives_same_size_out(size, scales, norm):
    g = DoodleGenerator(k=3, scales=scales, width=4, norm=norm).eval()
    masks = masks_from_labels(two_region_labels(*size), 3)
    with torch.no_grad():
        out = g(masks, noise_seed=0)
    assert out.shape == (1, 3, *size)
    assert out.min() >= 0 and out.max() <= 1


def test_batch_of_masks():
    g = DoodleGenerator(k=2, scales=3, width=4)
    masks = torch.stack([masks_from_labels(two_region_labels(9, 11), 2)[0]] * 3)
    out = g(masks, noise_seed=1)
    assert out.shape == (3, 3, 9, 11)
    # Each image gets its own noise.
    assert not torch.equal(out[0], out[1])


def test_same_seed_same_image_other_seed_other_image():
    g = DoodleGenerator(k=3, scales=3, width=4).eval()
    masks = masks_from_labels(two_region_labels(20, 24), 3)
    with torch.no_grad():
        a = g(masks, noise_seed=5)
        b = g(masks, noise_seed=5)
        c = g(masks, noise_seed=6)
        d = g(masks, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a, b)
    assert torch.equal(a, d)
    assert (a - c).abs().mean() > 1e-3


def test_global_rng_used_without_seed():
    g = DoodleGenerator(k=2, scales=2, width=4).eval()
    masks = masks_from_labels(two_region_labels(8, 8), 2)
    with torch.no_grad():
        torch.manual_seed(3)
        a = g(masks)
        torch.manual_seed(3)
        b = g(masks)
    assert torch.equal(a, b)


def changed_region_fraction(g: DoodleGenerator, dilation: int) -> tuple[float, float]:
    """Share of the output change (and of the area) inside a changed mask box, dilated."""
    n, k = 64, 3
    labels = two_region_labels(n, n)
    changed = labels.clone()
    changed[20:40, 8:28] = 2
    with torch.no_grad():
        diff = (g(masks_from_labels(labels, k), noise_seed=0) - g(masks_from_labels(changed, k), noise_seed=0))
    diff = diff.abs().sum(dim=1)[0]
    box = torch.zeros(1, 1, n, n)
    box[..., 20:40, 8:28] = 1
    inside = F.max_pool2d(box, 2 * dilation + 1, stride=1, padding=dilation)[0, 0] > 0
    return float(diff[inside].sum() / diff.sum()), float(inside.float().mean())


@pytest.mark.parametrize("init_seed", [0, 1, 2])
def test_mask_change_stays_local(init_seed):
    # Batch norm in eval mode has no cross-pixel statistics, so this isolates
    # what the convolutions, joins, padding and crop do: a mask edit must stay
    # near the edited region (receptive field of the fine scales).
    torch.manual_seed(init_seed)
    g = DoodleGenerator(k=3, scales=5, width=8, norm="batch").eval()
    share, area = changed_region_fraction(g, dilation=4)
    assert area < 0.2
    assert share > 0.7


@pytest.mark.parametrize("init_seed", [0, 1, 2])
@pytest.mark.parametrize("norm", ["region", "instance"])
def test_mask_change_is_strongest_inside_with_image_statistics(init_seed, norm):
    # Instance and region norms take statistics over a whole image or region,
    # so at random init part of any edit spreads further; the edited region
    # must still change clearly more per pixel than the rest.
    torch.manual_seed(init_seed)
    g = DoodleGenerator(k=3, norm=norm).eval()
    share, area = changed_region_fraction(g, dilation=4)
    per_pixel_inside = share / area
    per_pixel_outside = (1 - share) / (1 - area)
    assert per_pixel_inside > 1.2 * per_pixel_outside


def test_reflection_padding_only():
    g = DoodleGenerator(k=2, scales=3, width=4)
    convs = [m for m in g.modules() if isinstance(m, nn.Conv2d)]
    assert all(c.padding == (0, 0) for c in convs)
    assert sum(isinstance(m, nn.ReflectionPad2d) for m in g.modules()) == 2 * (3 + 2)


def test_channels_grow_toward_fine_scale():
    g = DoodleGenerator(k=2, scales=4, width=6)
    assert g.to_rgb.in_channels == 24
    assert [j.out_channels for j in g.joins] == [24, 18, 12]


def test_config_round_trip():
    g = DoodleGenerator(k=4, scales=3, width=5, noise_channels=2, norm="batch")
    config = json.loads(json.dumps(g.to_config()))
    assert config == g.config
    h = DoodleGenerator.from_config(config)
    h.load_state_dict(g.state_dict())
    assert h.to_config() == config


def test_from_config_refuses_unknown_keys():
    with pytest.raises(ValueError, match=r"unknown generator config keys \['depth'\]"):
        DoodleGenerator.from_config({"k": 2, "depth": 3})


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"k": 0}, "generator needs k >= 1"),
        ({"k": 2, "scales": 0}, "generator needs scales >= 1"),
        ({"k": 2, "norm": "layer"}, "unknown generator norm 'layer'; use one of instance, region, batch"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DoodleGenerator(**kwargs)


def test_bad_forward_arguments():
    g = DoodleGenerator(k=3, scales=2, width=4)
    with pytest.raises(ValueError, match=r"expects masks of shape \(B, 3, H, W\); got \(1, 2, 5, 5\)"):
        g(torch.zeros(1, 2, 5, 5))
    with pytest.raises(ValueError, match="either noise_seed or generator"):
        g(torch.zeros(1, 3, 5, 5), noise_seed=1, generator=torch.Generator())


@pytest.mark.parametrize("norm", ["region", "instance"])
def test_bf16_autocast_and_channels_last(norm):
    g = DoodleGenerator(k=3, scales=3, width=4, norm=norm).eval()
    masks = masks_from_labels(two_region_labels(17, 21), 3)
    with torch.no_grad():
        reference = g(masks, noise_seed=0)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = g(masks.contiguous(memory_format=torch.channels_last), noise_seed=0)
    assert low.shape == reference.shape
    assert (low.float() - reference).abs().max() < 0.05


@pytest.mark.parametrize("norm", ["region", "instance", "batch"])
def test_gradients_reach_every_parameter(norm):
    g = DoodleGenerator(k=2, scales=3, width=4, norm=norm)
    g(masks_from_labels(two_region_labels(12, 12), 2), noise_seed=0).mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in g.parameters())


def test_without_noise_the_seed_does_not_matter():
    g = DoodleGenerator(k=2, scales=2, width=4, noise_channels=0).eval()
    masks = masks_from_labels(two_region_labels(10, 10), 2)
    with torch.no_grad():
        assert torch.equal(g(masks, noise_seed=0), g(masks, noise_seed=1))


def test_region_colors_paint_each_region_when_the_trunk_is_silent():
    g = DoodleGenerator(k=2, scales=2, width=2)
    with torch.no_grad():
        g.to_rgb.weight.zero_()
        g.to_rgb.bias.zero_()
    image = torch.tensor([[[0.1, 0.9]], [[0.5, 0.3]], [[0.8, 0.2]]])  # (3, 1, 2): one colour per region
    g.init_region_colors(image, torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]]]))
    masks = torch.zeros(1, 2, 3, 5)
    masks[:, 0, :, :2] = 1
    masks[:, 1, :, 2:] = 1
    out = g(masks, noise_seed=0)[0]
    torch.testing.assert_close(out[:, :, :2], image[:, :, :1].expand(3, 3, 2))
    torch.testing.assert_close(out[:, :, 2:], image[:, :, 1:].expand(3, 3, 3))


def test_region_missing_from_the_style_starts_grey():
    g = DoodleGenerator(k=3, scales=2, width=2)
    g.init_region_colors(torch.ones(3, 2, 2), torch.stack([torch.ones(2, 2), torch.zeros(2, 2), torch.zeros(2, 2)]))
    torch.testing.assert_close(torch.sigmoid(g.region_color[1:]), torch.full((2, 3), 0.5))
    assert torch.isfinite(g.region_color).all()


def test_init_region_colors_refuses_masks_of_another_k():
    with pytest.raises(ValueError, match=r"\(2, H, W\) masks"):
        DoodleGenerator(k=2, scales=2, width=2).init_region_colors(torch.ones(3, 4, 4), torch.ones(3, 4, 4))


def test_weights_from_before_region_colors_load_with_zero_colors():
    g = DoodleGenerator(k=2, scales=2, width=2)
    old = {name: value for name, value in g.state_dict().items() if name != "region_color"}
    fresh = DoodleGenerator(k=2, scales=2, width=2)
    with torch.no_grad():
        fresh.region_color.fill_(3.0)
    fresh.load_state_dict(old)
    assert (fresh.region_color == 0).all()
