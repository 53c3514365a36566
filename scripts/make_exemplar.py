"""Generate the project's own style exemplar: a painted landscape, its semantic map and two target doodles.

Everything is procedural (no third-party images) and seeded, so a rerun writes
the same bytes::

    python scripts/make_exemplar.py [--out datasets/exemplar] [--seed 0]

The painting is built from thousands of small oriented brush strokes, alpha-
composited with numpy, with a different texture per region so that a style
transfer has something to get right: sky (long soft horizontal strokes and
white swirls), hills (ochre and umber diagonal strokes), water (short
horizontal dark-blue dabs and light glints) and meadow (short vertical grass
strokes and flower dots).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import click
import numpy as np
from numpy.typing import ArrayLike
from PIL import Image
from scipy import ndimage

from maskgen.fileio import atomic_path

SKY, HILLS, WATER, MEADOW = range(4)
REGION_NAMES = ("sky", "hills", "water", "meadow")
# Flat semantic-map colours (RGB); hints of the painted colours, far apart from each other.
MAP_COLOURS = np.array([(135, 206, 250), (200, 120, 50), (30, 60, 180), (60, 170, 60)], dtype=np.uint8)

STYLE_SIZE = (384, 256)  # (width, height)
TARGET_1_SIZE = (320, 240)
TARGET_2_SIZE = (360, 216)


# ---------------------------------------------------------------- geometry ----


def smooth_noise_1d(rng: np.random.Generator, n: int, sigma: float) -> np.ndarray:
    """Unit-variance 1-D noise of length ``n``, smooth on a scale of ``sigma`` samples."""
    pad = int(3 * sigma) + 1
    noise = ndimage.gaussian_filter1d(rng.standard_normal(n + 2 * pad), sigma)[pad:-pad]
    return noise / noise.std()


def smooth_noise_2d(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """Unit-variance 2-D noise of ``shape`` (H, W), smooth on a scale of ``sigma`` pixels."""
    noise = ndimage.gaussian_filter(rng.standard_normal(shape), sigma, mode="wrap")
    return noise / noise.std()


def hill_line(x: np.ndarray, base: float, hills: list[tuple[float, float, float]]) -> np.ndarray:
    """A skyline at height ``base`` raised by Gaussian humps ``(centre, height, half_width)`` (pixels)."""
    y = np.full(x.shape, base, dtype=np.float64)
    for centre, height, half_width in hills:
        y -= height * np.exp(-(((x - centre) / half_width) ** 2))
    return y


def wobble(rng: np.random.Generator, n: int, amplitude: float, sigma: float) -> np.ndarray:
    """A hand-drawn tremor: smooth noise of the given amplitude (pixels)."""
    return amplitude * smooth_noise_1d(rng, n, sigma)


def blob(shape: tuple[int, int], centre: tuple[float, float], radii: tuple[float, float], rng: np.random.Generator) -> np.ndarray:
    """A smooth irregular blob: an ellipse whose radius wobbles with a few low harmonics.

    Returns a bool mask of ``shape`` (H, W); ``centre`` and ``radii`` are (x, y) in pixels.
    """
    yy, xx = np.mgrid[: shape[0], : shape[1]].astype(np.float64)
    dx, dy = (xx - centre[0]) / radii[0], (yy - centre[1]) / radii[1]
    theta = np.arctan2(dy, dx)
    radius = np.ones_like(theta)
    for harmonic in (2, 3, 5):
        radius += rng.uniform(0.04, 0.1) / harmonic * 2 * np.cos(harmonic * theta + rng.uniform(0, 2 * np.pi))
    return np.hypot(dx, dy) < radius


def style_labels(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """Semantic map of the style painting: sky, two hills, a lake on the left, meadow in front."""
    w, h = size
    x = np.arange(w, dtype=np.float64)
    skyline = hill_line(x, 0.47 * h, [(0.27 * w, 0.25 * h, 0.17 * w), (0.74 * w, 0.17 * h, 0.2 * w)])
    skyline += wobble(rng, w, 2.5, 6)
    horizon = 0.6 * h + 0.02 * h * np.sin(x / w * 5 + 1) + wobble(rng, w, 1.5, 8)
    # The meadow rises on the right until it meets the hills, which ends the lake there.
    shore = 0.84 * h - 0.34 * h / (1 + np.exp(-(x - 0.7 * w) / (0.05 * w))) + 0.03 * h * np.sin(x / w * 9)
    shore += wobble(rng, w, 2.0, 9)
    y = np.arange(h, dtype=np.float64)[:, None]
    labels = np.full((h, w), MEADOW, dtype=np.uint8)
    labels[y < shore] = WATER
    labels[y < horizon] = HILLS
    labels[y < skyline] = SKY
    return labels


def lake_target_labels(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """Target doodle 1: two hills under the sky, a lake in the middle of a meadow."""
    w, h = size
    x = np.arange(w, dtype=np.float64)
    skyline = hill_line(x, 0.5 * h, [(0.2 * w, 0.2 * h, 0.16 * w), (0.68 * w, 0.28 * h, 0.2 * w)]) + wobble(rng, w, 2, 7)
    horizon = 0.56 * h + wobble(rng, w, 3, 10)
    y = np.arange(h, dtype=np.float64)[:, None]
    labels = np.full((h, w), MEADOW, dtype=np.uint8)
    labels[y < horizon] = HILLS
    labels[y < skyline] = SKY
    labels[blob((h, w), (0.5 * w, 0.77 * h), (0.26 * w, 0.12 * h), rng)] = WATER
    return labels


def river_target_labels(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """Target doodle 2: one hill on the right, a river winding through the meadow towards the viewer."""
    w, h = size
    x = np.arange(w, dtype=np.float64)
    horizon = 0.52 * h
    hill = hill_line(x, horizon, [(0.78 * w, 0.3 * h, 0.22 * w)])
    # Tremor only where the hill stands: on the open plain it would leave specks of hill along the horizon.
    skyline = np.where(horizon - hill > 2, np.minimum(hill + wobble(rng, w, 2, 6), horizon), horizon)
    y = np.arange(h, dtype=np.float64)
    depth = np.clip((y - horizon) / (h - horizon), 0, 1)  # 0 at the horizon, 1 at the bottom edge
    centre = 0.45 * w + 0.18 * w * np.sin(depth * 5.5) + wobble(rng, h, 4, 8)
    half_width = 4 + 0.09 * w * depth**1.3
    labels = np.full((h, w), MEADOW, dtype=np.uint8)
    river = (np.abs(x[None, :] - centre[:, None]) < half_width[:, None]) & (y[:, None] > horizon + 2)
    labels[river] = WATER
    labels[y < horizon] = HILLS
    labels[y[:, None] < skyline[None, :]] = SKY
    return labels


# ---------------------------------------------------------------- painting ----


class Strokes:
    """A batch of brush strokes, one entry per stroke in every array.

    Positions and sizes are in pixels, ``angle`` in radians (0 = to the right, image y
    points down), ``colour`` is RGB in [0, 1]. ``bend`` (1/pixels) curves the stroke into the
    parabola ``across = bend * along**2``: a stroke on a circle of radius r has bend 1 / (2 r).
    """

    def __init__(
        self,
        x: np.ndarray,
        y: np.ndarray,
        length: ArrayLike,
        width: ArrayLike,
        angle: ArrayLike,
        colour: ArrayLike,
        alpha: ArrayLike,
        bend: ArrayLike = 0.0,
    ) -> None:
        n = len(x)
        self.x, self.y = np.asarray(x, float), np.asarray(y, float)
        self.length, self.width = np.broadcast_to(length, n), np.broadcast_to(width, n)
        self.angle, self.alpha = np.broadcast_to(angle, n), np.broadcast_to(alpha, n)
        self.bend = np.broadcast_to(bend, n)
        self.colour = np.clip(np.asarray(colour, float), 0, 1)

    def __len__(self) -> int:
        return len(self.x)


def paint(canvas: np.ndarray, strokes: Strokes, rng: np.random.Generator) -> None:
    """Alpha-composite ``strokes`` in order onto ``canvas`` (H, W, 3) float in place."""
    h, w, _ = canvas.shape
    bristle_knots = rng.uniform(0.55, 1.0, size=(len(strokes), 7))
    for i in range(len(strokes)):
        length, width = strokes.length[i], strokes.width[i]
        reach = length / 2 + width + abs(strokes.bend[i]) * length**2 / 8
        x0, x1 = max(int(strokes.x[i] - reach), 0), min(int(strokes.x[i] + reach) + 2, w)
        y0, y1 = max(int(strokes.y[i] - reach), 0), min(int(strokes.y[i] + reach) + 2, h)
        if x0 >= x1 or y0 >= y1:
            continue
        dy, dx = np.mgrid[y0:y1, x0:x1].astype(np.float64)
        dx -= strokes.x[i]
        dy -= strokes.y[i]
        cos, sin = np.cos(strokes.angle[i]), np.sin(strokes.angle[i])
        along = dx * cos + dy * sin
        across = -dx * sin + dy * cos - strokes.bend[i] * along**2
        t = along / (length / 2)  # -1 at the start of the stroke, +1 at its end
        # Blunt, slightly tapered tip rather than a pointed ellipse.
        half = width / 2 * np.clip(1 - t**2, 0, 1) ** 0.25
        # Anti-aliased edge: coverage falls from 1 to 0 over one pixel.
        coverage = np.clip(half - np.abs(across) + 0.5, 0, 1)
        # Bristle streaks run along the stroke; paint thins out towards its end.
        streaks = np.interp(across / max(width, 1e-6) + 0.5, np.linspace(0, 1, 7), bristle_knots[i])
        load = 1 - 0.35 * np.clip((t + 1) / 2, 0, 1)
        a = (strokes.alpha[i] * coverage * streaks * load)[..., None]
        patch = canvas[y0:y1, x0:x1]
        patch += a * (strokes.colour[i] - patch)


def jitter(rng: np.random.Generator, colours: np.ndarray, amount: float) -> np.ndarray:
    """Perturb RGB ``colours`` (n, 3): a shared brightness shift plus a smaller per-channel one."""
    n = len(colours)
    return colours + rng.normal(0, amount, (n, 1)) + rng.normal(0, amount / 2, (n, 3))


def sample_in(mask: np.ndarray, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` random sub-pixel positions (x, y) inside ``mask``."""
    ys, xs = np.nonzero(mask)
    pick = rng.integers(0, len(xs), n)
    return xs[pick] + rng.uniform(-0.5, 0.5, n), ys[pick] + rng.uniform(-0.5, 0.5, n)


