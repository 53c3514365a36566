"""The optimization-based doodle (Gatys et al. style loss with semantic masks, as in fast-neural-doodle)."""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, NamedTuple, Sequence

import numpy as np
import torch
import scipy.optimize
import torch.nn.functional as F
from tqdm.auto import tqdm

from doodle.device import resolve_device
from doodle.images import fit_size, image_size, load_rgb, resize_labels, resize_rgb, save_rgb, to_array, to_tensor
from doodle.lossnet.memory import check_fits, estimate_vgg_bytes
from doodle.lossnet.vgg import deepest_layer
from doodle.lossnet.vgg import DEFAULT_STYLE_LAYERS
from doodle.lossnet.weights import load_loss_net
from doodle.maps.semantic import check_aspect, load_style, load_target_map, one_hot
from doodle.precision import autocast, resolve_precision
from doodle.style.color import join_chroma, luminance_rgb, match_luminance
from doodle.style.loss import CONTENT_LAYERS, RegionStyleLoss, resolve_balance
from maskgen.fileio import make_folder


#: Where the pixels start: the content photo, uniform noise, or the style image (resized to the output).
INITS = ("content", "noise", "style")


@dataclass
class OptimizeSettings:
    """Settings of :func:`optimize_doodle` (see ``doodle optimize --help``).

    With a content photo the loss is relative by default (``relative=None``;
    see :class:`doodle.style.loss.RegionStyleLoss`): each style layer's region Gram
    distance is divided by its target's squared norm, and the content term
    compares where each feature channel fires in the image and in the photo
    (unit-norm patterns), not how strongly. Both are 0 at their target and
    about 1 (per style layer) for an unrelated image, whatever the image size and
    loss network, so ``content_weight=1`` and ``style_weight=1`` balance them.
    Without a photo (a doodle) the raw Gram loss stays the default.
    ``balance`` sets how much say the deep layers get in the relative style
    term (``None``: 0.5 for doodles, as ``doodle train`` trains them, 1 for photos; see
    :class:`doodle.style.loss.RegionStyleLoss`). ``tv_weight`` multiplies the mean squared
    difference of neighbouring pixels in either case (0.003-0.013 for photos
    at 256 px, about 0.02 once painted, 0.33 for uniform noise).

    ``init=None`` starts from the content photo when there is one, else from
    noise. ``preserve_color`` paints the luminance only and keeps the photo's
    colours (:mod:`doodle.style.color`).
    """

    iterations: int = 500
    optimizer: str = "lbfgs"
    resolutions: Sequence[int] | None = None
    layers: Sequence[str] = DEFAULT_STYLE_LAYERS
    layer_weights: Sequence[float] | None = None
    style_weight: float = 1.0
    content_weight: float = 1.0
    content_layers: Sequence[str] = CONTENT_LAYERS
    tv_weight: float = 0.0
    init: str | None = None
    relative: bool | None = None
    balance: float | None = None
    preserve_color: bool = False
    lr: float = 0.02
    seed: int = 0
    precision: str = "fp32"

    def __post_init__(self) -> None:
        if self.iterations < 1:
            raise ValueError(f"iterations must be >= 1, got {self.iterations}")
        if self.optimizer not in ("lbfgs", "adam"):
            raise ValueError(f"optimizer must be 'lbfgs' or 'adam', not {self.optimizer!r}")
        if self.resolutions is not None and any(r < 8 for r in self.resolutions):
            raise ValueError(f"resolutions must be >= 8 pixels, got {list(self.resolutions)}")
        if self.init is not None and self.init not in INITS:
            raise ValueError(f"init must be one of {', '.join(INITS)}, not {self.init!r}")
        for name in ("style_weight", "content_weight", "tv_weight"):
            if not getattr(self, name) >= 0:  # also refuses NaN
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")


