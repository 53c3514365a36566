"""Running the doodle web app: load the styles once, bind the socket, serve with uvicorn."""

from __future__ import annotations

import os
import socket
from typing import Callable

import uvicorn

from doodle.device import resolve_device
from doodle.serve.app import create_app, is_loopback
from doodle.serve.styles import load_styles

#: Most connections served at once; more get HTTP 503 instead of piling up
#: request bodies in memory.
MAX_CONNECTIONS = 64


def usable_cores() -> int:
    """CPU cores this process may run on: its affinity mask where the OS has one (Linux), else all of them."""
    # os.sched_getaffinity exists on Linux only; macOS and Windows have no per-process mask to honour.
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (``port`` 0: any free port).

    Raises
    ------
    OSError
        One line saying what to do when the address is taken or not this machine's.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise OSError(f"cannot listen on {host}:{port} ({exc.strerror or exc}); pick another --port, "
                      f"or --port 0 for any free one") from None
    return sock


def url_of(sock: socket.socket) -> str:
    """The page's address for a bound socket."""
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def serve(
    checkpoint: str | os.PathLike | None = None,
    runs: str | os.PathLike | None = None,
    host: str = "127.0.0.1",
    port: int = 8000,
    device: str = "auto",
    precision: str = "auto",
    threads: int | None = None,
    log: Callable[[str], object] = print,
) -> None:
    """``doodle serve``: the drawing page for one checkpoint or a folder of runs, until Ctrl-C.

    Parameters
    ----------
    checkpoint, runs : path-like
        Exactly one: ``RUN/checkpoint.pt``, or a folder of run folders.
    host, port : str, int
        Where to listen. Only loopback addresses are private; any other host
        makes the page (and this machine's CPU) available to the network, which
        is said in a warning.
    device, precision : str
        As for ``doodle render``.
    threads : int or None
        torch threads per render; default: every core this process may use.
    log : callable
        Receives the address and notes, one line each.
    """
    torch_device = resolve_device(device, log=log)
    threads = threads or usable_cores()
    styles = load_styles(checkpoint=checkpoint, runs=runs, device=torch_device, log=log)
    local = is_loopback(host)
    app = create_app(styles, precision=precision, threads=threads, loopback_only=local)
    sock = bind(host, port)
    if not local:
        log(f"warning: listening on {host}, not 127.0.0.1: anyone who can reach this machine can use the page "
            f"and its CPU; there is no login")
    names = ", ".join(f"{s.id} (K={s.k}, step {s.step})" for s in styles)
    log(f"doodle serve: {names} at {url_of(sock)} ({threads} torch threads; Ctrl-C to stop)")
    config = uvicorn.Config(app, log_level="warning", access_log=False, limit_concurrency=MAX_CONNECTIONS,
                            timeout_graceful_shutdown=2)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    except KeyboardInterrupt:
        # uvicorn re-raises the Ctrl-C it shut down on; for a server that is the normal way to stop.
        log("stopped")
    finally:
        sock.close()