def pick_palette(rng: np.random.Generator, palette: list[tuple[float, float, float]], n: int) -> np.ndarray:
    """``n`` colours (n, 3) drawn uniformly from ``palette``."""
    return np.asarray(palette, float)[rng.integers(0, len(palette), n)]


def sky_texture(mask: np.ndarray, rng: np.random.Generator) -> list[Strokes]:
    """Long soft horizontal strokes darkening upwards, then white swirling cloud arcs."""
    h = mask.shape[0]
    n = mask.sum() // 14
    x, y = sample_in(mask, n, rng)
    height = y / h
    deep, pale = np.array([0.25, 0.45, 0.82]), np.array([0.78, 0.87, 0.96])
    colour = deep + (pale - deep) * np.clip(height * 2.2, 0, 1)[:, None]
    colour = np.where(rng.random((n, 1)) < 0.15, np.array([0.95, 0.96, 0.98]), colour)
    wash = Strokes(x, y, rng.uniform(25, 55, n), rng.uniform(4, 7, n), rng.normal(0, 0.05, n),
                   jitter(rng, colour, 0.03), rng.uniform(0.4, 0.75, n), bend=rng.normal(0, 0.002, n))
    arcs = []
    for _ in range(3):
        (cx,), (cy,) = sample_in(ndimage.binary_erosion(mask, iterations=22), 1, rng)
        m = 70
        radius = rng.uniform(3, 24, m)
        phase = rng.uniform(0, 2 * np.pi, m)
        creamy = pick_palette(rng, [(0.97, 0.97, 0.95), (0.98, 0.93, 0.7), (0.82, 0.9, 0.99)], m)
        # Tangent strokes bent to the circle they sit on (curvature 1/r = 2 * bend) draw a swirl.
        arcs.append(Strokes(cx + radius * np.cos(phase), cy + radius * np.sin(phase), rng.uniform(8, 18, m),
                            rng.uniform(2, 3.5, m), phase + np.pi / 2, jitter(rng, creamy, 0.02),
                            rng.uniform(0.6, 0.9, m), bend=1 / (2 * radius)))
    return [wash, *arcs]


