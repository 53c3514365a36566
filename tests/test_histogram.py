"""Region colour distributions: doodle.style.histogram."""

import torch

from doodle.style.histogram import MIN_PIXELS, colour_directions, region_colour_distance, region_colour_targets


def _two_regions(width: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """A painting whose left half alternates black and white columns, right half pure red; its labels."""
    painting = torch.zeros(3, 8, width)
    painting[:, :, 0:width // 2:2] = 1.0
    painting[0, :, width // 2:] = 1.0
    labels = torch.zeros(8, width, dtype=torch.long)
    labels[:, width // 2:] = 1
    return painting, labels


def test_the_same_colours_in_another_layout_and_count_are_at_distance_zero():
    directions = colour_directions()
    painting, labels = _two_regions()
    targets = region_colour_targets(painting, labels, 2, directions)
    # Twice the pixels per region, the left half's black and white in rows instead of columns.
    image = torch.zeros(1, 3, 8, 16)
    image[..., 0:8:2, :8] = 1.0
    image[:, 0, :, 8:] = 1.0
    image_labels = torch.zeros(1, 8, 16, dtype=torch.long)
    image_labels[..., 8:] = 1
    assert float(region_colour_distance(image, image_labels, targets, directions)) < 1e-6


def test_wrong_shares_of_the_right_colours_count():
    directions = colour_directions()
    painting, labels = _two_regions()
    targets = region_colour_targets(painting, labels, 2, directions)
    image = painting[None].clone()
    image[..., :4] = 1.0  # the left region all white: the right colours, the wrong histogram
    assert float(region_colour_distance(image, labels[None], targets, directions)) > 0.05


def test_every_region_counts_the_same_whatever_its_area():
    directions = colour_directions()
    painting, labels = _two_regions()
    targets = region_colour_targets(painting, labels, 2, directions)
    small, big = torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 16)  # black everywhere
    small_labels = torch.zeros(1, 8, 8, dtype=torch.long)
    small_labels[..., 4:] = 1
    big_labels = torch.zeros(1, 8, 16, dtype=torch.long)
    big_labels[..., 4:] = 1  # the red region three times the area of the other
    assert torch.isclose(region_colour_distance(small, small_labels, targets, directions),
                         region_colour_distance(big, big_labels, targets, directions), atol=1e-6)


def test_descending_the_distance_paints_each_region_in_its_colours():
    directions = colour_directions()
    painting, labels = _two_regions()
    targets = region_colour_targets(painting, labels, 2, directions)
    image = torch.full((1, 3, 8, 8), 0.5, requires_grad=True)
    optimizer = torch.optim.Adam([image], lr=0.05)
    start = float(region_colour_distance(image.detach(), labels[None], targets, directions))
    for _ in range(200):
        optimizer.zero_grad()
        region_colour_distance(image, labels[None], targets, directions).backward()
        optimizer.step()
    assert float(region_colour_distance(image.detach(), labels[None], targets, directions)) < 0.01 * start
    right = image.detach()[0, :, :, 4:]
    assert torch.allclose(right, torch.tensor([1.0, 0.0, 0.0])[:, None, None].expand_as(right), atol=0.1)
    left = image.detach()[0, :, :, :4].mean(0)  # grey 0.5 went to black or white, half each
    assert torch.all((left < 0.1) | (left > 0.9)) and abs(float((left > 0.5).float().mean()) - 0.5) < 0.01


def test_regions_too_small_to_compare_are_skipped_with_a_zero_gradient():
    directions = colour_directions()
    painting, labels = _two_regions()
    targets = region_colour_targets(painting, labels, 2, directions)
    image = torch.rand(1, 3, 8, 8, requires_grad=True)
    few = torch.zeros(1, 8, 8, dtype=torch.long)
    few[0, 0, : MIN_PIXELS - 1] = 1  # region 1 has too few pixels; region 0 is compared
    assert torch.equal(region_colour_distance(image, few, targets, directions),
                       region_colour_distance(image, few, targets[:1], directions))
    absent = [targets[0][:0], targets[1][:0]]  # a painting with neither region
    distance = region_colour_distance(image, labels[None], absent, directions)
    distance.backward()
    assert float(distance.detach()) == 0.0 and float(image.grad.abs().sum()) == 0.0


def test_a_batch_split_in_two_averages_to_the_whole_batch_loss():
    # DDP averages the processes' losses: the term must be a mean over images, whatever their regions.
    directions = colour_directions()
    painting, labels = _two_regions()
    targets = region_colour_targets(painting, labels, 2, directions)
    torch.manual_seed(0)
    images = torch.rand(4, 3, 8, 8)
    batch_labels = labels[None].repeat(4, 1, 1)
    batch_labels[0] = 0  # one region only in the first image: fewer regions than the others
    whole = region_colour_distance(images, batch_labels, targets, directions)
    halves = [region_colour_distance(images[i:i + 2], batch_labels[i:i + 2], targets, directions) for i in (0, 2)]
    assert torch.isclose(whole, (halves[0] + halves[1]) / 2, rtol=1e-6)
