"""Benchmark ``doodle serve``: server time per render, and many clients at once against a real uvicorn.

::

    python scripts/bench_serve.py                       # default generator on the exemplar's palette, 2 cores
    python scripts/bench_serve.py --checkpoint runs/painting/checkpoint.pt --cores 0-3 --threads 4

The server is ``doodle serve`` in its own process on 127.0.0.1, pinned to
``--cores`` with ``--threads`` torch threads. Without ``--checkpoint`` the
script saves the default generator (``doodle.generators.registry.DEFAULT_ARCH``) for the exemplar's palette
(untrained: weights do not change the cost) in a temporary run folder.

1. Sequential renders of random maskgen maps at 256x256 and 512x512:
   ``X-Render-Seconds`` (the server's time for one request: decode the PNG,
   snap it to the palette, the forward pass, encode the PNG; queue wait
   excluded) and the client's round trip, median (and fastest) of ``--repeats`` after two
   warm-ups. Baseline, measured in this process on the same cores: the
   forward pass alone (``render_labels``, what ``doodle render`` reports),
   so the ratio is the server's overhead. Targets: <= 150 ms and <= 0.5 s.
2. ``--clients`` threads, each its own client id, each sending
   ``--requests`` renders one after the other (all clients at once), twice:
   every answer is checked pixel for pixel against the sequential answer for
   the same map and seed; round-trip p50/p95 and the server's RSS before and
   after each round.
"""

from __future__ import annotations

import io
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import click
import numpy as np
import torch
from PIL import Image

import maskgen
from benchtools import median_seconds
from doodle import __version__
from doodle.generators.registry import DEFAULT_ARCH, new_generator
from doodle.images import to_uint8
from doodle.maps.semantic import load_style
from doodle.painting.render import render_labels
from doodle.training.checkpoint import generator_from_checkpoint, load_checkpoint, save_checkpoint

EXEMPLAR = Path(__file__).resolve().parents[1] / "datasets" / "exemplar"
TARGETS = {256: 0.150, 512: 0.5}
BOUNDARY = "bench-serve-boundary"


def default_checkpoint(folder: Path) -> Path:
    """The default generator for the exemplar's palette, saved as a run (untrained)."""
    style = load_style(EXEMPLAR / "style.png", EXEMPLAR / "style_map.png", log=lambda _m: None)
    torch.manual_seed(0)
    model = new_generator({"arch": DEFAULT_ARCH, "k": style.k}).eval()
    path = folder / "exemplar" / "checkpoint.pt"
    path.parent.mkdir(parents=True)
    save_checkpoint(path, {
        "model": model.state_dict(), "optimizer": {}, "step": 0, "palette": style.palette, "loss_net": "untrained",
        "version": __version__,
        "config": {"k": style.k, "style": str(EXEMPLAR / "style.png"), "style_map": str(EXEMPLAR / "style_map.png"),
                   "generator": model.to_config(), "mask": {"roughness": 0.6, "filter_size": 7, "min_area": 0.05}},
    })
    return path


def parse_cores(text: str) -> set[int]:
    cores: set[int] = set()
    for part in text.split(","):
        low, _, high = part.partition("-")
        cores.update(range(int(low), int(high or low) + 1))
    return cores


def start_server(checkpoint: Path, cores: set[int], threads: int, precision: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "doodle", "serve", "--checkpoint", str(checkpoint), "--port", "0", "--device", "cpu",
         "--threads", str(threads), "--precision", precision],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=os.environ | {"PYTHONUNBUFFERED": "1"},
        preexec_fn=lambda: os.sched_setaffinity(0, cores),
    )
    for line in proc.stdout:
        found = re.search(r" at (http://127\.0\.0\.1:\d+/) ", line)
        if found:
            return proc, found.group(1)
    raise SystemExit(f"doodle serve did not start (exit {proc.wait()})")


