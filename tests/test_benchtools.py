"""The benchmark scripts' shared timer."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from benchtools import median_seconds  # noqa: E402


def test_median_seconds_counts_only_the_timed_calls():
    calls = []
    assert median_seconds(lambda: calls.append(1), repeats=3, warmup=2) >= 0.0
    assert len(calls) == 5
    with pytest.raises(ValueError, match="repeats >= 1"):
        median_seconds(lambda: None, repeats=0)
