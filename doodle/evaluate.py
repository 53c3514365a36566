"""Judging doodles against their style, and timing the code that makes them.

:class:`StyleJudge` gives the two quality figures of ``scripts/eval_quality.py``
for any image painted for a target map, whoever painted it (the feed-forward
generator or the optimization): the region Gram loss in the loss network's eyes,
and the network-free region fidelity of :mod:`doodle.fidelity`. Both are measured
against one style exemplar at one size, so the figures of two painters compare.
:func:`median_seconds` is the timer of the benchmark scripts.
"""

from __future__ import annotations

import statistics
import time
from typing import Callable, Sequence

import numpy as np
import torch

from doodle.fidelity import fidelity_scale, fit_region_colour_model, region_fidelity
from doodle.loss import RegionStyleLoss
from doodle.semantic import StyleExemplar, one_hot
from doodle.weights import DEFAULT_STYLE_LAYERS


class StyleJudge:
    """Scores images painted for target maps against one style exemplar.

    Parameters
    ----------
    net : doodle.vgg.VGGFeatures
        Frozen loss network; must reach the deepest of ``layers``.
    style : StyleExemplar
        Style image and labels at the evaluation size (the Gram targets and the
        colour model are computed from it once).
    layers : sequence of str
        Style layers of the Gram loss.
    layer_weights : sequence of float, optional
        One weight per layer (default 1 each), as in training and optimization.
    blur, border : int
        Colour averaging radius and excluded border band, in pixels, of the
        region fidelity (see :func:`doodle.fidelity.region_fidelity`); scale
        them with the image size.

    Examples
    --------
    >>> from doodle.weights import load_loss_net
    >>> labels = np.zeros((16, 16), np.uint8); labels[:, 8:] = 1
    >>> image = np.where(labels[..., None] == 0, 0.2, 0.8).astype(np.float32) * np.ones(3, np.float32)
    >>> style = StyleExemplar(image, labels, np.array([[0, 0, 0], [255, 255, 255]], np.uint8))
    >>> net = load_loss_net("random", ["relu1_1"], log=lambda line: None)
    >>> judge = StyleJudge(net, style, layers=["relu1_1"], blur=1, border=1)
    >>> judge.gram_loss(image, labels), judge.fidelity(image, labels)
    (0.0, 1.0)
    """

    def __init__(
        self,
        net: torch.nn.Module,
        style: StyleExemplar,
        layers: Sequence[str] = DEFAULT_STYLE_LAYERS,
        layer_weights: Sequence[float] | None = None,
        blur: int = 5,
        border: int = 4,
    ) -> None:
        self.style = style
        self.border = int(border)
        image = torch.from_numpy(np.ascontiguousarray(style.image)).permute(2, 0, 1)[None].float()
        self.loss_fn = RegionStyleLoss(net, image, one_hot(style.labels, style.k), layers=layers,
                                       layer_weights=layer_weights)
        self.colours = fit_region_colour_model(style.image, style.labels, style.k, blur=blur)

    def gram_loss(self, image: np.ndarray, labels: np.ndarray) -> float:
        """Region Gram loss (weighted sum over layers, fp32) of ``image`` painted for ``labels``.

        Parameters
        ----------
        image : ndarray, float, shape (H, W, 3)
            RGB in [0, 1].
        labels : ndarray, integer, shape (H, W)
            The target map, labels ``0 .. K-1``.

        Returns
        -------
        float
            The loss ``doodle optimize`` minimizes (without content or smoothness terms).
        """
        if np.shape(image)[:2] != np.shape(labels):
            raise ValueError(f"image is {np.shape(image)[:2]} but its map is {np.shape(labels)}; pass both at one size")
        x = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32)).permute(2, 0, 1)[None]
        with torch.no_grad():
            return float(self.loss_fn(x, one_hot(labels, self.style.k))[0])

    def painting_crops(self, side: int, count: int, seed: int = 0) -> list[float]:
        """Gram loss of random ``side x side`` crops of the style image, each on its own map.

        A crop is the painting itself at the style's scale: what a perfect sampler
        of the painting's textures would paint. Its loss is not zero, because a
        region's statistics vary across the painting and a crop holds only part
        of them; it calibrates what a given Gram loss means (``doodle optimize``
        goes below it by fitting one image to the exact target statistics).

        Parameters
        ----------
        side : int
            Crop side in pixels; at most the style's shorter side.
        count : int
            Number of crops.
        seed : int
            Seed of the crop positions.

        Returns
        -------
        list of float
            One loss per crop (see :meth:`gram_loss`).
        """
        height, width = self.style.labels.shape
        if not 1 <= side <= min(height, width):
            raise ValueError(f"crop side {side} px does not fit the {width}x{height} style; "
                             f"use a side from 1 to {min(height, width)}")
        rng = np.random.default_rng(seed)
        losses = []
        for _ in range(count):
            y, x = rng.integers(0, height - side + 1), rng.integers(0, width - side + 1)
            window = (slice(y, y + side), slice(x, x + side))
            losses.append(self.gram_loss(self.style.image[window], self.style.labels[window]))
        return losses

    def fidelity(self, image: np.ndarray, labels: np.ndarray) -> float:
        """Share of interior pixels of ``labels`` whose colour says the right region (in [0, 1])."""
        return region_fidelity(image, labels, self.colours, border=self.border)

    def scale(self, labels: np.ndarray, seed: int = 0) -> dict[str, float]:
        """Fidelity of uniform noise on ``labels`` (``"noise"``) and of the style on its own map (``"style"``)."""
        return fidelity_scale(self.style.image, self.style.labels, labels, self.colours, border=self.border, seed=seed)


def median_seconds(fn: Callable[[], object], repeats: int = 5, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` over ``repeats`` calls, after ``warmup`` untimed calls.

    The warm-up absorbs one-off costs (oneDNN kernel selection, allocator growth,
    lazy imports); the median ignores the odd slow call on a shared machine.

    Examples
    --------
    >>> median_seconds(lambda: None, repeats=3) < 0.01
    True
    """
    if repeats < 1 or warmup < 0:
        raise ValueError(f"need repeats >= 1 and warmup >= 0, got repeats={repeats}, warmup={warmup}")
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
