"""The ``doodle serve`` web app (Starlette, ASGI): the drawing page and its small JSON/PNG API.

Routes
------
``GET /``
    The page (plain HTML/CSS/JS from ``doodle/serve/static``, nothing from the internet).
``GET /api/styles``
    ``{"styles": [{"id", "k", "palette", "members", "step", "loss_net",
    "thumbnail", "swatches", "painting_map"}, ...], "default": id, "limits": {...}}``.
``GET /api/styles/{id}/thumbnail.png``, ``GET /api/styles/{id}/swatches/{i}.png``
    The style painting and the texture of region ``i``.
``GET /api/styles/{id}/painting-map.png``
    The map the style was trained with, in the exact region colours (404 when
    the run has none): a doodle can start from the painting's own layout.
``POST /api/render``
    Multipart form: ``map`` (PNG file), optional ``style`` (id; default the
    first), ``seed`` (int, default 0), ``size`` (longest side in pixels,
    default the map's), ``client`` (any short id: a newer request with the same
    id replaces this one while it waits). Answers ``image/png`` with the
    headers ``X-Render-Seconds`` (server time, queue excluded), ``X-Seed``
    and ``X-Style``.
``POST /api/map``
    Same form without ``seed``: the map snapped to the palette and repainted in
    the exact region colours (the page loads uploads through it).
``GET /api/random-map?style=ID&width=W&height=H&seed=S``
    A fresh maskgen map in the style's colours.

Every error is JSON ``{"error": "..."}`` with a 4xx status: 400 bad field,
404 unknown style or route, 409 replaced by a newer request of the same
client, 413 upload over :data:`MAX_BODY_BYTES` or images over the pixel
limits, 415 not an image, 422 off-palette map (the message lists the palette).
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
from pathlib import Path
from typing import Sequence
from urllib.parse import quote, urlsplit

import torch
from starlette.applications import Starlette
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from doodle.images import ImageTooLarge
from doodle.serve.imagebytes import MAX_UPLOAD_SIDE
from doodle.serve.render_queue import RenderQueue, Superseded
from doodle.serve.rendering import MAX_RENDER_SIDE, OffPalette, random_map, render_map, snapped_map
from doodle.serve.styles import ServedStyle

#: Largest request body accepted, in bytes.
MAX_BODY_BYTES = 8 * 1024 * 1024
#: Largest noise seed (torch generators take 64-bit seeds; JavaScript numbers are exact to 2**53).
MAX_SEED = 2**53 - 1
#: Host names that stay on this machine.
LOOPBACK_NAMES = ("localhost",)
STATIC_DIR = Path(__file__).resolve().parent / "static"
_MEDIA_TYPES = {".html": "text/html; charset=utf-8", ".css": "text/css; charset=utf-8",
                ".js": "text/javascript; charset=utf-8"}
# The page may talk to this server only: no CDN, no tracker, nothing a user offline would miss.
_PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; object-src 'none'; "
                               "base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address, without port or brackets) is reachable from this machine only.

    Examples
    --------
    >>> is_loopback("127.0.0.2"), is_loopback("::1"), is_loopback("localhost"), is_loopback("0.0.0.0")
    (True, True, True, False)
    """
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def names_loopback(host_header: str) -> bool:
    """Whether an HTTP ``Host`` header names this machine: a loopback name or address, any port, IPv6 in brackets.

    Examples
    --------
    >>> [names_loopback(h) for h in ("127.0.0.2:8000", "[::1]:80", "localhost", "::1", "evil.example:8000")]
    [True, True, True, False, False]
    """
    try:
        parts = urlsplit("//" + host_header)
        parts.port  # noqa: B018 -- raises ValueError for a port that is not a number
    except ValueError:
        return False
    if parts.netloc != host_header or "@" in host_header or not parts.hostname:
        return False
    return is_loopback(parts.hostname)


class LoopbackHostOnly:
    """ASGI middleware: refuse requests whose ``Host`` header does not name this machine.

    A page on another site can point its own DNS name at 127.0.0.1 (DNS
    rebinding) and then read a loopback server's answers; its requests still
    carry that name, so naming loopback is what tells a local page apart.
    Starlette's ``TrustedHostMiddleware`` takes a fixed list and cannot parse
    IPv6 ``Host`` headers, hence this one.
    """

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] in ("http", "websocket"):
            host = dict(scope.get("headers") or []).get(b"host", b"").decode("latin-1")
            if not names_loopback(host):
                await _error(400, f"Host header {host[:80]!r} is not this machine: open the page as "
                                  f"127.0.0.1, localhost or [::1]")(scope, receive, send)
                return
        await self.app(scope, receive, send)


