import numpy as np
import pytest
import torch

from doodle.painting.optimize import OptimizeSettings, optimize_doodle
from doodle.style.loss import RegionStyleLoss, total_variation

LAYERS = ("relu1_1", "relu2_1", "relu3_1")


def two_region_masks(h, w, split):
    m = torch.zeros(1, 2, h, w)
    m[:, 0, :, :split] = 1
    m[:, 1, :, split:] = 1
    return m


def test_loss_is_zero_for_the_style_itself(random_net):
    torch.manual_seed(0)
    style = torch.rand(1, 3, 32, 32)
    masks = two_region_masks(32, 32, 12)
    loss_fn = RegionStyleLoss(random_net, style, masks, layers=LAYERS)
    total, parts = loss_fn(style, masks)
    assert total.item() == pytest.approx(0.0, abs=1e-6)
    assert set(parts) == set(LAYERS)


def test_style_weight_is_really_applied(random_net):
    torch.manual_seed(0)
    style, image = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    masks = two_region_masks(32, 32, 16)
    base, _ = RegionStyleLoss(random_net, style, masks, layers=LAYERS)(image, masks)
    heavy, _ = RegionStyleLoss(random_net, style, masks, layers=LAYERS, style_weight=7.0)(image, masks)
    assert heavy.item() == pytest.approx(7.0 * base.item(), rel=1e-5)


def test_gradients_stay_inside_the_region_that_has_loss(random_net):
    torch.manual_seed(0)
    style = torch.rand(1, 3, 48, 48)
    style_masks = two_region_masks(48, 48, 24)
    # Region 1 is absent from the target: only region 0 (left third) has a loss.
    target_masks = torch.zeros(1, 2, 48, 48)
    target_masks[:, 0, :, :16] = 1
    loss_fn = RegionStyleLoss(random_net, style, style_masks, layers=("relu1_1", "relu2_1"))
    image = torch.rand(1, 3, 48, 48, requires_grad=True)
    total, _ = loss_fn(image, target_masks)
    total.backward()
    g = image.grad.abs().sum(dim=(0, 1))
    # Receptive field of relu2_1 plus mask blur: a few pixels of spill at most.
    assert g[:, 24:].sum() == 0
    assert g[:, :16].sum() > 0.95 * g.sum()


def test_absent_regions_are_skipped_without_nan(random_net):
    style = torch.rand(1, 3, 32, 32)
    style_masks = torch.zeros(1, 3, 32, 32)
    style_masks[:, :2] = two_region_masks(32, 32, 10)  # region 2 absent from the style
    target = torch.zeros(1, 3, 32, 32)
    target[:, 2] = 1  # target uses only the region the style lacks
    total, parts = RegionStyleLoss(random_net, style, style_masks, layers=LAYERS)(torch.rand(1, 3, 32, 32), target)
    assert total.item() == 0.0 and all(torch.isfinite(v) for v in parts.values())


def test_region_count_mismatch_is_refused(random_net):
    loss_fn = RegionStyleLoss(random_net, torch.rand(1, 3, 16, 16), two_region_masks(16, 16, 8), layers=LAYERS)
    with pytest.raises(ValueError, match="3 regions but the style has 2"):
        loss_fn(torch.rand(1, 3, 16, 16), torch.ones(1, 3, 16, 16) / 3)


def test_total_variation_literal():
    x = torch.tensor([[[[0.0, 1.0], [0.0, 1.0]]]])
    assert total_variation(x).item() == pytest.approx(1.0)


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_short_optimization_lowers_the_loss(random_net, optimizer):
    rng = np.random.default_rng(0)
    style = rng.random((24, 24, 3), dtype=np.float32)
    style[:, 12:] *= 0.3  # two visibly different regions
    labels = np.zeros((24, 24), np.uint8)
    labels[:, 12:] = 1
    target = np.ones((20, 26), np.uint8)
    target[:8] = 0
    settings0 = OptimizeSettings(iterations=1, optimizer=optimizer, layers=LAYERS, lr=0.05)
    settings = OptimizeSettings(iterations=15, optimizer=optimizer, layers=LAYERS, lr=0.05)
    _, loss0 = optimize_doodle(random_net, style, labels, target, 2, settings0, progress=False)
    image, loss = optimize_doodle(random_net, style, labels, target, 2, settings, progress=False)
    assert image.shape == (20, 26, 3) and image.min() >= 0 and image.max() <= 1
    assert loss < 0.5 * loss0