def optimize_doodle(
    net: torch.nn.Module,
    style_image: np.ndarray,
    style_labels: np.ndarray,
    target_labels: np.ndarray,
    k: int,
    settings: OptimizeSettings = OptimizeSettings(),
    content_image: np.ndarray | None = None,
    progress: bool = True,
    callback: Callable[[int, torch.Tensor], None] | None = None,
) -> tuple[np.ndarray, float]:
    """Paint ``target_labels`` in the style of ``style_image`` by optimizing the pixels.

    Coarse-to-fine when several resolutions are given: each stage starts from the
    previous result upsampled, with style targets recomputed at that scale.

    Parameters
    ----------
    net : doodle.lossnet.vgg.VGGFeatures
        Frozen loss network.
    style_image : ndarray, float32 (Hs, Ws, 3) in [0, 1]
    style_labels : ndarray, uint8 (Hs, Ws), values < k
    target_labels : ndarray, uint8 (H, W), values < k
        The doodle to paint; the output has its size (any size, no multiple-of-32 rule).
    k : int
        Number of regions.
    settings : OptimizeSettings
    content_image : ndarray, float32 (H', W', 3), optional
        The photo, resized to the output size (give it the output's aspect
        ratio): the content term (when ``settings.content_weight > 0``), the
        default start, and the colours kept by ``settings.preserve_color``.
    progress : bool
        Show a progress bar with the loss.
    callback : callable, optional
        ``callback(iteration, image (1, 3, H, W))`` after each iteration.

    Returns
    -------
    image : ndarray, float32 (H, W, 3) in [0, 1]
    loss : float
        Final loss (with the settings' weights) at the last resolution.

    Raises
    ------
    ValueError
        ``init="content"`` or ``preserve_color`` without a content image.
    """
    photo = content_image
    if photo is None and (settings.init == "content" or settings.preserve_color):
        what = "preserve_color" if settings.preserve_color else "init 'content'"
        raise ValueError(f"{what} needs a content image; give one (--content PHOTO) or leave the option out")
    init = settings.init or ("content" if photo is not None else "noise")
    relative = settings.relative if settings.relative is not None else photo is not None
    if settings.preserve_color:
        # Gatys et al. 2016: paint the luminance only, the painting's tones matched to the photo's.
        style_image, content_image = match_luminance(style_image, photo), luminance_rgb(photo)
    torch.manual_seed(settings.seed)
    # The pixels stay on the CPU (scipy's L-BFGS-B works there); the loss runs on the net's device.
    device = next(net.parameters()).device
    precision = resolve_precision(settings.precision, device)
    final = tuple(target_labels.shape)
    resolutions = list(settings.resolutions or [max(final)])
    # Style and output keep their relative scale at every stage.
    style_scale = max(style_image.shape[:2]) / max(final)

    x = None
    loss_value = float("nan")
    done = 0
    total_iters = settings.iterations * len(resolutions)
    bar = tqdm(total=total_iters, disable=not progress, desc="optimize", unit="it", dynamic_ncols=True)
    for longest in resolutions:
        size = fit_size(*final, longest) if longest != max(final) else final
        ssize = fit_size(*style_image.shape[:2], max(1, round(max(size) * style_scale)))
        content = None if content_image is None else to_tensor(resize_rgb(content_image, size))
        loss_fn = RegionStyleLoss(
            net,
            to_tensor(resize_rgb(style_image, ssize)),
            one_hot(resize_labels(style_labels, ssize), k),
            layers=settings.layers,
            layer_weights=settings.layer_weights,
            style_weight=settings.style_weight,
            content_weight=settings.content_weight,
            content_layers=settings.content_layers,
            content_image=content,
            tv_weight=settings.tv_weight,
            relative=relative,
            balance=resolve_balance(settings.balance, photo=photo is not None),
        ).to(device)
        masks = one_hot(resize_labels(target_labels, size), k).to(device)
        chroma = resize_rgb(photo, size) if settings.preserve_color else None
        if x is None:
            x = _initial_image(init, size, content, style_image)
        else:
            x = F.interpolate(x.detach(), size=size, mode="bilinear", align_corners=False)
        x = x.clamp(0, 1)


        def evaluate(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            image = image.detach().to(device).requires_grad_(True)
            with autocast(precision, device):
                loss, _ = loss_fn(image, masks)
            loss.backward()
            return loss.detach().cpu(), image.grad.cpu()

        def report(i: int, loss: float, image: torch.Tensor) -> None:
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.4g}", size=f"{size[1]}x{size[0]}")
            if callback is not None:
                callback(done + i, image if chroma is None else to_tensor(join_chroma(to_array(image), chroma)))

        minimize = _lbfgsb if settings.optimizer == "lbfgs" else _adam
        x = minimize(evaluate, x, settings, report)
        bar.update(done + settings.iterations - bar.n)
        done += settings.iterations
    bar.close()
    with torch.no_grad(), autocast(precision, device):
        loss_value = float(loss_fn(x.to(device), masks)[0])
    image = to_array(x)
    return (image if chroma is None else join_chroma(image, chroma)), loss_value


