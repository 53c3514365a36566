"""Training curves (doodle.training.plot, `doodle plot`) and the missing-matplotlib path of both packages' plots."""

import json
import sys

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

pytest.importorskip("matplotlib")

from doodle.cli import main as doodle_main  # noqa: E402
from doodle.training.plot import plot_training_curves, read_run_log, update_run_curves  # noqa: E402
from maskgen.cli import main as maskgen_main  # noqa: E402

RUN_COLOURS = {"a": (0x1F, 0x77, 0xB4), "b": (0xFF, 0x7F, 0x0E)}  # matplotlib's C0 and C1


def write_log(run, steps, torn=False, elapsed=True):
    run.mkdir(parents=True)
    lines = []
    for step in steps:
        entry = {"step": step, "loss": 10.0 / step, "layers": {"relu1_1": 6.0 / step, "tv": 0.01},
                 "lr": 1e-3, "steps_per_s": 2.0}
        if elapsed:
            entry["elapsed_s"] = step / 2.0
        lines.append(json.dumps(entry) + "\n")
    (run / "log.jsonl").write_text("".join(lines) + ('{"step": 99, "lo' if torn else ""))
    return run


@pytest.fixture
def runs(tmp_path):
    return [write_log(tmp_path / "a", range(10, 210, 10)),
            write_log(tmp_path / "b", range(10, 160, 10), torn=True, elapsed=False)]


def has_colour(img, rgb, tol=8):
    return bool((np.abs(img.astype(int) - rgb).max(axis=-1) <= tol).sum() > 50)


def assert_one_line_error(result, message):
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], result.output


def test_two_runs_one_torn_make_a_readable_png(runs, tmp_path):
    logs = plot_training_curves(runs, tmp_path / "curves.png")
    assert [log.name for log in logs] == ["a", "b"]
    assert logs[0].problems == [] and logs[1].problems == ["log.jsonl line 16: not valid JSON (truncated line?)"]
    assert logs[1].steps[-1] == 150 and list(logs[1].layers) == ["relu1_1", "tv"]
    # Logged elapsed_s, and its steps_per_s fallback, both give 0.5 s per step.
    np.testing.assert_allclose(logs[0].minutes, logs[0].steps / 2 / 60)
    np.testing.assert_allclose(logs[1].minutes, logs[1].steps / 2 / 60)
    img = np.asarray(Image.open(tmp_path / "curves.png").convert("RGB"))
    assert img.shape == (375 + 2 * 210, 1200, 3)  # a row for the total, one per loss term
    assert 0.01 < (img < 200).any(axis=-1).mean() < 0.3  # text, axes and curves on white, not a blank canvas
    assert all(has_colour(img, rgb) for rgb in RUN_COLOURS.values())
    assert not list(tmp_path.glob(".tmp-*"))


def test_cli_writes_the_png_and_reports_the_torn_line(runs, tmp_path):
    out = tmp_path / "c.png"
    result = CliRunner().invoke(doodle_main, ["plot", *map(str, runs), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert f"wrote {out} (a: step 200, b: step 150)" in result.output
    assert "b: skipped log.jsonl line 16: not valid JSON (truncated line?)" in result.output
    assert Image.open(out).size == (1200, 795)


def test_cli_bad_runs_give_one_line(tmp_path):
    assert_one_line_error(CliRunner().invoke(doodle_main, ["plot", str(tmp_path / "nope")]),
                          "log.jsonl not found; is")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "log.jsonl").write_text('{"st')
    assert_one_line_error(CliRunner().invoke(doodle_main, ["plot", str(tmp_path / "empty")]),
                          "has no log entries yet")


@pytest.fixture
def no_matplotlib(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)


def test_without_matplotlib_plots_fail_in_one_line(no_matplotlib, runs, tmp_path):
    result = CliRunner().invoke(doodle_main, ["plot", str(runs[0]), "-o", str(tmp_path / "c.png")])
    assert_one_line_error(result, "doodle plot needs matplotlib: pip install 'neural-doodle-tools[plot]'")
    gen = CliRunner().invoke(maskgen_main, ["generate", str(tmp_path / "ds"), "--count", "2", "--size", "16",
                                            "--regions", "3", "--filter-size", "3", "--workers", "1"])
    assert gen.exit_code == 0, gen.output
    result = CliRunner().invoke(maskgen_main, ["stats", str(tmp_path / "ds"), "--plot", str(tmp_path / "s.png")])
    assert_one_line_error(result, "--plot needs matplotlib: pip install 'neural-doodle-tools[plot]'")
    assert not (tmp_path / "c.png").exists() and not (tmp_path / "s.png").exists()


def test_training_curves_skip_silently_without_matplotlib_or_log(no_matplotlib, runs, tmp_path):
    assert update_run_curves(runs[0]) is False
    (tmp_path / "fresh").mkdir()
    assert update_run_curves(tmp_path / "fresh") is False
    assert not list(tmp_path.rglob("curves.png"))


def test_training_curves_written_into_the_run(runs):
    assert update_run_curves(runs[1]) is True
    assert Image.open(runs[1] / "curves.png").size == (1200, 795)
    assert read_run_log(runs[1]).loss[0] == pytest.approx(1.0)
