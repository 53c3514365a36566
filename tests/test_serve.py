"""`doodle serve`: the API through Starlette's test client, the render queue, the page's files."""

import asyncio
import contextlib
import http.client
import io
import json
import random
import shlex
import shutil
import threading
import time
import tracemalloc
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

pytest.importorskip("starlette", reason="doodle serve needs the serve extra: pip install -e '.[serve]'")

from starlette.testclient import TestClient  # noqa: E402

from doodle.cli import main  # noqa: E402
from doodle.generators.registry import DEFAULT_ARCH, build_generator  # noqa: E402
from doodle.serve import server  # noqa: E402
from doodle.serve.app import MAX_BODY_BYTES, STATIC_DIR, create_app  # noqa: E402
from doodle.serve.render_queue import RenderQueue, Superseded  # noqa: E402
from doodle.serve.styles import load_styles  # noqa: E402
from doodle.style.loss import DOODLE_BALANCE, DOODLE_COLOUR_WEIGHT  # noqa: E402
from doodle.training.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402
from doodle.training.config import TrainConfig  # noqa: E402
from doodle.training.train import train  # noqa: E402

#: The style painting's colour in each style-map region (red stripes top, green, blue stripes).
STYLE_COLOURS = np.array([[230, 40, 40], [40, 200, 60], [40, 60, 220]], np.uint8)
MAP_COLOURS = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255]], np.uint8)


def make_style(folder):
    """A 48x64 three-region painting with its map; returns the paths."""
    yy, xx = np.mgrid[0:48, 0:64]
    labels = np.where(yy < 16, 0, np.where(xx < 32, 1, 2))
    image = STYLE_COLOURS[labels].astype(np.float32)
    image[(labels == 0) & (yy % 4 < 2)] *= 0.6
    image[(labels == 2) & (xx % 6 < 3)] *= 0.5
    image += np.random.default_rng(0).normal(0, 8, image.shape)
    style, style_map = folder / "style.png", folder / "style_map.png"
    Image.fromarray(image.clip(0, 255).astype(np.uint8)).save(style)
    Image.fromarray(MAP_COLOURS[labels]).save(style_map)
    return style, style_map


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """A run folder trained for a few steps (a tiny default-architecture generator, random loss net)."""
    folder = tmp_path_factory.mktemp("serve")
    style, style_map = make_style(folder)
    torch.set_num_threads(2)
    config = TrainConfig(style=str(style), style_map=str(style_map), out=str(folder / "painting"), size=32, batch=2,
                         steps=4, style_layers=("relu1_1", "relu2_1"), loss_net="random", precision="fp32",
                         workers=0, sample_every=4, checkpoint_every=4, log_every=4, samples=1, lr=0.02,
                         generator={"arch": DEFAULT_ARCH, "width": 4, "blocks": 1})
    train(config, progress=False, log=lambda _m: None)
    return folder / "painting"


@pytest.fixture(scope="module")
def styles(trained_run):
    return load_styles(checkpoint=trained_run / "checkpoint.pt", log=lambda _m: None)


@pytest.fixture(scope="module")
def client(styles):
    with TestClient(create_app(styles, threads=2)) as test_client:
        yield test_client