def post_render(url: str, map_png: bytes, seed: int, client: str | None = None) -> tuple[bytes, float, float]:
    """PNG, server seconds, round-trip seconds."""
    fields = [("seed", str(seed).encode())] + ([("client", client.encode())] if client else [])
    body = b"".join(f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode() + value + b"\r\n"
                    for name, value in fields)
    body += (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="map"; filename="map.png"\r\n'
             f"Content-Type: image/png\r\n\r\n").encode() + map_png + f"\r\n--{BOUNDARY}--\r\n".encode()
    request = urllib.request.Request(url + "api/render", data=body, method="POST",
                                     headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"})
    start = time.perf_counter()
    with urllib.request.urlopen(request, timeout=300) as response:
        png = response.read()
        server = float(response.headers["X-Render-Seconds"])
    return png, server, time.perf_counter() - start


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def encode(rgb: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG")
    return buffer.getvalue()


@click.command()
@click.option("--checkpoint", type=click.Path(dir_okay=False, exists=True), default=None,
              help="A run's checkpoint [default: the default generator on the exemplar's palette].")
@click.option("--cores", default="0-1", show_default=True, help="CPU cores of the server and the baseline.")
@click.option("--threads", type=click.IntRange(min=1), default=2, show_default=True, help="torch threads.")
@click.option("--precision", default="auto", show_default=True)
@click.option("--repeats", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--clients", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--requests", "per_client", type=click.IntRange(min=1), default=5, show_default=True,
              help="Renders per client and round.")
@click.option("--json-out", type=click.Path(dir_okay=False), default=None, help="Also write the figures as JSON.")
def main(checkpoint, cores, threads, precision, repeats, clients, per_client, json_out) -> None:
    cores = parse_cores(cores) & os.sched_getaffinity(0)
    os.sched_setaffinity(0, cores)
    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = Path(checkpoint) if checkpoint else default_checkpoint(Path(tmp))
        model, palette = generator_from_checkpoint(load_checkpoint(checkpoint))
        k = palette.k
        maps = {}
        for side in TARGETS:
            params = maskgen.MaskParams(width=side, height=side, regions=(k, k), roughness=0.6, filter_size=7)
            maps[side] = [maskgen.make_mask(params, 11, i).labels for i in range(3)]
        pngs = {side: [encode(palette.colours[labels]) for labels in maps[side]] for side in maps}

        proc, url = start_server(checkpoint, cores, threads, precision)
        figures: dict = {"cores": sorted(cores), "threads": threads, "k": k, "checkpoint": str(checkpoint)}
        try:
            print(f"server {url} on cores {sorted(cores)}, {threads} torch threads, K={k}, "
                  f"rss after start {rss_mb(proc.pid):.0f} MB")
            print(f"load average before: {os.getloadavg()[0]:.1f} (figures are only meaningful on an idle machine)")
            print("\n| size | forward pass (baseline) | server time | ratio | fastest server time | round trip | target | met |")
            print("|---|---|---|---|---|---|---|---|")
            reference = {}
            for side, labels_list in maps.items():
                for i, png in enumerate(pngs[side]):  # warm-up, and the answers phase 2 must reproduce
                    reference[side, i] = post_render(url, png, seed=i)[0]
                timings = [post_render(url, pngs[side][j % 3], seed=j % 3)[1:] for j in range(repeats)]
                server = statistics.median(t[0] for t in timings)
                fastest = min(t[0] for t in timings)
                trip = statistics.median(t[1] for t in timings)
                forward = median_seconds(lambda: render_labels(model, labels_list[0], precision=precision),
                                         repeats=repeats, warmup=2)
                same = np.array_equal(pixels(reference[side, 0]),
                                      to_uint8(render_labels(model, labels_list[0], seed=0, precision=precision)))
                met = server <= TARGETS[side]
                print(f"| {side}x{side} | {forward * 1000:.1f} ms | {server * 1000:.1f} ms | {server / forward:.2f}x "
                      f"| {fastest * 1000:.1f} ms | {trip * 1000:.1f} ms | <= {TARGETS[side] * 1000:.0f} ms "
                      f"| {'yes' if met else 'NO'} |")
                figures[f"{side}"] = {"forward_s": forward, "server_s": server, "fastest_server_s": fastest,
                                      "round_trip_s": trip,
                                      "target_s": TARGETS[side], "met": met, "same_pixels_as_render_labels": same}
            print("same pixels as render_labels in-process:",
                  all(figures[f"{s}"]["same_pixels_as_render_labels"] for s in TARGETS))

            def session(c: int):
                out = []
                for j in range(per_client):
                    i = (c + j) % 3
                    png, _, trip = post_render(url, pngs[256][i], seed=i, client=f"client-{c}")
                    out.append((np.array_equal(pixels(png), pixels(reference[256, i])), trip))
                return out

            print(f"\n{clients} clients x {per_client} renders at 256x256, all at once:")
            rounds = []
            for round_no in (1, 2):
                before = rss_mb(proc.pid)
                start = time.perf_counter()
                with ThreadPoolExecutor(clients) as pool:
                    answers = [a for s in pool.map(session, range(clients)) for a in s]
                wall = time.perf_counter() - start
                after = rss_mb(proc.pid)
                trips = sorted(t for _, t in answers)
                p50, p95 = np.percentile(trips, 50), np.percentile(trips, 95)
                correct = sum(ok for ok, _ in answers)
                print(f"  round {round_no}: {correct}/{len(answers)} correct, p50 {p50 * 1000:.0f} ms, "
                      f"p95 {p95 * 1000:.0f} ms, {len(answers) / wall:.1f} renders/s, "
                      f"server RSS {before:.0f} -> {after:.0f} MB")
                rounds.append({"correct": correct, "requests": len(answers), "p50_s": p50, "p95_s": p95,
                               "renders_per_s": len(answers) / wall, "rss_before_mb": before, "rss_after_mb": after})
            figures["concurrent"] = rounds
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    if json_out:
        Path(json_out).write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