def hills_texture(mask: np.ndarray, rng: np.random.Generator) -> list[Strokes]:
    """Ochre, sienna and umber diagonal strokes, shaded darker towards the foot of the hills."""
    h, w = mask.shape
    n = mask.sum() // 9
    x, y = sample_in(mask, n, rng)
    palette = [(0.85, 0.65, 0.28), (0.76, 0.48, 0.2), (0.6, 0.36, 0.16), (0.9, 0.75, 0.42)]
    colour = pick_palette(rng, palette, n)
    # Light from the upper left: flanks falling to the right are in shade, as is the foot of the hills.
    ridge = ndimage.gaussian_filter1d(np.argmax(mask, axis=0).astype(float), 8)
    falling = np.tanh(2 * np.gradient(ridge))[np.clip(x.astype(int), 0, w - 1)]
    shade = (1 - 0.3 * np.clip((y / h - 0.2) / 0.45, 0, 1)) * (1 - 0.18 * falling)
    colour = jitter(rng, colour * shade[:, None], 0.04)
    angle = -0.75 + rng.normal(0, 0.12, n)  # rising to the right
    return [Strokes(x, y, rng.uniform(10, 20, n), rng.uniform(2.5, 4.5, n), angle, colour,
                    rng.uniform(0.6, 0.9, n), bend=rng.normal(0, 0.01, n))]


