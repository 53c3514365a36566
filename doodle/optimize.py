"""The optimization-based doodle (Gatys et al. style loss with semantic masks, as in fast-neural-doodle)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
import scipy.optimize
import torch.nn.functional as F
from tqdm.auto import tqdm

from doodle.images import fit_size, resize_labels, resize_rgb
from doodle.loss import RegionStyleLoss
from doodle.precision import autocast, resolve_precision
from doodle.semantic import one_hot


@dataclass
class OptimizeSettings:
    """Settings of :func:`optimize_doodle` (see ``doodle optimize --help``)."""

    iterations: int = 500
    optimizer: str = "lbfgs"
    resolutions: Sequence[int] | None = None
    layers: Sequence[str] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
    layer_weights: Sequence[float] | None = None
    style_weight: float = 1.0
    content_weight: float = 0.0
    tv_weight: float = 0.0
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


def _as_batch(image: np.ndarray) -> torch.Tensor:
    """float (H, W, 3) in [0, 1] -> float32 (1, 3, H, W), without 8-bit quantization."""
    return torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32)).permute(2, 0, 1)[None]


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
    net : doodle.vgg.VGGFeatures
        Frozen loss network.
    style_image : ndarray, float32 (Hs, Ws, 3) in [0, 1]
    style_labels : ndarray, uint8 (Hs, Ws), values < k
    target_labels : ndarray, uint8 (H, W), values < k
        The doodle to paint; the output has its size (any size, no multiple-of-32 rule).
    k : int
        Number of regions.
    settings : OptimizeSettings
    content_image : ndarray, float32 (H', W', 3), optional
        Resized to the output size; used when ``settings.content_weight > 0``.
    progress : bool
        Show a progress bar with the loss.
    callback : callable, optional
        ``callback(iteration, image (1, 3, H, W))`` after each iteration.

    Returns
    -------
    image : ndarray, float32 (H, W, 3) in [0, 1]
    loss : float
        Final region style loss (with the settings' weights) at the last resolution.
    """
    torch.manual_seed(settings.seed)
    precision = resolve_precision(settings.precision)
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
        loss_fn = RegionStyleLoss(
            net,
            _as_batch(resize_rgb(style_image, ssize)),
            one_hot(resize_labels(style_labels, ssize), k),
            layers=settings.layers,
            layer_weights=settings.layer_weights,
            style_weight=settings.style_weight,
            content_weight=settings.content_weight,
            content_image=None if content_image is None else _as_batch(resize_rgb(content_image, size)),
            tv_weight=settings.tv_weight,
        )
        masks = one_hot(resize_labels(target_labels, size), k)
        if x is None:
            x = torch.rand(1, 3, *size) * 0.2 + 0.4
        else:
            x = F.interpolate(x.detach(), size=size, mode="bilinear", align_corners=False)
        x = x.clamp(0, 1)


        def evaluate(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            image = image.detach().requires_grad_(True)
            with autocast(precision):
                loss, _ = loss_fn(image, masks)
            loss.backward()
            return loss.detach(), image.grad

        def report(i: int, loss: float, image: torch.Tensor) -> None:
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.4g}", size=f"{size[1]}x{size[0]}")
            if callback is not None:
                callback(done + i, image)

        minimize = _lbfgsb if settings.optimizer == "lbfgs" else _adam
        x = minimize(evaluate, x, settings, report)
        bar.update(done + settings.iterations - bar.n)
        done += settings.iterations
    bar.close()
    with torch.no_grad(), autocast(precision):
        loss_value = float(loss_fn(x, masks)[0])
    return x[0].permute(1, 2, 0).numpy(), loss_value


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

    result = scipy.optimize.minimize(
        fun, x0.double().numpy().ravel(), jac=True, method="L-BFGS-B", bounds=[(0.0, 1.0)],
        callback=on_iteration,
        options={"maxiter": settings.iterations, "maxcor": 20, "ftol": 0.0, "gtol": 0.0},
    )
    return torch.from_numpy(result.x.astype(np.float32)).view(shape)


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