def test_coarse_to_fine_gives_the_final_size(random_net):
    style = np.random.default_rng(1).random((20, 20, 3), dtype=np.float32)
    labels = np.zeros((20, 20), np.uint8)
    target = np.zeros((17, 30), np.uint8)
    settings = OptimizeSettings(iterations=2, resolutions=(16, 30), layers=("relu1_1", "relu2_1"))
    image, loss = optimize_doodle(random_net, style, labels, target, 1, settings, progress=False)
    assert image.shape == (17, 30, 3) and np.isfinite(loss)


@pytest.mark.parametrize("balance", [0.0, 0.5, 1.0])
def test_balance_divides_each_layer_by_its_energy_to_that_power_times_the_first_layers(random_net, balance):
    torch.manual_seed(0)
    style, image = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    masks = two_region_masks(32, 32, 12)
    raw_fn = RegionStyleLoss(random_net, style, masks, layers=LAYERS)
    _, raw = raw_fn(image, masks)
    energy = {name: float(getattr(raw_fn, f"target_norm_{name}").sum()) for name in LAYERS}
    _, parts = RegionStyleLoss(random_net, style, masks, layers=LAYERS, relative=True, balance=balance)(image, masks)
    for name in LAYERS:
        expected = float(raw[name]) / (energy[name] ** balance * energy[LAYERS[0]] ** (1 - balance))
        assert float(parts[name]) == pytest.approx(expected, rel=1e-4)
    if balance == 1.0:  # equal say: the judge's relative distance
        with torch.no_grad():
            judged = raw_fn.relative_distances(random_net(image, list(LAYERS)), masks)
        assert [float(parts[n]) for n in LAYERS] == pytest.approx([float(judged[n][0]) for n in LAYERS], rel=1e-5)


def test_balance_outside_zero_to_one_is_refused(random_net):
    masks = two_region_masks(16, 16, 8)
    with pytest.raises(ValueError, match=r"balance must be in \[0, 1\], got 1.5"):
        RegionStyleLoss(random_net, torch.rand(1, 3, 16, 16), masks, layers=LAYERS, relative=True, balance=1.5)


def test_colour_term_holds_each_region_to_its_colours_in_the_painting(random_net):
    torch.manual_seed(0)
    style = torch.rand(1, 3, 32, 32)
    style[:, :, :, 16:] *= 0.2  # the right region dark
    masks = two_region_masks(32, 32, 16)
    plain = RegionStyleLoss(random_net, style, masks, layers=LAYERS)
    coloured = RegionStyleLoss(random_net, style, masks, layers=LAYERS, colour_weight=5.0)
    total, parts = coloured(style, masks)
    assert set(parts) == set(LAYERS) | {"colour"} and total.item() == pytest.approx(0.0, abs=1e-6)
    swapped = style.flip(-1)  # the dark half painted where the bright region is, and back
    base, _ = plain(swapped, masks)
    total, parts = coloured(swapped, masks)
    assert parts["colour"].item() > 0.01
    assert total.item() == pytest.approx(base.item() + 5.0 * parts["colour"].item(), rel=1e-5)
    # The painting's colours move with the module (buffers), and a negative weight is refused.
    assert {"colour_directions", "colour_target_0", "colour_target_1"} <= dict(coloured.named_buffers()).keys()
    with pytest.raises(ValueError, match="colour weight must be >= 0"):
        RegionStyleLoss(random_net, style, masks, layers=LAYERS, colour_weight=-1.0)