def water_texture(mask: np.ndarray, rng: np.random.Generator) -> list[Strokes]:
    """Short horizontal dark-blue dabs, then sparse light glints on top."""
    n = mask.sum() // 6
    x, y = sample_in(mask, n, rng)
    palette = [(0.05, 0.14, 0.4), (0.1, 0.22, 0.52), (0.04, 0.09, 0.28), (0.15, 0.32, 0.6)]
    dabs = Strokes(x, y, rng.uniform(6, 13, n), rng.uniform(2, 3.5, n), rng.normal(0, 0.04, n),
                   jitter(rng, pick_palette(rng, palette, n), 0.03), rng.uniform(0.6, 0.9, n))
    m = mask.sum() // 70
    gx, gy = sample_in(mask, m, rng)
    glint_colour = pick_palette(rng, [(0.9, 0.95, 1.0), (0.6, 0.8, 0.95), (0.98, 0.95, 0.8)], m)
    glints = Strokes(gx, gy, rng.uniform(3, 8, m), rng.uniform(1, 1.7, m), rng.normal(0, 0.03, m),
                     glint_colour, rng.uniform(0.7, 1.0, m))
    return [dabs, glints]


def meadow_texture(mask: np.ndarray, rng: np.random.Generator) -> list[Strokes]:
    """Short near-vertical grass strokes in greens, then round flower dots."""
    n = mask.sum() // 4
    x, y = sample_in(mask, n, rng)
    palette = [(0.2, 0.45, 0.15), (0.35, 0.6, 0.2), (0.55, 0.7, 0.25), (0.12, 0.32, 0.12)]
    grass = Strokes(x, y, rng.uniform(5, 12, n), rng.uniform(1.3, 2.3, n), np.pi / 2 + rng.normal(0, 0.18, n),
                    jitter(rng, pick_palette(rng, palette, n), 0.04), rng.uniform(0.65, 0.95, n),
                    bend=rng.normal(0, 0.02, n))
    m = mask.sum() // 120
    fx, fy = sample_in(mask, m, rng)
    size = rng.uniform(2, 3.5, m)
    flower_colour = pick_palette(rng, [(0.9, 0.15, 0.1), (0.98, 0.85, 0.2), (0.97, 0.97, 0.95), (0.6, 0.35, 0.8)], m)
    flowers = Strokes(fx, fy, size, size, 0.0, flower_colour, 0.95)
    return [grass, flowers]


