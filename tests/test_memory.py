"""Memory estimate of VGG passes and the guard that refuses jobs that do not fit."""

from __future__ import annotations

import pytest

from doodle.lossnet import memory
from doodle.lossnet.memory import GIB, available_memory, check_fits, estimate_vgg_bytes


def test_estimate_by_hand():
    # 4x4 input, up to relu1_1: input 3*16 floats, conv 64*16, relu 64*16.
    assert estimate_vgg_bytes(4, 4, last_layer="relu1_1", backward=False) == (3 * 16 + 2 * 64 * 16) * 4
    # pool1 halves 5x5 to 2x2 (floor): + 2 more 64*25 outputs + 64*4.
    assert estimate_vgg_bytes(5, 5, last_layer="pool1", backward=False) == (3 * 25 + 4 * 64 * 25 + 64 * 4) * 4


def test_estimate_scales_with_area_batch_and_backward():
    base = estimate_vgg_bytes(256, 256)
    assert estimate_vgg_bytes(512, 512) / base == pytest.approx(4.0, rel=0.01)
    assert estimate_vgg_bytes(256, 256, batch=3) == 3 * base
    assert base == memory.BACKWARD_FACTOR * estimate_vgg_bytes(256, 256, backward=False)
    assert estimate_vgg_bytes(256, 256, last_layer="relu3_1") < base
    assert estimate_vgg_bytes(256, 256, arch="vgg16", last_layer="pool5") < estimate_vgg_bytes(256, 256, last_layer="pool5")


def test_estimate_of_a_512_doodle_is_plausible():
    # Forward activations of VGG-19 to relu5_1 at 512x512 are ~0.6 GiB in float32.
    assert 0.5 * GIB < estimate_vgg_bytes(512, 512, backward=False) < 0.7 * GIB


def test_estimate_refuses_bad_arguments():
    with pytest.raises(ValueError, match="unknown VGG layer 'relu6_1'; use one of conv1_1, relu1_1"):
        estimate_vgg_bytes(8, 8, last_layer="relu6_1")
    with pytest.raises(ValueError, match="unknown VGG layer 'relu5_4'"):
        estimate_vgg_bytes(8, 8, arch="vgg16", last_layer="relu5_4")
    with pytest.raises(ValueError, match="unknown VGG architecture 'vgg11'"):
        estimate_vgg_bytes(8, 8, arch="vgg11")
    with pytest.raises(ValueError, match="must be positive"):
        estimate_vgg_bytes(0, 8)


def test_available_memory_is_positive_and_bounded():
    nbytes = available_memory()
    assert isinstance(nbytes, int) and 0 < nbytes < 1 << 50


def test_available_memory_takes_the_cgroup_limit_when_smaller(monkeypatch):
    monkeypatch.setattr(memory, "_meminfo_available", lambda: 64 * GIB)
    monkeypatch.setattr(memory, "_cgroup_room", lambda: 3 * GIB)
    assert available_memory() == 3 * GIB
    monkeypatch.setattr(memory, "_cgroup_room", lambda: None)
    assert available_memory() == 64 * GIB


def test_check_fits_message():
    check_fits(GIB, "a doodle", limit=GIB)  # exactly fits
    with pytest.raises(ValueError) as info:
        check_fits(int(37.5 * GIB), "a 4096 px doodle", limit=12 * GIB)
    assert str(info.value) == (
        "a 4096 px doodle needs about 37.50 GiB but only 12.00 GiB is available; use a smaller --size or --batch"
    )


def test_check_fits_uses_available_memory(monkeypatch):
    monkeypatch.setattr(memory, "available_memory", lambda: GIB // 2)
    with pytest.raises(ValueError, match="only 0.50 GiB is available"):
        check_fits(GIB, "training")