class BodyTooLarge(HTTPException):
    def __init__(self) -> None:
        super().__init__(413, f"the request is over {MAX_BODY_BYTES // (1024 * 1024)} MB; send a smaller map")


class BodyLimit:
    """ASGI middleware: refuse request bodies over ``limit`` bytes, declared or streamed.

    A declared ``Content-Length`` over the limit is answered at once; a body
    that grows past it (chunked uploads) fails the ``receive`` call, which the
    app's exception handler turns into the same 413.
    """

    def __init__(self, app, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length", b"0")
        if not declared.isdigit() or int(declared) > self.limit:
            error = BodyTooLarge() if declared.isdigit() else HTTPException(400, "bad Content-Length header")
            await _error(error.status_code, error.detail)(scope, receive, send)
            return
        received = 0

        async def limited_receive():
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.limit:
                raise BodyTooLarge()
            return message

        await self.app(scope, limited_receive, send)


def create_app(
    styles: Sequence[ServedStyle],
    precision: str = "auto",
    threads: int | None = None,
    loopback_only: bool = False,
) -> Starlette:
    """Build the web app for some loaded styles.

    Parameters
    ----------
    styles : sequence of ServedStyle
        At least one; the first is the default. Each gets its own render
        queue (one render, map upload or random map at a time per model).
    precision : {"auto", "fp32", "bf16", "fp16"}
        As ``doodle render --precision``.
    threads : int or None
        torch intra-op threads per render; ``None`` leaves torch's default.
    loopback_only : bool
        Refuse requests whose ``Host`` header is not a loopback name or address
        (:class:`LoopbackHostOnly`), as a server bound to loopback should.

    Returns
    -------
    starlette.applications.Starlette
    """
    if not styles:
        raise ValueError("no style to serve: give at least one checkpoint")
    by_id = {style.id: style for style in styles}
    if len(by_id) != len(styles):
        raise ValueError(f"style ids must be unique, got {[s.id for s in styles]}")
    if threads:
        torch.set_num_threads(threads)
    queues = {style.id: RenderQueue(style.id, threads) for style in styles}
    # Read once: requests pick among these names, no request path reaches the filesystem.
    static = {p.name: (p.read_bytes(), _MEDIA_TYPES[p.suffix]) for p in STATIC_DIR.iterdir()
              if p.suffix in _MEDIA_TYPES}

    def style_of(style_id: str | None) -> ServedStyle:
        if style_id in (None, ""):
            return styles[0]
        if style_id not in by_id:
            raise HTTPException(404, f"unknown style {str(style_id)[:80]!r}; known styles: {', '.join(by_id)}")
        return by_id[style_id]

    async def page(request: Request) -> Response:
        return _static_response(static, "index.html")

    async def static_file(request: Request) -> Response:
        return _static_response(static, request.path_params["name"])

    async def list_styles(request: Request) -> Response:
        return JSONResponse({
            "styles": [style.describe(f"/api/styles/{quote(style.id, safe='')}") for style in styles],
            "default": styles[0].id,
            "limits": {"max_body_bytes": MAX_BODY_BYTES, "max_upload_side": MAX_UPLOAD_SIDE,
                       "max_render_side": MAX_RENDER_SIDE, "max_seed": MAX_SEED},
        })

    async def thumbnail(request: Request) -> Response:
        return _png(style_of(request.path_params["style"]).thumbnail, cache=True)

    async def swatch(request: Request) -> Response:
        style = style_of(request.path_params["style"])
        index = request.path_params["index"]
        if index >= style.k:
            raise HTTPException(404, f"style {style.id} has regions 0..{style.k - 1}, not {index}")
        return _png(style.swatches[index], cache=True)

    async def painting_map(request: Request) -> Response:
        style = style_of(request.path_params["style"])
        if not style.painting_map:
            raise HTTPException(404, f"style {style.id} has no map of its painting (it was trained on one region, "
                                     f"or its style map is gone): draw one, or start from a random map")
        return _png(style.painting_map, cache=True)

    async def render(request: Request) -> Response:
        form, data = await _upload(request)
        style = style_of(_text(form, "style"))
        seed = _integer(form, "seed", 0, 0, MAX_SEED)
        size = _side(form, "size", None)
        job = functools.partial(render_map, style, data, seed=seed, size=size, precision=precision)
        try:
            rendered = await queues[style.id].submit(job, client=_text(form, "client"))
        except Superseded as exc:
            raise HTTPException(409, str(exc)) from None
        except ValueError as exc:
            raise _upload_error(exc) from None
        return _png(rendered.png, headers={"X-Render-Seconds": f"{rendered.seconds:.4f}", "X-Seed": str(seed),
                                           "X-Style": quote(style.id, safe="")})

    async def snap(request: Request) -> Response:
        form, data = await _upload(request)
        style = style_of(_text(form, "style"))
        size = _side(form, "size", None)
        try:
            # Through the model's queue like renders: a decoded 4096x4096 upload takes
            # hundreds of MB, so parallel uploads must not be decoded side by side.
            return _png(await queues[style.id].submit(functools.partial(snapped_map, style, data, size)))
        except ValueError as exc:
            raise _upload_error(exc) from None

    async def random(request: Request) -> Response:
        query = request.query_params
        style = style_of(query.get("style"))
        width = _side(query, "width", 512)
        height = _side(query, "height", 384)
        seed = _integer(query, "seed", 0, 0, MAX_SEED)
        try:
            return _png(await queues[style.id].submit(functools.partial(random_map, style, width, height, seed)))
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from None

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        for queue in queues.values():
            queue.close()

    middleware = [Middleware(BodyLimit)]
    if loopback_only:
        middleware.insert(0, Middleware(LoopbackHostOnly))
    return Starlette(
        routes=[
            Route("/", page),
            Route("/static/{name}", static_file),
            Route("/api/styles", list_styles),
            Route("/api/styles/{style}/thumbnail.png", thumbnail),
            Route("/api/styles/{style}/swatches/{index:int}.png", swatch),
            Route("/api/styles/{style}/painting-map.png", painting_map),
            Route("/api/render", render, methods=["POST"]),
            Route("/api/map", snap, methods=["POST"]),
            Route("/api/random-map", random),
        ],
        middleware=middleware,
        exception_handlers={HTTPException: _http_error, Exception: _server_error},
        lifespan=lifespan,
    )


def _static_response(static: dict[str, tuple[bytes, str]], name: str) -> Response:
    if name not in static:
        raise HTTPException(404, f"no page file {name[:80]!r}")
    body, media_type = static[name]
    return Response(body, media_type=media_type, headers=_PAGE_HEADERS)


def _png(body: bytes, cache: bool = False, headers: dict[str, str] | None = None) -> Response:
    caching = {"Cache-Control": "max-age=3600" if cache else "no-store"}
    return Response(body, media_type="image/png", headers=caching | (headers or {}))


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def _http_error(request: Request, exc: HTTPException) -> Response:
    return _error(exc.status_code, str(exc.detail))


async def _server_error(request: Request, exc: Exception) -> Response:
    # A bug, or the machine out of memory: say so in the API's shape. Starlette
    # logs the traceback and the server keeps serving.
    return _error(500, f"the server failed on this request ({type(exc).__name__}); see its log")


def _upload_error(exc: ValueError) -> HTTPException:
    if isinstance(exc, ImageTooLarge):
        return HTTPException(413, str(exc))
    if isinstance(exc, OffPalette):
        return HTTPException(422, str(exc))
    return HTTPException(415, str(exc))


async def _upload(request: Request) -> tuple[FormData, bytes]:
    """The form's text fields and the bytes of its ``map`` file."""
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        raise HTTPException(400, "send a multipart/form-data body with the map as a file field 'map'")
    # Starlette answers malformed multipart bodies with its own 400; closing the
    # form deletes the temporary file a large upload spools to.
    async with request.form(max_files=1, max_fields=8, max_part_size=1024) as form:
        upload = form.get("map")
        if not isinstance(upload, UploadFile):
            raise HTTPException(400, "no map: send the map PNG as a file field 'map'")
        data = await upload.read()
        fields = FormData([(name, value) for name, value in form.multi_items() if name != "map"])
    return fields, data


def _text(fields, name: str) -> str | None:
    value = fields.get(name)
    if isinstance(value, UploadFile):
        raise HTTPException(400, f"field {name!r} must be text, not a file")
    if value is not None and len(value) > 200:
        raise HTTPException(400, f"field {name!r} is too long ({len(value)} characters, at most 200)")
    return value


def _integer(fields, name: str, default: int | None, low: int, high: int | None = None) -> int | None:
    text = _text(fields, name)
    if text in (None, ""):
        return default
    try:
        value = int(text)
    except ValueError:
        raise HTTPException(400, f"{name} must be a whole number, got {text[:40]!r}") from None
    if high is None and value < low:
        raise HTTPException(400, f"{name} must be at least {low}, got {value}")
    if high is not None and not low <= value <= high:
        raise HTTPException(400, f"{name} must be in {low}..{high}, got {value}")
    return value


def _side(fields, name: str, default: int | None) -> int | None:
    """A length in pixels: 400 when it is not a positive whole number, 413 (too large) over the render limit."""
    value = _integer(fields, name, default, 1)
    if value is not None and value > MAX_RENDER_SIDE:
        raise HTTPException(413, f"{name} {value} is over {MAX_RENDER_SIDE} pixels; "
                                 f"send {name}={MAX_RENDER_SIDE} or less")
    return value