def _initial_image(init: str, size: tuple[int, int], content: torch.Tensor | None, style: np.ndarray) -> torch.Tensor:
    """The first stage's pixels, ``(1, 3, H, W)`` in [0, 1] (noise draws from torch's seeded generator)."""
    if init == "content":
        return content.clone()
    if init == "style":
        return to_tensor(resize_rgb(style, size))
    return torch.rand(1, 3, *size) * 0.2 + 0.4


class Optimized(NamedTuple):
    """What :func:`optimize_files` wrote."""

    path: Path
    width: int
    height: int
    loss: float
    seconds: float


def optimize_files(
    style: str | os.PathLike,
    style_map: str | os.PathLike | None,
    target_map: str | os.PathLike | None,
    output: str | os.PathLike,
    settings: OptimizeSettings = OptimizeSettings(),
    size: int = 512,
    regions: int | None = None,
    content: str | os.PathLike | None = None,
    loss_net: str = "auto",
    save_every: int | None = None,
    log: Callable[[str], None] = print,
    device: str = "auto",
) -> Optimized:
    """``doodle optimize``: paint the doodle in the file ``target_map``, or a photo, and write it as a PNG.

    Parameters
    ----------
    style, style_map, target_map : path-like
        The painting, its semantic map, and the doodle to paint (its colours
        are snapped to the style map's palette). With a ``content`` photo the
        target map is the photo's semantic map; without maps (both ``None``)
        painting and photo are one region each.
    output : path-like
        Output PNG (parent folders are created).
    settings : OptimizeSettings
        ``settings.resolutions`` is completed to end at ``size``; the content
        weight applies only with ``content``.
    size : int
        Longest side of the output and of the style image, in pixels.
    regions : int, optional
        Regions of the style map (default: its dominant colours).
    content : path-like, optional
        A photo to paint (content loss at ``settings.content_layers``), resized
        to the output; it must have the target map's aspect ratio.
    loss_net : str
        As :func:`doodle.lossnet.weights.load_loss_net`.
    save_every : int, optional
        Also write ``OUTPUT_<iteration>.png`` whenever a multiple of this many
        iterations has passed.
    log : callable
        Receives progress lines (palette, loss network).
    device : str
        Where the loss network runs (see :func:`doodle.device.resolve_device`).

    Returns
    -------
    Optimized
    """
    if settings.resolutions and max(settings.resolutions) != size:
        stages = tuple(r for r in settings.resolutions if r < size) + (size,)
        settings = dataclasses.replace(settings, resolutions=stages)
    if target_map is None and content is None:
        raise ValueError("nothing to paint: give a target map (a doodle) or a content photo")
    if target_map is not None and style_map is None:
        raise ValueError("a target map needs the style map whose colours it uses; give the style map too")
    layers = list(settings.layers) + (list(settings.content_layers) if content is not None else [])
    # Refuse a job that cannot fit before loading anything (VGG-19 is the larger net).
    h, w = fit_size(*image_size(target_map if target_map is not None else content), size)
    if content is not None and target_map is not None:
        check_aspect("content photo", image_size(content), "target map", image_size(target_map),
                     "give the photo's own map")
    check_fits(estimate_vgg_bytes(h, w, last_layer=deepest_layer("vgg19", layers)), f"optimizing at {w}x{h}")
    exemplar = load_style(style, style_map, regions=regions, size=size, log=log)
    if target_map is not None:
        target = load_target_map(target_map, exemplar.palette, size=size)
    elif exemplar.k == 1:
        target = np.zeros((h, w), np.uint8)
    else:
        raise ValueError(f"the style map has {exemplar.k} regions: give the photo's map in its colours as the "
                         f"target map, or leave out the style map to paint the photo as one region")
    net = load_loss_net(loss_net, layers=layers, seed=settings.seed, log=log).to(resolve_device(device, log=log))
    content_image = load_rgb(content).astype(np.float32) / 255 if content is not None else None
    out = Path(output)
    make_folder(out.parent)

    saved = 0  # last iteration written by save_every

    def save_progress(i: int, image: torch.Tensor) -> None:
        # L-BFGS reports progress in chunks: save whenever a multiple of save_every is passed.
        nonlocal saved
        if i // save_every > saved // save_every:
            saved = i
            save_rgb(out.with_name(f"{out.stem}_{i:05d}.png"), image)

    start = time.perf_counter()
    image, loss = optimize_doodle(net, exemplar.image, exemplar.labels, target, exemplar.k, settings,
                                  content_image=content_image, callback=save_progress if save_every else None)
    save_rgb(out, image)
    return Optimized(out, w, h, loss, time.perf_counter() - start)


