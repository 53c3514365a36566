"""How well ``doodle map`` finds the regions of a painting that a person drew a map for.

For each painting with a hand-made map, the regions ``doodle map`` finds are
compared with the map's, in the same run, against plain K-means on RGB +
position and two variants of ``doodle map``'s own features::

    python scripts/bench_map.py                                  # the exemplar (4 regions)
    python scripts/bench_map.py --pair painting.png:its_map.png  # and any other painting with a map
    python scripts/bench_map.py --out bench-map/                 # also write each method's map and preview

Methods, all with the map's number of regions and seed 0:

- ``baseline``: scikit-learn K-means on every pixel's RGB (0..1) and position
  (y, x over the longest side, 0..1), equal weights, nothing else;
- ``doodle map``: :func:`doodle.segment.segment_painting`;
- ``no texture``: the same without the texture features (colour + position);
- ``loss-net texture``: the texture features replaced by loss-network
  activations at relu1_1 and relu2_1 (``--loss-net``, default the seeded random
  VGG-19), each layer pooled to the pixel grid over the widest texture scale
  and cut to its 6 principal components, scaled to the spread of the local
  colour statistics they replace.

Agreement with the hand-made map: the adjusted Rand index (scikit-learn; 1 is
the same partition, 0 is chance, label names do not matter) and the share of
pixels in the same region after the best one-to-one matching of regions
(Hungarian, ``scipy.optimize.linear_sum_assignment``). The target for the
exemplar is ARI >= 0.8. Usability as a map: the number of 4-connected pieces
of all regions together (maskgen's ``count_components``), to compare with the
hand-made map's: speckle can score well on both measures, yet nobody can
paint over it or train on it.
"""

from __future__ import annotations

import time
from pathlib import Path

import click
import numpy as np
import torch
from scipy import ndimage
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.metrics import adjusted_rand_score

from doodle import segment
from doodle.images import load_rgb, save_rgb
from doodle.palette import fit_palette
from doodle.weights import load_loss_net
from maskgen.components import count_components
from maskgen.palette import write_label_png

EXEMPLAR = Path(__file__).resolve().parents[1] / "datasets" / "exemplar"
TARGET_ARI = 0.8
LOSS_NET_LAYERS = ("relu1_1", "relu2_1")


def matched_accuracy(truth: np.ndarray, found: np.ndarray) -> float:
    """Share of pixels in the same region after the best one-to-one matching of region labels."""
    overlap = np.zeros((int(truth.max()) + 1, int(found.max()) + 1), np.int64)
    np.add.at(overlap, (truth.ravel(), found.ravel()), 1)
    rows, cols = linear_sum_assignment(overlap, maximize=True)
    return float(overlap[rows, cols].sum() / truth.size)


