"""`doodle serve` for real: a uvicorn process on localhost, driven by headless Chromium and by raw clients.

The browser test needs Debian's ``chromium`` and ``chromium-driver`` and the
``selenium`` package (``.ci/run`` installs them); without them it is skipped.
Set ``DOODLE_SERVE_SCREENSHOT=PATH`` to keep the browser's screenshot of the page.
"""

import base64
import io
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("starlette", reason="doodle serve needs the serve extra: pip install -e '.[serve]'")

from test_serve import MAP_COLOURS, STYLE_COLOURS, doodle_map, multipart, png, trained_run  # noqa: E402,F401

CHROME_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=1440,900")


def start_server(checkpoint: Path, *extra: str) -> tuple[subprocess.Popen, str]:
    """``doodle serve`` on a free localhost port; returns the process and the page URL it printed."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "doodle", "serve", "--checkpoint", str(checkpoint), "--port", "0", "--device", "cpu",
         "--threads", "2", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=os.environ | {"PYTHONUNBUFFERED": "1"},
    )
    lines = []
    for line in proc.stdout:
        lines.append(line)
        found = re.search(r" at (http://127\.0\.0\.1:\d+/) ", line)
        if found:
            wait_until_answering(found.group(1))
            return proc, found.group(1)
    proc.wait()
    raise AssertionError(f"doodle serve exited with {proc.returncode}: {''.join(lines)}")


def wait_until_answering(url: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url + "api/styles", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def live_server(trained_run):
    proc, url = start_server(trained_run / "checkpoint.pt")
    yield url
    stop_server(proc)
    # uvicorn shuts down cleanly, then re-raises SIGTERM so that the exit status tells why it stopped.
    assert proc.returncode in (0, -signal.SIGTERM)


def post_render(url: str, map_bytes: bytes, client: str | None = None, seed: int = 0) -> tuple[int, bytes]:
    boundary = "doodle-test-boundary"
    fields = [("map", map_bytes), ("seed", str(seed).encode())] + ([("client", client.encode())] if client else [])
    request = urllib.request.Request(url + "api/render", data=multipart(boundary, fields), method="POST",
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def decode(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


@pytest.mark.slow
def test_real_server_answers_concurrent_clients_and_survives_garbage(live_server, trained_run):
    from doodle.training.checkpoint import generator_from_checkpoint, load_checkpoint

    _, palette = generator_from_checkpoint(load_checkpoint(trained_run / "checkpoint.pt"))
    maps = [png(doodle_map(palette, 24 + 4 * i, 40)) for i in range(3)]
    status, reference = zip(*(post_render(live_server, m, seed=1) for m in maps))
    assert set(status) == {200}

    def client_session(c: int):
        return [post_render(live_server, maps[(c + j) % 3], client=f"c{c}", seed=1) + ((c + j) % 3,) for j in range(3)]

    with ThreadPoolExecutor(8) as pool:
        answers = [a for session in pool.map(client_session, range(8)) for a in session]
    assert all(code == 200 and body == reference[which] for code, body, which in answers)

    with socket.create_connection(("127.0.0.1", int(live_server.rsplit(":", 1)[1].strip("/")))) as raw:
        raw.sendall(b"\x16\x03\x01 not http at all\r\n\r\n")
        raw.settimeout(5)
        assert raw.recv(100).startswith(b"HTTP/1.1 400")
    assert post_render(live_server, maps[0], seed=1) == (200, reference[0])


# ---------- the browser ----------

def chromium_driver(tmp_path):
    """A headless Chromium WebDriver, or a skip saying what is missing."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if browser is None or driver is None:
        pytest.skip("no browser: install Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver", reason="no selenium: pip install -e '.[dev]'")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in (*CHROME_FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(flag)
    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager must not look for downloads
    return webdriver.Chrome(service=Service(driver), options=options)


def wait_for_render(driver, timeout: float = 30.0) -> np.ndarray:
    """Wait until the painting on the page depicts the current map, seed and size; return its pixels."""
    from selenium.webdriver.support.ui import WebDriverWait

    # False, not an error, while the page is still loading its style (key() reads it).
    WebDriverWait(driver, timeout).until(lambda d: d.execute_script(
        "try { return document.getElementById('render').dataset.key === window.doodle.key(); } "
        "catch (e) { return false; }"))
    # The PNG bytes the server sent, as a data: URL.
    url = driver.execute_async_script("""
        const done = arguments[arguments.length - 1];
        const reader = new FileReader();
        reader.onload = () => done(reader.result);
        reader.readAsDataURL(window.doodle.state.renderBlob);""")
    return decode(base64.b64decode(url.split(",", 1)[1]))


def canvas_pixels(driver) -> np.ndarray:
    url = driver.execute_script("return document.getElementById('map').toDataURL('image/png')")
    return decode(base64.b64decode(url.split(",", 1)[1]))


@pytest.mark.slow
def test_browser_draws_a_stroke_and_undo_restores_the_painting(live_server, trained_run, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    driver = chromium_driver(tmp_path)
    try:
        driver.get(live_server)
        wait_for_render(driver)
        palette = np.array(driver.execute_script("return window.doodle.state.style.palette"))
        painted = STYLE_COLOURS[[MAP_COLOURS.tolist().index(c) for c in palette.tolist()]].astype(float)
        # The region whose painting differs most from region 0's: the stroke must visibly move toward it.
        region = int(np.argmax(np.abs(painted - painted[0]).sum(axis=1)))

        driver.find_element(By.CSS_SELECTOR, '.region[data-region="0"]').click()
        driver.find_element(By.ID, "clear").click()
        before = wait_for_render(driver)
        assert (canvas_pixels(driver) == palette[0]).all()

        driver.find_element(By.CSS_SELECTOR, f'.region[data-region="{region}"]').click()
        driver.find_element(By.CSS_SELECTOR, '#brush-sizes button[data-size="48"]').click()
        canvas = driver.find_element(By.ID, "map")
        width = canvas.size["width"]
        sent_before = driver.execute_script("return window.doodle.state.seq")
        stroke = ActionChains(driver).move_to_element_with_offset(canvas, -int(width * 0.35), 0).click_and_hold()
        for _ in range(10):
            stroke = stroke.move_by_offset(int(width * 0.07), 0).pause(0.06)
        stroke.release().perform()
        after = wait_for_render(driver)
        live_requests = driver.execute_script("return window.doodle.state.seq") - sent_before
        assert live_requests >= 3  # renders were sent while drawing, not only at the end

        stroked = (canvas_pixels(driver) == palette[region]).all(axis=2)
        assert 0.05 < stroked.mean() < 0.3  # a thick horizontal band, as drawn
        target = painted[region]
        old = np.linalg.norm(before[stroked].mean(axis=0) - target)
        new = np.linalg.norm(after[stroked].mean(axis=0) - target)
        assert new < 0.5 * old, (old, new)
        assert np.abs(after[~stroked].astype(int) - before[~stroked]).mean() < np.abs(
            after[stroked].astype(int) - before[stroked]).mean() / 3  # elsewhere the painting barely moved

        screenshot = tmp_path / "page.png"
        driver.save_screenshot(str(screenshot))
        if os.environ.get("DOODLE_SERVE_SCREENSHOT"):
            shutil.copyfile(screenshot, os.environ["DOODLE_SERVE_SCREENSHOT"])
        assert Image.open(screenshot).size[0] >= 1000

        driver.find_element(By.ID, "undo").click()
        restored = wait_for_render(driver)
        assert np.array_equal(restored, before)
        assert (canvas_pixels(driver) == palette[0]).all()

        # Start over from the painting's own map: the canvas becomes it, and it is painted.
        driver.find_element(By.ID, "painting-map").click()
        wait_for_render(driver)
        style_map = np.asarray(Image.open(trained_run.parent / "style_map.png").convert("RGB"))
        np.testing.assert_array_equal(canvas_pixels(driver)[4::8, 4::8], style_map)
    finally:
        driver.quit()


@pytest.mark.slow
def test_browser_shows_the_newest_answer_when_an_older_one_arrives_mid_decode(live_server, tmp_path):
    from selenium.webdriver.common.by import By

    driver = chromium_driver(tmp_path)
    try:
        driver.get(live_server)
        wait_for_render(driver)
        # Hold the next two answers, hand the page the newer one, and the older one as
        # soon as the newer one starts decoding.
        driver.execute_script("""
            const realFetch = window.fetch, realDecode = HTMLImageElement.prototype.decode, held = [];
            let releaseOlder = null;
            window.fetch = async (url, options) => {
              const response = await realFetch(url, options);
              if (!String(url).includes('/api/render')) return response;
              return new Promise((resolve) => {
                held.push(() => resolve(response));
                if (held.length === 2) { releaseOlder = held[0]; held[1](); }
              });
            };
            HTMLImageElement.prototype.decode = function () {
              const decoding = realDecode.call(this);
              if (releaseOlder) { releaseOlder(); releaseOlder = null; }
              return decoding;
            };""")
        driver.find_element(By.ID, "reroll").click()
        driver.find_element(By.ID, "reroll").click()
        wait_for_render(driver, timeout=15)
        status = driver.find_element(By.ID, "status")
        assert "error" not in status.get_attribute("class"), status.text
        assert driver.execute_script("return window.doodle.state.shownSeq === window.doodle.state.seq")
    finally:
        driver.quit()