TEXTURES: dict[int, Callable[[np.ndarray, np.random.Generator], list[Strokes]]] = {
    SKY: sky_texture, HILLS: hills_texture, WATER: water_texture, MEADOW: meadow_texture,
}


def paint_landscape(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Paint every region of ``labels`` (H, W) with its brush texture; returns (H, W, 3) uint8.

    Each region is painted on its own canvas (strokes may start slightly outside it)
    and then cut out with the map, so that the painting and its map align exactly.
    """
    h, w = labels.shape
    out = np.zeros((h, w, 3))
    for label, texture in TEXTURES.items():
        mask = labels == label
        if not mask.any():
            continue
        canvas = np.empty((h, w, 3))
        strokes = texture(ndimage.binary_dilation(mask, iterations=3), rng)
        canvas[:] = np.median(strokes[0].colour, axis=0)  # underpainting shows through the gaps
        for batch in strokes:
            paint(canvas, batch, rng)
        out[mask] = canvas[mask]
    # Canvas weave: a faint fine-grained brightness variation over the whole picture.
    out *= 1 + 0.025 * smooth_noise_2d(rng, (h, w), 0.7)[..., None]
    return np.round(np.clip(out, 0, 1) * 255).astype(np.uint8)


# ---------------------------------------------------------------- output ----


def label_image(labels: np.ndarray) -> np.ndarray:
    """Flat-colour semantic map (H, W, 3) uint8 of a label array (H, W)."""
    return MAP_COLOURS[labels]


def save_png(path: Path, rgb: np.ndarray) -> None:
    with atomic_path(path, ".png") as tmp:
        Image.fromarray(rgb, "RGB").save(tmp, format="PNG", optimize=True)


def make_exemplar(out: Path, seed: int = 0) -> list[Path]:
    """Write ``style.png``, ``style_map.png``, ``target_1.png`` and ``target_2.png`` into ``out``.

    Returns the written paths. Each picture draws from its own seeded generator, so
    changing one does not reshuffle the others.
    """
    out.mkdir(parents=True, exist_ok=True)
    labels = style_labels(np.random.default_rng([seed, 0]), STYLE_SIZE)
    targets = {
        "target_1.png": lake_target_labels(np.random.default_rng([seed, 2]), TARGET_1_SIZE),
        "target_2.png": river_target_labels(np.random.default_rng([seed, 3]), TARGET_2_SIZE),
    }
    for name, target in {"style_map.png": labels, **targets}.items():
        missing = set(range(len(REGION_NAMES))) - set(np.unique(target).tolist())
        if missing:
            raise ValueError(f"{name} misses regions {sorted(missing)} with seed {seed}; try another --seed")
    pictures = {
        "style.png": paint_landscape(labels, np.random.default_rng([seed, 1])),
        "style_map.png": label_image(labels),
        **{name: label_image(target) for name, target in targets.items()},
    }
    for name, rgb in pictures.items():
        save_png(out / name, rgb)
    return [out / name for name in pictures]


@click.command()
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              default=Path(__file__).resolve().parents[1] / "datasets" / "exemplar", show_default="datasets/exemplar",
              help="Folder to write the PNGs into.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Random seed.")
def main(out: Path, seed: int) -> None:
    """Generate the style exemplar: style.png, style_map.png, target_1.png, target_2.png."""
    try:
        paths = make_exemplar(out, seed)
    except (ValueError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    for path in paths:
        click.echo(f"wrote {path} ({path.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
