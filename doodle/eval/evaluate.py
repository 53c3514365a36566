"""Judging doodles against their style: the generator next to ``doodle optimize``.

:class:`StyleJudge` gives the quality figures of ``scripts/eval_quality.py`` for
any image painted for a target map, whoever painted it (the feed-forward
generator or the optimization): in the loss network's eyes, the region Gram
loss and the relative region style distance (what training and optimization
minimize); and three judges that neither trains on, which see pixels only: the
region patch distance (:mod:`doodle.eval.patch_distance`), the share of pixels in
colours the painting never uses along borders and inside regions
(:mod:`doodle.eval.fringe`), and the region fidelity of :mod:`doodle.eval.fidelity`
(overall and per region). All are measured against one style exemplar at one
size, so the figures of two painters compare. :func:`compare_with_optimize`
paints maps with the generator and with ``doodle optimize`` under the raw and
the relative loss, and judges all three; :func:`summarize` averages its rows.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from doodle.eval.fidelity import fidelity_by_region, fidelity_scale, fit_region_colour_model, region_fidelity
from doodle.eval.fringe import fringe_share, painting_colours
from doodle.eval.patch_distance import region_patch_distance
from doodle.generators.base import MaskGenerator
from doodle.images import to_array, to_tensor
from doodle.lossnet.vgg import DEFAULT_STYLE_LAYERS
from doodle.maps.semantic import StyleExemplar, one_hot
from doodle.painting.optimize import OptimizeSettings, optimize_doodle
from doodle.painting.render import render_labels
from doodle.style.loss import RegionStyleLoss


class StyleJudge:
    """Scores images painted for target maps against one style exemplar.

    Parameters
    ----------
    net : doodle.lossnet.vgg.VGGFeatures
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
        region fidelity (see :func:`doodle.eval.fidelity.region_fidelity`); scale
        them with the image size.

    Examples
    --------
    >>> from doodle.lossnet.weights import load_loss_net
    >>> labels = np.zeros((16, 16), np.uint8); labels[:, 8:] = 1
    >>> image = np.where(labels[..., None] == 0, 0.2, 0.8).astype(np.float32) * np.ones(3, np.float32)
    >>> style = StyleExemplar(image, labels, np.array([[0, 0, 0], [255, 255, 255]], np.uint8))
    >>> net = load_loss_net("random", ["relu1_1"], log=lambda line: None)
    >>> judge = StyleJudge(net, style, layers=["relu1_1"], blur=1, border=1)
    >>> judge.gram_loss(image, labels) < 1e-9, judge.fidelity(image, labels)  # the style on its own map
    (True, 1.0)
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
        self.loss_fn = RegionStyleLoss(net, to_tensor(style.image), one_hot(style.labels, style.k), layers=layers,
                                       layer_weights=layer_weights)
        self.colours = fit_region_colour_model(style.image, style.labels, style.k, blur=blur)
        self.painting_colours = painting_colours(style.image)

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
        x, masks = self._inputs(image, labels)
        with torch.no_grad():
            return float(self.loss_fn(x, masks)[0])

    def style_distance(self, image: np.ndarray, labels: np.ndarray) -> float:
        """Relative region style distance of ``image`` painted for ``labels``.

        ``sum_l (sum_r ||G_lr - T_lr||^2) / (sum_r ||T_lr||^2)`` over the style
        layers ``l`` and the regions ``r`` present in both maps at that layer:
        unlike the raw Gram loss, no layer outweighs the others by the scale of
        its features, so figures compare across loss networks. The style on its
        own map scores 0; a photo of something else scores about 1 per layer.

        Parameters
        ----------
        image : ndarray, float, shape (H, W, 3)
            RGB in [0, 1].
        labels : ndarray, integer, shape (H, W)

        Returns
        -------
        float
        """
        x, masks = self._inputs(image, labels)
        with torch.no_grad():
            feats = self.loss_fn.net(x, self.loss_fn.layers)
            return sum(float(d[0]) for d in self.loss_fn.relative_distances(feats, masks).values())

    def _inputs(self, image: np.ndarray, labels: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        if np.shape(image)[:2] != np.shape(labels):
            raise ValueError(f"image is {np.shape(image)[:2]} but its map is {np.shape(labels)}; pass both at one size")
        return to_tensor(np.asarray(image, dtype=np.float32)), one_hot(labels, self.style.k)

    def painting_crops(self, side: int, count: int, seed: int = 0, measure: str = "gram") -> list[float]:
        """Gram loss (or relative distance) of random ``side x side`` crops of the style image, each on its own map.

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
        measure : {"gram", "style_distance"}
            :meth:`gram_loss` or :meth:`style_distance`.

        Returns
        -------
        list of float
            One figure per crop.
        """
        if measure not in ("gram", "style_distance"):
            raise ValueError(f"measure must be 'gram' or 'style_distance', got {measure!r}")
        judge = self.gram_loss if measure == "gram" else self.style_distance
        height, width = self.style.labels.shape
        if not 1 <= side <= min(height, width):
            raise ValueError(f"crop side {side} px does not fit the {width}x{height} style; "
                             f"use a side from 1 to {min(height, width)}")
        rng = np.random.default_rng(seed)
        losses = []
        for _ in range(count):
            y, x = rng.integers(0, height - side + 1), rng.integers(0, width - side + 1)
            window = (slice(y, y + side), slice(x, x + side))
            losses.append(judge(self.style.image[window], self.style.labels[window]))
        return losses

    def fidelity(self, image: np.ndarray, labels: np.ndarray) -> float:
        """Share of interior pixels of ``labels`` whose colour says the right region (in [0, 1])."""
        return region_fidelity(image, labels, self.colours, border=self.border)

    def fidelity_by_region(self, image: np.ndarray, labels: np.ndarray) -> list[float]:
        """Fidelity of each region on its own (NaN where a region has no interior pixel)."""
        return fidelity_by_region(image, labels, self.colours, border=self.border).tolist()

    def patch_distance(self, image: np.ndarray, labels: np.ndarray) -> float:
        """Region patch distance to the style at its scale (:func:`doodle.eval.patch_distance.region_patch_distance`)."""
        return region_patch_distance(image, labels, self.style.image, self.style.labels)[0]

    def fringe(self, image: np.ndarray, labels: np.ndarray) -> dict[str, float]:
        """Shares of off-painting colours within 3 px of borders and inside regions (:func:`doodle.eval.fringe.fringe_share`)."""
        return fringe_share(image, labels, self.painting_colours)

    def report(self, image: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
        """Every figure of ``image`` painted for ``labels``, keyed by measure.

        Returns
        -------
        dict
            ``gram``, ``style_distance``, ``patch_distance``, ``fringe_border``,
            ``fringe_interior``, ``fidelity`` (floats) and ``fidelity_by_region``
            (list, one per label).
        """
        fringe = self.fringe(image, labels)
        return {"gram": self.gram_loss(image, labels), "style_distance": self.style_distance(image, labels),
                "patch_distance": self.patch_distance(image, labels), "fringe_border": fringe["border"],
                "fringe_interior": fringe["interior"], "fidelity": self.fidelity(image, labels),
                "fidelity_by_region": self.fidelity_by_region(image, labels)}

    def scale(self, labels: np.ndarray, seed: int = 0) -> dict[str, float]:
        """Fidelity of uniform noise on ``labels`` (``"noise"``) and of the style on its own map (``"style"``)."""
        return fidelity_scale(self.style.image, self.style.labels, labels, self.colours, border=self.border, seed=seed)


#: Renders of the generator judged per map (:func:`compare_with_optimize`). The noise alone moves
#: one render's relative distance by +-20 % (a Renoir generator on its target map: 1.49-2.28 over
#: eight seeds), as much as the designs compared with it; the standard error of a mean of eight
#: is a third of that.
RENDERS = 8
#: Figures of :meth:`StyleJudge.report` compared as generator / optimize ratios.
RATIO_MEASURES = ("gram", "style_distance", "patch_distance", "fringe_border")
#: Floor of a ratio's denominator: a fringe share of 0 must not make the ratio infinite.
_RATIO_FLOOR = {"fringe_border": 1e-3}


def compare_with_optimize(
    judge: StyleJudge,
    model: MaskGenerator,
    labels: np.ndarray,
    settings: OptimizeSettings,
    seed: int = 0,
    precision: str = "auto",
    renders: int = RENDERS,
) -> dict[str, Any]:
    """Paint ``labels`` with the generator and with ``doodle optimize``; judge all of them.

    ``doodle optimize`` paints twice, with the raw region Gram loss (the best
    picture of the two) and with the relative loss (``--relative``, what the
    generator trains on, which scores best on the relative distance it
    minimizes): a generator should beat neither on its own training loss
    alone, but on the judges neither minimizes.

    Parameters
    ----------
    judge : StyleJudge
        Its loss network and style are also what the optimization uses.
    model : MaskGenerator
        In eval mode.
    labels : ndarray, uint8, shape (H, W)
    settings : OptimizeSettings
        Of the optimization (layers and weights should be the judge's); its
        ``relative`` is set for each of the two runs.
    seed : int
        Noise seed of all painters (the generator's first render).
    precision : str
        Of all painters (scores are fp32).
    renders : int
        The generator paints the map this many times, with noise seeds
        ``seed, seed + 1, ...``, and its figures are their means (see
        :data:`RENDERS`).

    Returns
    -------
    dict
        ``"generated"``, ``"optimized"``, ``"optimized_relative"`` (float RGB
        (H, W, 3); the generator's first render); every figure of :meth:`StyleJudge.report` as
        ``{measure}_generator`` (the mean over renders), ``{measure}_optimize`` and
        ``{measure}_optimize_relative``; for the measures of
        :data:`RATIO_MEASURES`, ``{measure}_ratio`` (generator / raw optimize)
        and ``{measure}_vs_relative_ratio`` (generator / relative optimize);
        ``fidelity_noise`` and ``fidelity_style`` (the scale), ``optimize_s``
        (wall time of the raw run), and ``optimize_iterations_to_match``: the
        first raw L-BFGS iteration scoring a Gram loss no worse than the
        generator's (None if none does; as Johnson et al. 2016, Fig. 5, place
        their feed-forward networks); ``style_distance_generator_renders``, the
        generator's relative distance in each render (its spread).
    """
    if renders < 1:
        raise ValueError(f"renders must be >= 1, got {renders}")
    generated = [to_array(render_labels(model, labels, seed=seed + i, precision=precision)) for i in range(renders)]
    reports = [judge.report(image, labels) for image in generated]
    gram_generated = float(np.mean([r["gram"] for r in reports]))
    matched: list[int] = []

    def watch(iteration: int, image: torch.Tensor) -> None:
        # Scored only until optimize catches up: ~30 extra forwards when it does so early.
        if not matched and judge.gram_loss(to_array(image), labels) <= gram_generated:
            matched.append(iteration)

    def optimize(relative: bool, callback=None) -> np.ndarray:
        return optimize_doodle(judge.loss_fn.net, judge.style.image, judge.style.labels, labels, judge.style.k,
                               dataclasses.replace(settings, seed=seed, precision=precision, relative=relative),
                               progress=False, callback=callback)[0]

    start = time.perf_counter()
    optimized = optimize(False, watch)
    optimize_s = time.perf_counter() - start
    optimized_relative = optimize(True)
    row: dict[str, Any] = {"generated": generated[0], "optimized": optimized, "optimized_relative": optimized_relative}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a region with no interior pixel is NaN in every render
        row |= {f"{measure}_generator": np.nanmean([r[measure] for r in reports], axis=0).tolist()
                for measure in reports[0]}
    row["style_distance_generator_renders"] = [r["style_distance"] for r in reports]
    for painter, image in {"optimize": optimized, "optimize_relative": optimized_relative}.items():
        row |= {f"{measure}_{painter}": value for measure, value in judge.report(image, labels).items()}
    for measure in RATIO_MEASURES:
        floor = _RATIO_FLOOR.get(measure, 1e-12)
        row[f"{measure}_ratio"] = row[f"{measure}_generator"] / max(row[f"{measure}_optimize"], floor)
        row[f"{measure}_vs_relative_ratio"] = row[f"{measure}_generator"] / max(row[f"{measure}_optimize_relative"],
                                                                                floor)
    scale = judge.scale(labels, seed=seed)
    row |= {"optimize_iterations_to_match": matched[0] if matched else None, "fidelity_noise": scale["noise"],
            "fidelity_style": scale["style"], "optimize_s": optimize_s}
    return row


def summarize(rows: Sequence[Mapping[str, Any]], iterations: int) -> dict[str, float]:
    """Average the numeric figures of :func:`compare_with_optimize` rows over maps.

    Ratios are geometric means (one map near 0 must not swamp the rest); a map
    on which optimize never caught up counts as ``iterations + 1`` in the median
    of ``optimize_iterations_to_match``; everything else is an arithmetic mean.

    Examples
    --------
    >>> summarize([{"gram_ratio": 2.0, "optimize_iterations_to_match": 5},
    ...            {"gram_ratio": 8.0, "optimize_iterations_to_match": None}], iterations=9)
    {'gram_ratio': 4.0, 'optimize_iterations_to_match': 7.5}
    """
    summary = {}
    for key in rows[0]:
        values = [r[key] for r in rows]
        if key == "optimize_iterations_to_match":
            summary[key] = float(np.median([iterations + 1 if v is None else v for v in values]))
        elif key.endswith("_ratio"):
            summary[key] = geometric_mean(values)
        elif all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            summary[key] = float(np.mean(values))
    return summary


def geometric_mean(values: Sequence[float]) -> float:
    """Geometric mean, for ratios and losses spanning decades (floored at 1e-12).

    Examples
    --------
    >>> geometric_mean([2.0, 8.0])
    4.0
    """
    return float(np.exp(np.mean(np.log(np.maximum(values, 1e-12)))))