def png(rgb) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(rgb, np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def doodle_map(palette, h=24, w=40) -> np.ndarray:
    """A map in the style's region colours: region 0 background, a block of 1, a disc of 2."""
    labels = np.zeros((h, w), np.uint8)
    labels[h // 2:, : w // 2] = 1
    yy, xx = np.mgrid[0:h, 0:w]
    labels[(yy - h // 3) ** 2 + (xx - 3 * w // 4) ** 2 < (h // 4) ** 2] = 2
    return np.asarray(palette)[labels]


def render(client, map_bytes, **fields):
    return client.post("/api/render", files={"map": ("map.png", map_bytes, "image/png")},
                       data={k: str(v) for k, v in fields.items()})


# ---------- styles ----------

def test_styles_lists_the_checkpoint(client, trained_run):
    ckpt = load_checkpoint(trained_run / "checkpoint.pt")
    listing = client.get("/api/styles").json()
    assert listing["default"] == "painting"
    (style,) = listing["styles"]
    assert style["id"] == "painting" and style["k"] == 3 and style["step"] == 4
    assert style["palette"] == ckpt["palette"] and style["loss_net"] == ckpt["loss_net"]
    thumb = client.get(style["thumbnail"])
    assert thumb.headers["content-type"] == "image/png" and pixels(thumb.content).shape == (48, 64, 3)
    # Each swatch is cut from the painting inside its region: its mean is that region's painted colour.
    for region, url in enumerate(style["swatches"]):
        swatch = pixels(client.get(url).content).reshape(-1, 3).mean(axis=0)
        painted = STYLE_COLOURS[MAP_COLOURS.tolist().index(style["palette"][region])]
        assert np.argmax(swatch) == np.argmax(painted), (region, swatch, painted)


def test_painting_map_is_the_style_map_in_exact_region_colours(client, trained_run):
    (style,) = client.get("/api/styles").json()["styles"]
    served = client.get(style["painting_map"])
    assert served.status_code == 200 and served.headers["content-type"] == "image/png"
    got = pixels(served.content)
    assert got.shape == (384, 512, 3)  # the painting's 48x64 map, longest side 512, nearest neighbour
    labels = np.asarray(Image.open(trained_run.parent / "style_map.png").convert("RGB"))
    np.testing.assert_array_equal(got[4::8, 4::8], labels)


def test_unknown_swatch_and_style_are_json_404(client):
    for url in ("/api/styles/painting/swatches/3.png", "/api/styles/nope/thumbnail.png", "/api/nothing"):
        response = client.get(url)
        assert response.status_code == 404 and "error" in response.json()


def test_missing_style_painting_falls_back_to_region_colours(trained_run, tmp_path):
    ckpt = load_checkpoint(trained_run / "checkpoint.pt")
    ckpt["config"] = dict(ckpt["config"], style=str(tmp_path / "gone.png"))
    (tmp_path / "moved").mkdir()
    save_checkpoint(tmp_path / "moved" / "checkpoint.pt", ckpt)
    notes = []
    (style,) = load_styles(checkpoint=tmp_path / "moved" / "checkpoint.pt", log=notes.append)
    assert len(notes) == 1 and "image not found" in notes[0] and "region colours" in notes[0]
    for region, swatch in enumerate(style.swatches):
        assert (pixels(swatch) == style.palette.colours[region]).all()
    # No painting, no map of it to start from: the page greys the button, the route says why.
    with TestClient(create_app([style], threads=1)) as no_map:
        (listed,) = no_map.get("/api/styles").json()["styles"]
        assert listed["painting_map"] is None
        missing = no_map.get(f"/api/styles/{style.id}/painting-map.png")
        assert missing.status_code == 404 and "random map" in missing.json()["error"]


def test_runs_folder_serves_every_loadable_run(trained_run, tmp_path):
    for name in ("b_style", "a_style"):
        shutil.copytree(trained_run, tmp_path / name)
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "checkpoint.pt").write_bytes(b"not a checkpoint")
    (tmp_path / "empty").mkdir()
    notes = []
    styles = load_styles(runs=tmp_path, log=notes.append)
    assert [s.id for s in styles] == ["a_style", "b_style"]
    assert len(notes) == 1 and notes[0].startswith("note: skipping") and "broken" in notes[0]
    client = TestClient(create_app(styles))
    assert [s["id"] for s in client.get("/api/styles").json()["styles"]] == ["a_style", "b_style"]
    map_bytes = png(doodle_map(styles[0].palette))
    assert render(client, map_bytes, style="b_style").headers["x-style"] == "b_style"


def test_runs_folder_without_checkpoints_is_refused(tmp_path):
    with pytest.raises(ValueError, match="no RUN/checkpoint.pt in"):
        load_styles(runs=tmp_path)


# ---------- render ----------

@pytest.mark.parametrize("size", [None, 16, 57])
def test_render_gives_the_pixels_of_doodle_render(client, styles, trained_run, tmp_path, size):
    rgb = doodle_map(styles[0].palette, 30, 44)
    Image.fromarray(rgb).save(tmp_path / "map.jpg", quality=90)  # anti-aliased, noisy colours: snapping matters
    args = ["render", "--checkpoint", str(trained_run / "checkpoint.pt"), "--map", str(tmp_path / "map.jpg"),
            "-o", str(tmp_path / "cli.png"), "--seed", "7"] + (["--size", str(size)] if size else [])
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    fields = {"seed": 7} | ({"size": size} if size else {})
    response = render(client, (tmp_path / "map.jpg").read_bytes(), **fields)
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    assert response.headers["x-seed"] == "7" and float(response.headers["x-render-seconds"]) > 0
    expected = np.asarray(Image.open(tmp_path / "cli.png"))
    assert np.array_equal(pixels(response.content), expected)


def test_render_seed_gives_variations(client, styles):
    map_bytes = png(doodle_map(styles[0].palette))
    a, b, c = (pixels(render(client, map_bytes, seed=s).content) for s in (1, 1, 2))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_render_comes_from_the_trained_network_not_the_region_colours_alone(client, styles, trained_run, tmp_path):
    assert styles[0].model.arch == DEFAULT_ARCH
    labels = np.repeat(np.arange(3, dtype=np.uint8), 16)[None].repeat(20, 0)
    map_bytes = png(styles[0].palette.colours[labels])
    served = pixels(render(client, map_bytes, seed=1).content).astype(float)
    base = torch.sigmoid(styles[0].model.region_color.detach()).numpy() * 255

    def served_by(change):
        ckpt = load_checkpoint(trained_run / "checkpoint.pt")
        change(ckpt["model"])
        folder = tmp_path / f"variant{len(list(tmp_path.iterdir()))}"
        folder.mkdir()
        save_checkpoint(folder / "checkpoint.pt", ckpt)
        app = create_app(load_styles(checkpoint=folder / "checkpoint.pt", log=lambda _m: None), threads=2)
        return pixels(render(TestClient(app), map_bytes, seed=1).content).astype(float)

    # Same region colours, the network as before training: another painting, so the trained weights are used.
    untrained = build_generator(styles[0].model.to_config()).state_dict()
    untrained_render = served_by(lambda model: model.update(untrained, region_color=model["region_color"]))
    assert np.abs(served - untrained_render).mean() > 1, np.abs(served - untrained_render).mean()
    # All regions given one base colour: the regions still come out apart, so the forward pass reads the mask.
    equal = served_by(lambda model: model["region_color"].copy_(model["region_color"].mean(0)))
    means = np.array([equal[labels == region].mean(axis=0) for region in range(3)])
    gaps = [np.abs(means[a] - means[b]).max() for a, b in ((0, 1), (0, 2), (1, 2))]
    assert min(gaps) > 1, (means, base)


def test_render_paints_regions_in_their_style_colours(client, styles):
    labels = np.repeat(np.arange(3, dtype=np.uint8), 16)[None].repeat(20, 0)
    out = pixels(render(client, png(styles[0].palette.colours[labels])).content).astype(float)
    for region in range(3):
        painted = STYLE_COLOURS[MAP_COLOURS.tolist().index(styles[0].palette.colours[region].tolist())]
        assert np.argmax(out[labels == region].mean(axis=0)) == np.argmax(painted)


def off_palette(palette):
    rgb = doodle_map(palette)
    rgb[:, :20] = (128, 128, 128)
    return png(rgb)


@pytest.mark.parametrize("case, status, words", [
    ("not an image", 415, "not a PNG, JPEG, WEBP, BMP or GIF image"),
    ("empty file", 415, "the map is empty"),
    ("off palette", 422, "palette: 0 #"),
    ("too many pixels", 413, "more than 4096x4096"),
    ("render too large", 413, "at most 1024 on the longest side"),
    ("unknown style", 404, "unknown style 'monet'; known styles: painting"),
    ("bad seed", 400, "seed must be a whole number"),
    ("negative size", 400, "size must be at least 1, got -3"),
    ("size over the limit", 413, "size 1500 is over 1024 pixels"),
    ("no map", 400, "no map"),
    ("map as text", 400, "no map"),
    ("not multipart", 400, "multipart/form-data"),
])
def test_render_errors_are_json_4xx(client, styles, case, status, words):
    good = png(doodle_map(styles[0].palette))
    files, data, extra = {"map": ("map.png", good, "image/png")}, {}, {}
    if case == "not an image":
        files["map"] = ("map.png", b"<html>hello</html>", "image/png")
    elif case == "empty file":
        files["map"] = ("map.png", b"", "image/png")
    elif case == "off palette":
        files["map"] = ("map.png", off_palette(styles[0].palette), "image/png")
    elif case == "too many pixels":
        files["map"] = ("map.png", png(np.zeros((2, 4097, 3))), "image/png")
    elif case == "render too large":
        files["map"] = ("map.png", png(np.zeros((8, 1500, 3)) + styles[0].palette.colours[0]), "image/png")
    elif case == "unknown style":
        data["style"] = "monet"
    elif case == "bad seed":
        data["seed"] = "seven"
    elif case == "negative size":
        data["size"] = "-3"
    elif case == "size over the limit":
        data["size"] = "1500"
    elif case == "no map":
        files = {"other": ("x.png", good, "image/png")}
    elif case == "map as text":
        files, data = {"seed": (None, "1")}, {"map": "iVBORw0KGgo"}
    elif case == "not multipart":
        files, extra = None, {"content": good, "headers": {"content-type": "image/png"}}
    response = client.post("/api/render", files=files, data=data, **extra)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert words in response.json()["error"]


def test_off_palette_error_lists_the_palette(client, styles):
    error = render(client, off_palette(styles[0].palette)).json()["error"]
    assert f"palette: {styles[0].palette}" in error and "#808080" in error


def test_oversized_bodies_are_refused_declared_or_streamed(client, styles):
    boundary = "x" * 16
    declared = client.post("/api/render", content=b"0" * (MAX_BODY_BYTES + 1),
                           headers={"content-type": f"multipart/form-data; boundary={boundary}"})
    assert declared.status_code == 413 and "8 MB" in declared.json()["error"]

    def chunks():  # no Content-Length: the limit must hold while streaming
        yield f"--{boundary}\r\nContent-Disposition: form-data; name=\"map\"; filename=\"m.png\"\r\n\r\n".encode()
        for _ in range(9):
            yield b"\0" * (1024 * 1024)

    streamed = client.post("/api/render", content=chunks(),
                           headers={"content-type": f"multipart/form-data; boundary={boundary}"})
    assert streamed.status_code == 413 and "8 MB" in streamed.json()["error"]


def test_garbage_bodies_never_break_the_server(client, styles):
    rng = random.Random(0)
    good = png(doodle_map(styles[0].palette))
    boundary = "b0undary"
    statuses = set()
    for i in range(150):
        kind = i % 5
        if kind == 0:  # random bytes, random content types
            body = rng.randbytes(rng.randrange(0, 3000))
            ctype = rng.choice(["multipart/form-data", f"multipart/form-data; boundary={boundary}",
                                "application/octet-stream", "image/png", "text/plain; charset=utf-8"])
        elif kind == 1:  # a real multipart body, truncated or with bytes flipped
            body = bytearray(multipart(boundary, [("map", good), ("seed", b"3")]))
            for _ in range(rng.randrange(1, 20)):
                body[rng.randrange(len(body))] = rng.randrange(256)
            body = bytes(body[: rng.randrange(len(body) + 1)])
            ctype = f"multipart/form-data; boundary={boundary}"
        elif kind == 2:  # a well-formed form whose map is a damaged PNG
            damaged = bytearray(good)
            for _ in range(rng.randrange(1, 30)):
                damaged[rng.randrange(8, len(damaged))] = rng.randrange(256)
            body, ctype = multipart(boundary, [("map", bytes(damaged))]), f"multipart/form-data; boundary={boundary}"
        elif kind == 3:  # many or huge fields
            parts = [(f"f{j}", rng.randbytes(rng.randrange(0, 2000))) for j in range(rng.randrange(1, 40))]
            body, ctype = multipart(boundary, parts), f"multipart/form-data; boundary={boundary}"
        else:  # odd field values
            value = rng.choice([b"", b"-1", b"1e9", b"\xff\xfe", b"9" * 100, b"nan", "\u00e9".encode()])
            body = multipart(boundary, [("map", good), (rng.choice(["seed", "size", "style", "client"]), value)])
            ctype = f"multipart/form-data; boundary={boundary}"
        response = client.post("/api/render", content=body, headers={"content-type": ctype})
        statuses.add(response.status_code)
        assert response.status_code < 500, (i, response.text)
        if response.status_code != 200:
            assert "error" in response.json()
    assert len(statuses) >= 3
    after = render(client, good, seed=5)
    assert after.status_code == 200 and np.array_equal(pixels(after.content), pixels(render(client, good, seed=5).content))


def multipart(boundary: str, parts) -> bytes:
    out = b""
    for name, value in parts:
        filename = '; filename="map.png"' if name == "map" else ""
        out += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"{filename}\r\n\r\n'.encode() + value + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


# ---------- maps: random and uploads ----------

def test_a_random_map_too_small_for_the_styles_regions_says_what_a_browser_user_can_do():
    # maskgen's own message ("lower --min-area or --filter-size, or raise --max-redraws") spoke CLI options.
    from doodle.maps.palette import Palette
    from doodle.serve.rendering import random_map
    from doodle.serve.styles import ServedStyle

    colours = [[25 * i, 255 - 25 * i, 100] for i in range(10)]
    style = ServedStyle("s", build_generator({"arch": DEFAULT_ARCH, "k": 10, "width": 4, "blocks": 1}),
                        Palette.from_colours(colours), step=0, loss_net="random")
    with pytest.raises(ValueError, match=r"^no random 16x16 map keeps all 10 regions of this style large enough "
                                         r"to paint; try a larger map or another seed$"):
        random_map(style, 16, 16, seed=0)


def test_random_map_has_the_styles_regions(client, styles):
    response = client.get("/api/random-map", params={"width": 96, "height": 64, "seed": 3})
    rgb = pixels(response.content)
    assert rgb.shape == (64, 96, 3)
    assert sorted(map(tuple, np.unique(rgb.reshape(-1, 3), axis=0))) == sorted(map(tuple, styles[0].palette.colours))
    again = pixels(client.get("/api/random-map", params={"width": 96, "height": 64, "seed": 3}).content)
    assert np.array_equal(rgb, again)
    too_large = client.get("/api/random-map", params={"width": 4000})
    assert too_large.status_code == 413 and "width 4000 is over 1024 pixels" in too_large.json()["error"]
    assert client.get("/api/random-map", params={"width": 8}).status_code == 400
    assert client.post("/api/map", files={"map": ("m.png", png(rgb), "image/png")}, data={"size": "2000"}).status_code == 413


def test_map_upload_is_snapped_to_exact_colours(client, styles):
    rgb = doodle_map(styles[0].palette, 40, 60).astype(int)
    noisy = np.clip(rgb + np.random.default_rng(1).integers(-30, 30, rgb.shape), 0, 255)
    response = client.post("/api/map", files={"map": ("m.png", png(noisy), "image/png")}, data={"size": "30"})
    snapped = pixels(response.content)
    assert snapped.shape == (20, 30, 3)
    assert np.array_equal(snapped, rgb[1::2, 1::2])
    refused = client.post("/api/map", files={"map": ("m.png", off_palette(styles[0].palette), "image/png")})
    assert refused.status_code == 422


def test_parallel_map_requests_are_worked_one_at_a_time(client, styles):
    upload = png(doodle_map(styles[0].palette, 1024, 1024))
    requests = [lambda: client.post("/api/map", files={"map": ("m.png", upload, "image/png")}, data={"size": "64"}),
                lambda: client.get("/api/random-map", params={"width": 1024, "height": 1024})]
    tracemalloc.start()
    try:
        peaks = []
        for request in requests:
            tracemalloc.reset_peak()
            assert request().status_code == 200
            peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.reset_peak()
        with ThreadPoolExecutor(20) as pool:
            statuses = list(pool.map(lambda i: requests[i % 2]().status_code, range(20)))
        parallel = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert statuses == [200] * 20
    # One at a time per model, 20 requests cost what the larger of one costs (plus their request bodies).
    assert parallel < 2 * max(peaks), (f"peak traced memory: one map upload {peaks[0] / 1e6:.0f} MB, one random map "
                                       f"{peaks[1] / 1e6:.0f} MB, 20 in parallel {parallel / 1e6:.0f} MB")


# ---------- the page ----------

def test_page_is_plain_files_from_this_server(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    for name in ("app.js", "style.css"):
        assert f"/static/{name}" in page.text and client.get(f"/static/{name}").status_code == 200
    for path in STATIC_DIR.iterdir():  # nothing from the internet: the user may be offline
        text = path.read_text()
        assert "http://" not in text and "https://" not in text and "//cdn" not in text, path.name


@pytest.mark.parametrize("path", ["/static/app.py", "/static/..%2Fapp.py", "/static/%2e%2e/app.py",
                                  "/static/../../checkpoint.py", "/api/styles/..%2F..%2Fetc/thumbnail.png"])
def test_no_request_path_reaches_the_filesystem(client, path):
    response = client.get(path)
    assert response.status_code == 404 and "error" in response.json()


@contextlib.contextmanager
def serving(trained_run, host, monkeypatch):
    """``server.serve`` on ``host``, any free port, in a thread; yields its address (host, port)."""
    servers, lines = [], []

    class Recorded(server.uvicorn.Server):
        def __init__(self, config):
            super().__init__(config)
            servers.append(self)

    monkeypatch.setattr(server.uvicorn, "Server", Recorded)
    thread = threading.Thread(target=server.serve, daemon=True, kwargs=dict(
        checkpoint=trained_run / "checkpoint.pt", host=host, port=0, device="cpu", threads=2, log=lines.append))
    thread.start()
    deadline = time.monotonic() + 30
    while not (servers and servers[0].started):
        assert thread.is_alive() and time.monotonic() < deadline, lines
        time.sleep(0.02)
    url = urllib.parse.urlsplit(lines[-1].split(" at ")[1].split()[0])
    try:
        yield url.hostname, url.port
    finally:
        servers[0].should_exit = True
        thread.join(10)


def status_for_host(address, host_header) -> int:
    connection = http.client.HTTPConnection(*address, timeout=10)
    try:
        connection.request("GET", "/api/styles", headers={"Host": host_header})
        return connection.getresponse().status
    finally:
        connection.close()


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_loopback_server_accepts_loopback_host_headers_only(trained_run, monkeypatch, host):
    with serving(trained_run, host, monkeypatch) as address:
        port = address[1]
        for name in ("127.0.0.1", "127.0.0.2", "localhost", "LocalHost", "[::1]"):
            for header in (name, f"{name}:{port}"):
                assert status_for_host(address, header) == 200, (host, header)
        for header in ("evil.example", f"evil.example:{port}", "127.0.0.1.evil.example", "::1", "[::1",
                       f"localhost:{port}@evil.example", "", "10.0.0.1"):
            assert status_for_host(address, header) == 400, (host, header)


def test_server_off_loopback_accepts_any_host_header(styles):
    assert TestClient(create_app(styles), base_url="http://evil.example").get("/api/styles").status_code == 200
    refused = TestClient(create_app(styles, loopback_only=True), base_url="http://evil.example").get("/api/styles")
    assert refused.status_code == 400 and "127.0.0.1" in refused.json()["error"]


# ---------- the render queue ----------

def test_queue_keeps_only_the_newest_waiting_job_per_client():
    async def scenario():
        queue = RenderQueue("test")
        gate = threading.Event()
        order = []

        def job(name):
            def run():
                if name == "first":
                    gate.wait(5)
                order.append(name)
                return name
            return run

        first = asyncio.ensure_future(queue.submit(job("first"), client="a"))
        await asyncio.sleep(0.05)  # "first" is running now
        old = asyncio.ensure_future(queue.submit(job("old"), client="a"))
        other = asyncio.ensure_future(queue.submit(job("other"), client="b"))
        anon = [asyncio.ensure_future(queue.submit(job(f"anon{i}"))) for i in range(2)]
        await asyncio.sleep(0)
        new = asyncio.ensure_future(queue.submit(job("new"), client="a"))
        await asyncio.sleep(0)
        assert queue.waiting == 4
        gate.set()
        results = await asyncio.gather(first, old, other, new, *anon, return_exceptions=True)
        queue.close()
        return order, results

    order, results = asyncio.run(scenario())
    assert isinstance(results[1], Superseded)
    assert order == ["first", "new", "other", "anon0", "anon1"]  # "new" kept "old"'s place in line
    assert results[0] == "first" and results[2:] == ["other", "new", "anon0", "anon1"]


def test_queue_drops_the_job_of_a_caller_that_went_away():
    async def scenario():
        queue = RenderQueue("test")
        gate = threading.Event()
        ran = []
        blocker = asyncio.ensure_future(queue.submit(lambda: gate.wait(5)))
        await asyncio.sleep(0.05)
        gone = asyncio.ensure_future(queue.submit(lambda: ran.append("gone"), client="a"))
        await asyncio.sleep(0)
        gone.cancel()
        await asyncio.sleep(0)
        gate.set()
        await blocker
        assert await queue.submit(lambda: "next", client="b") == "next"
        queue.close()
        return ran

    assert asyncio.run(scenario()) == []


def test_queue_passes_job_errors_and_keeps_working():
    async def scenario():
        queue = RenderQueue("test", threads=1)
        with pytest.raises(ValueError, match="bad map"):
            await queue.submit(lambda: (_ for _ in ()).throw(ValueError("bad map")))
        threads = await queue.submit(torch.get_num_threads)
        queue.close()
        return threads

    assert asyncio.run(scenario()) == 1


# ---------- the command ----------

def test_cli_needs_exactly_one_source(trained_run):
    for args in ([], ["--checkpoint", str(trained_run / "checkpoint.pt"), "--runs", str(trained_run.parent)]):
        result = CliRunner().invoke(main, ["serve", *args])
        assert result.exit_code == 2 and "give either --checkpoint" in result.output


def test_serve_prints_url_and_warns_off_loopback(trained_run, monkeypatch):
    started = []
    monkeypatch.setattr(server.uvicorn.Server, "run", lambda self, sockets: started.append(sockets))
    lines = []
    server.serve(checkpoint=trained_run / "checkpoint.pt", host="127.0.0.1", port=0, device="cpu", log=lines.append)
    assert len(started) == 1 and not any(line.startswith("warning") for line in lines)
    assert lines[-1].startswith("doodle serve: painting (K=3, step 4) at http://127.0.0.1:")
    lines.clear()
    server.serve(checkpoint=trained_run / "checkpoint.pt", host="0.0.0.0", port=0, device="cpu", log=lines.append)
    assert any(line.startswith("warning: listening on 0.0.0.0") for line in lines)


def test_port_in_use_is_a_one_line_error(trained_run):
    sock = server.bind("127.0.0.1", 0)
    try:
        port = sock.getsockname()[1]
        result = CliRunner().invoke(main, ["serve", "--checkpoint", str(trained_run / "checkpoint.pt"),
                                           "--port", str(port), "--device", "cpu"])
        assert result.exit_code == 1
        assert result.output.startswith(f"Error: cannot listen on 127.0.0.1:{port}") and "--port 0" in result.output
    finally:
        sock.close()


def test_demo_ends_with_the_serve_command_for_its_run(tmp_path, monkeypatch):
    from doodle.demos.exemplar import run_demo

    exemplar = tmp_path / "exemplar"
    exemplar.mkdir()
    _, style_map = make_style(exemplar)
    shutil.copyfile(style_map, exemplar / "target_1.png")
    lines = []
    run_demo(out=tmp_path / "my demo", steps=1, size=16, batch=1, loss_net="random", exemplar=exemplar,
             random_masks=0, log=lines.append)
    prefix = "draw your own doodles in the browser: "
    assert lines[-1].startswith(prefix)
    command = shlex.split(lines[-1][len(prefix):])
    assert command == ["doodle", "serve", "--checkpoint", str(tmp_path / "my demo" / "run" / "checkpoint.pt")]
    # The demo's few steps keep the balance that paints clean in them, not doodle train's default.
    stored = json.loads((tmp_path / "my demo" / "run" / "config.json").read_text())
    assert (stored["balance"], stored["colour_weight"]) == (0.5, 8.0) != (DOODLE_BALANCE, DOODLE_COLOUR_WEIGHT)
    started = []
    monkeypatch.setattr(server.uvicorn.Server, "run", lambda self, sockets: started.append(sockets))
    result = CliRunner().invoke(main, [*command[1:], "--port", "0", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert started and "doodle serve: run (K=3, step 1) at http://127.0.0.1:" in result.output


def test_demo_refuses_a_folder_it_did_not_make_before_training(tmp_path):
    from doodle.demos.exemplar import run_demo

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "precious.txt").write_text("keep")
    with pytest.raises(ValueError, match="not made by `doodle demo`"):
        run_demo(out=mine, steps=1, size=16, batch=1, loss_net="random", log=lambda _m: None)
    assert [p.name for p in mine.iterdir()] == ["precious.txt"]


def test_serve_runs_where_the_os_has_no_cpu_affinity(trained_run, monkeypatch):
    # macOS and Windows have no os.sched_getaffinity: the default thread count must not need it.
    monkeypatch.delattr(server.os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(server.uvicorn.Server, "run", lambda self, sockets: None)
    threads = torch.get_num_threads()
    lines = []
    try:
        server.serve(checkpoint=trained_run / "checkpoint.pt", port=0, device="cpu", log=lines.append)
    finally:
        torch.set_num_threads(threads)
    assert f"({server.os.cpu_count()} torch threads" in lines[-1]