def baseline(rgb: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Plain K-means on RGB + position, every pixel."""
    h, w = rgb.shape[:2]
    position = np.stack(np.mgrid[0:h, 0:w], axis=-1).reshape(-1, 2) / max(h, w)
    features = np.concatenate([rgb.reshape(-1, 3) / 255.0, position], axis=1)
    return KMeans(n_clusters=k, n_init=segment.N_INIT, random_state=seed).fit_predict(features).reshape(h, w)


def loss_net_texture(small: np.ndarray, net, spread: float) -> np.ndarray:
    """``(h, w, 12)`` loss-network texture features with the total spread ``spread``."""
    h, w = small.shape[:2]
    with torch.no_grad():
        out = net(torch.from_numpy(small.astype(np.float32) / 255).permute(2, 0, 1)[None], LOSS_NET_LAYERS)
    parts = []
    for name in LOSS_NET_LAYERS:
        maps = torch.nn.functional.interpolate(out[name].float(), size=(h, w), mode="bilinear")[0].numpy()
        pooled = np.stack([ndimage.gaussian_filter(m, max(segment.TEXTURE_SIGMAS)) for m in maps], axis=-1)
        parts.append(PCA(6, random_state=0).fit_transform(pooled.reshape(h * w, -1)))
    texture = np.concatenate(parts, axis=1)
    texture *= spread / np.sqrt(((texture - texture.mean(0)) ** 2).sum(axis=1).mean())
    return texture.reshape(h, w, -1)


def pieces(labels: np.ndarray) -> int:
    """4-connected pieces of all regions together (a hand-made map has a few; speckle has hundreds)."""
    return int(count_components(labels, int(labels.max()) + 1).sum())


def spread_of(features: np.ndarray) -> float:
    f = features.reshape(-1, features.shape[-1])
    return float(np.sqrt(((f - f.mean(0)) ** 2).sum(axis=1).mean()))


def methods(rgb: np.ndarray, k: int, seed: int, net) -> dict[str, callable]:
    small = segment.working_copy(rgb)

    def variant(weights: dict[str, float], texture=None):
        def run():
            groups = segment.pixel_features(small)
            if texture is not None:
                groups["texture"] = texture(groups["texture"])
            features = segment.stack_features(groups, weights)
            return segment.labels_from_features(features, small.shape[:2], k, seed=seed, size=rgb.shape[:2])

        return run

    return {
        "baseline (K-means RGB + position)": lambda: baseline(rgb, k, seed),
        "doodle map": lambda: segment.segment_painting(rgb, k, seed=seed).labels,
        "no texture": variant({**segment.WEIGHTS, "texture": 0.0}),
        "loss-net texture": variant(segment.WEIGHTS, lambda local: loss_net_texture(small, net, spread_of(local))),
    }


@click.command()
@click.option("--pair", "pairs", multiple=True, metavar="PAINTING:MAP",
              help="Also measure this painting and its hand-made map (repeatable).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--loss-net", default="random", show_default=True, help="Network of the loss-net texture variant.")
@click.option("--out", type=click.Path(file_okay=False), default=None, help="Write each method's map and preview here.")
@click.option("--threads", type=click.IntRange(min=1), default=2, show_default=True, help="torch.set_num_threads.")
def main(pairs, seed, loss_net, out, threads) -> None:
    torch.set_num_threads(threads)
    net = load_loss_net(loss_net, layers=LOSS_NET_LAYERS, seed=seed, log=lambda _m: None)
    segment.segment_painting(np.arange(48 * 3, dtype=np.uint8).reshape(4, 12, 3), 2)  # compile numba before timing
    jobs = [(EXEMPLAR / "style.png", EXEMPLAR / "style_map.png")]
    jobs += [tuple(Path(p) for p in pair.split(":", 1)) for pair in pairs]
    for painting_path, map_path in jobs:
        rgb = load_rgb(painting_path)
        palette, truth = fit_palette(load_rgb(map_path))
        k = palette.k
        click.echo(f"\n{painting_path} ({rgb.shape[1]}x{rgb.shape[0]}) vs {map_path}: {k} regions in "
                   f"{pieces(truth)} pieces")
        click.echo(f"{'method':36s} {'ARI':>6s} {'matched':>8s} {'pieces':>7s} {'seconds':>8s} {'ARI vs baseline':>16s}")
        reference = None
        for name, run in methods(rgb, k, seed, net).items():
            start = time.perf_counter()
            found = run().astype(np.uint8)
            seconds = time.perf_counter() - start
            ari = adjusted_rand_score(truth.ravel(), found.ravel())
            reference = ari if reference is None else reference
            click.echo(f"{name:36s} {ari:6.3f} {matched_accuracy(truth, found):8.1%} {pieces(found):7d} "
                       f"{seconds:8.2f} {ari / reference:15.2f}x")
            if out:
                stem = Path(out) / f"{painting_path.parent.name}-{painting_path.stem}-{name.split(' (')[0].replace(' ', '-')}"
                stem.parent.mkdir(parents=True, exist_ok=True)
                write_label_png(stem.with_suffix(".png"), found)
                save_rgb(stem.with_name(stem.name + "-preview.png"), segment.draw_borders(rgb, found))
            if name == "doodle map" and painting_path == EXEMPLAR / "style.png":
                verdict = "met" if ari >= TARGET_ARI else "NOT met"
                click.echo(f"{'':36s} target ARI >= {TARGET_ARI} on the exemplar: {verdict}")


if __name__ == "__main__":
    main()
