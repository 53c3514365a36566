"""Every picture in the README, each from one command.

::

    python scripts/readme_pictures.py demo                         # datasets/demo_output.jpg
    python scripts/readme_pictures.py serve doodle-demo/run        # datasets/serve_screenshot.png
    python scripts/readme_pictures.py renders -o datasets/generator_v3_exemplar.jpg --zoom 3 --optimize RUN
    python scripts/readme_pictures.py renders -o datasets/generator_1024.jpg --size 1024 RUN

``demo`` runs ``doodle demo`` with its defaults and keeps its picture;
``serve`` starts ``doodle serve`` on a run, opens it in headless Chromium
(Debian's ``chromium`` and ``chromium-driver``) and screenshots the page once
its first map is painted; ``renders`` paints one map with every run given (in order), optionally
beside raw-loss ``doodle optimize`` of the first run's painting, map first.
The README's caption of each picture names the runs it shows and the command
that trained them.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import click
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT / "datasets"


def save_jpeg(image: np.ndarray | Image.Image, path: Path) -> None:
    """Write an RGB picture (uint8, or float in [0, 1]) as a JPEG of quality 90, atomically."""
    if isinstance(image, np.ndarray):
        image = Image.fromarray(np.rint(np.clip(image, 0, 1) * 255).astype(np.uint8) if image.dtype != np.uint8 else image)
    tmp = path.with_name(path.name + ".tmp")
    image.convert("RGB").save(tmp, format="JPEG", quality=90)
    os.replace(tmp, path)
    click.echo(f"wrote {path}")


@click.group()
def main() -> None:
    """Remake the README's pictures."""


@main.command()
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=str(DATASETS / "demo_output.jpg"),
              show_default=True)
@click.option("--out", "demo_dir", type=click.Path(file_okay=False), default="doodle-demo", show_default=True,
              help="Where `doodle demo` writes its run (reused by `serve`).")
def demo(output: str, demo_dir: str) -> None:
    """`doodle demo` on its defaults; its demo.png becomes the README's first picture."""
    subprocess.run([sys.executable, "-m", "doodle", "demo", "--out", demo_dir], check=True)
    save_jpeg(Image.open(Path(demo_dir) / "demo.png"), Path(output))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@main.command()
@click.argument("run", type=click.Path(exists=True, file_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=str(DATASETS / "serve_screenshot.png"),
              show_default=True)
@click.option("--seed", type=int, default=3, show_default=True, help="Noise seed of the painting.")
def serve(run: str, output: str, seed: int) -> None:
    """Screenshot `doodle serve` on RUN (a `doodle train` folder): the page's first map (map seed 0), painted."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    browser, driver_path = shutil.which("chromium") or shutil.which("chromium-browser"), shutil.which("chromedriver")
    if browser is None or driver_path is None:
        raise click.ClickException("needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)")
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "doodle", "serve", "--checkpoint", str(Path(run) / "checkpoint.pt"),
                               "--port", str(port)])
    with tempfile.TemporaryDirectory() as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = browser
        for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,800",
                     f"--user-data-dir={profile}"):
            options.add_argument(flag)
        os.environ.setdefault("SE_OFFLINE", "true")
        driver = webdriver.Chrome(service=Service(driver_path), options=options)
        try:
            url = f"http://127.0.0.1:{port}/"
            for _ in range(120):  # the server loads the model before it listens
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.5)
            driver.get(url)
            # False (not an error) until the page has loaded its style and shows the current map's painting.
            rendered = ("try { return document.getElementById('render').dataset.key === window.doodle.key(); } "
                        "catch (e) { return false; }")
            WebDriverWait(driver, 60).until(lambda d: d.execute_script(rendered))
            seed_box = driver.find_element(By.ID, "seed")
            seed_box.clear()
            seed_box.send_keys(str(seed), Keys.TAB)  # leaving the box is what sends the change
            WebDriverWait(driver, 60).until(lambda d: d.execute_script(rendered))
            time.sleep(0.5)  # the swap of the decoded picture
            tmp = Path(output).with_name(Path(output).name + ".tmp.png")
            driver.save_screenshot(str(tmp))
            os.replace(tmp, output)
            click.echo(f"wrote {output}")
        finally:
            driver.quit()
            server.terminate()
            server.wait()


@main.command()
@click.argument("runs", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True)
@click.option("--map", "map_path", type=click.Path(exists=True, dir_okay=False),
              default=str(DATASETS / "exemplar" / "target_1.png"), show_default=True)
@click.option("--size", type=int, default=None, help="Longest side of the renders [default: the runs' training size].")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--zoom", type=click.IntRange(1, 8), default=1, show_default=True,
              help="Enlarge the picture this many times, nearest neighbour (pixels stay visible).")
@click.option("--optimize", "with_optimize", is_flag=True,
              help="Add raw-loss `doodle optimize` (200 L-BFGS iterations) of the first run's painting, last.")
def renders(runs: tuple[str, ...], output: str, map_path: str, size: int | None, seed: int, zoom: int,
            with_optimize: bool) -> None:
    """Paint one map with each RUN: map | RUN ... [| optimize], side by side."""
    from doodle.images import load_rgb, to_array
    from doodle.maps.palette import colorize
    from doodle.maps.semantic import load_target_map
    from doodle.montage import side_by_side
    from doodle.painting.render import render_labels
    from doodle.training.checkpoint import generator_from_checkpoint, load_checkpoint

    panels, labels, palette = [], None, None
    for run in runs:
        ckpt = load_checkpoint(Path(run) / "checkpoint.pt")
        model, run_palette = generator_from_checkpoint(ckpt)
        if labels is None:
            palette, config = run_palette, ckpt["config"]
            labels = load_target_map(map_path, palette, size=size or config["size"])
        panels.append(to_array(render_labels(model.eval(), labels, seed=seed)))
    if with_optimize:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "optimize.png"
            subprocess.run([sys.executable, "-m", "doodle", "optimize", "--style", config["style"],
                            "--style-map", config["style_map"], "--regions", str(config["k"]),
                            "--target-map", map_path, "--size", str(max(labels.shape)), "--iterations", "200", "--raw",
                            "--loss-net", config["loss_net"], "--seed", str(seed), "-o", str(out)], check=True)
            panels.append(load_rgb(out) / 255.0)
    picture = side_by_side([colorize(labels, palette), *panels])
    save_jpeg(picture.repeat(zoom, axis=0).repeat(zoom, axis=1), Path(output))


if __name__ == "__main__":
    main()
