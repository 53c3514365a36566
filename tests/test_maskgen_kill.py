"""kill -9 of a real `maskgen generate` process, then --resume: byte-identical dataset."""

import os
import signal
import subprocess
import sys
import time

import pytest

from maskgen import MaskParams, generate_dataset, verify_dataset
from maskgen.layout import MANIFEST_NAME
from test_maskgen_dataset import snapshot

ARGS = ["--count", "3000", "--size", "24", "--regions", "2-4", "--filter-size", "3", "--seed", "9"]
PARAMS = MaskParams(width=24, height=24, regions=(2, 4), filter_size=3)


def command(out, *extra):
    return [sys.executable, "-m", "maskgen", "generate", str(out), *ARGS, "--workers", "2", *extra]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    ref = tmp_path_factory.mktemp("kill") / "ref"
    generate_dataset(ref, PARAMS, 3000, seed=9, workers=1)
    return snapshot(ref)


@pytest.mark.slow
@pytest.mark.parametrize("lines_before_kill", [0, 200])
def test_sigkill_then_resume_is_byte_identical(tmp_path, reference, lines_before_kill):
    out = tmp_path / "out"
    proc = subprocess.Popen(command(out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    manifest = out / MANIFEST_NAME
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        n = manifest.read_bytes().count(b"\n") if manifest.exists() else -1
        if n >= lines_before_kill:
            break
        time.sleep(0.005)
    assert proc.poll() is None, "generation finished before it could be killed; raise the count"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    # The pool's workers die with their parent's pipes; give them a moment.
    time.sleep(0.2)
    partial = manifest.read_bytes().count(b"\n") if manifest.exists() else 0
    assert partial < 3000

    done = subprocess.run(command(out, "--resume"), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "dataset complete" in done.stdout
    assert snapshot(out) == reference
    assert not [n for n in snapshot(out) if ".tmp-" in n]
    assert verify_dataset(out) == []