Evaluate = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
Report = Callable[[int, float, torch.Tensor], None]


def _lbfgsb(evaluate: Evaluate, x0: torch.Tensor, settings: OptimizeSettings, report: Report) -> torch.Tensor:
    """Bounded L-BFGS (scipy's L-BFGS-B, as Gatys et al.) on pixels in [0, 1].

    Bounds keep every evaluated image displayable, so the loss describes the
    image that is saved; clamping inside an unbounded L-BFGS instead breaks its
    line search.
    """
    shape = x0.shape
    last = {"loss": float("nan")}

    def fun(flat: np.ndarray) -> tuple[float, np.ndarray]:
        loss, grad = evaluate(torch.from_numpy(flat.astype(np.float32)).view(shape))
        last["loss"] = float(loss)
        return last["loss"], grad.double().numpy().ravel()

    iteration = [0]

    def on_iteration(xk: np.ndarray) -> None:
        iteration[0] += 1
        report(iteration[0], last["loss"], torch.from_numpy(xk.astype(np.float32)).view(shape))

    x = x0.double().numpy().ravel()
    while iteration[0] < settings.iterations:
        start = iteration[0]
        # With ftol = gtol = 0, L-BFGS-B stops early only when a line search finds no
        # decrease, which float32 (or bf16) losses of float32 pixels cause long before a
        # minimum; a fresh start, without the stale curvature memory, descends further
        # (scripts/bench_content.py). A start that cannot take one step has converged.
        x = scipy.optimize.minimize(
            fun, x, jac=True, method="L-BFGS-B", bounds=[(0.0, 1.0)], callback=on_iteration,
            options={"maxiter": settings.iterations - start, "maxcor": 20, "ftol": 0.0, "gtol": 0.0},
        ).x
        if iteration[0] == start:
            break
    return torch.from_numpy(x.astype(np.float32)).view(shape)


def _adam(evaluate: Evaluate, x0: torch.Tensor, settings: OptimizeSettings, report: Report) -> torch.Tensor:
    """Adam on pixels, projected back to [0, 1] after every step."""
    x = x0.clone().requires_grad_(True)
    opt = torch.optim.Adam([x], lr=settings.lr)
    for i in range(1, settings.iterations + 1):
        loss, grad = evaluate(x)
        x.grad = grad
        opt.step()
        with torch.no_grad():
            x.clamp_(0, 1)
        report(i, float(loss), x.detach())
    return x.detach()
