"""The maskgen command line: happy paths and one-line errors."""

import json

import pytest
from click.testing import CliRunner
from PIL import Image

from maskgen.cli import main

SMALL = ["--size", "16", "--regions", "3", "--filter-size", "3", "--workers", "1"]


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def assert_one_line_error(result, message):
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("Error: ") and message in lines[0], lines[0]


@pytest.mark.parametrize(
    "args,message",
    [
        (["--count", "0"], "count must be a positive integer, got 0"),
        (["--count", "-5"], "count must be a positive integer, got -5"),
        (["--count", "3", "--regions", "1"], "regions must satisfy 2 <= min <= max <= 255, got 1-1"),
        (["--count", "3", "--regions", "256"], "regions must satisfy 2 <= min <= max <= 255, got 256-256"),
        (["--count", "3", "--regions", "2-x"], "regions must be K or A-B"),
        (["--count", "3", "--size", "7"], "size must be an integer in 8..16384 pixels, got 7"),
        (["--count", "3", "--width", "5"], "width must be an integer in 8..16384 pixels, got 5"),
        (["--count", "3", "--roughness", "0"], "roughness must be in (0, 1], got 0.0"),
        (["--count", "3", "--roughness", "1.2"], "roughness must be in (0, 1], got 1.2"),
        (["--count", "3", "--shard", "3/2"], "shard must be I/N with 0 <= I < N (e.g. 0/4), got '3/2'"),
        (["--count", "3", "--shard", "a/b"], "shard must be I/N with 0 <= I < N (e.g. 0/4), got 'a/b'"),
        (["--count", "3", "--resume", "--overwrite"], "--resume and --overwrite exclude each other"),
    ],
)
def test_generate_rejects_bad_arguments_in_one_line(tmp_path, args, message):
    result = run("generate", tmp_path / "out", *args)
    assert_one_line_error(result, message)
    assert not (tmp_path / "out" / "dataset.json").exists()


def test_generate_refuses_non_empty_out_and_keeps_it(tmp_path):
    (tmp_path / "keep.txt").write_text("x")
    result = run("generate", tmp_path, "--count", 3, *SMALL)
    assert_one_line_error(result, "is not empty; pass --resume to continue it or --overwrite to replace it")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


def test_generate_verify_stats_preview(tmp_path):
    out = tmp_path / "ds"
    result = run("generate", out, "--count", 12, *SMALL, "--seed", 3)
    assert result.exit_code == 0, result.output
    assert "wrote 12 masks, 0 already present; dataset complete" in result.output
    again = run("generate", out, "--count", 12, *SMALL, "--seed", 3, "--resume")
    assert again.exit_code == 0 and "wrote 0 masks, 12 already present" in again.output

    assert run("verify", out).output.strip() == f"{out}: ok"

    stats = run("stats", out, "--json", "--plot", tmp_path / "s.png")
    assert stats.exit_code == 0, stats.output
    data = json.loads(stats.output)
    assert data["masks"] == 12 and data["regions_per_mask"] == {"3": 12}
    assert sum(data["area"]["histogram"]) == 36
    assert Image.open(tmp_path / "s.png").size == (1200, 800)  # four labelled histograms (needs matplotlib)
    table = run("stats", out).output
    assert "regions per mask         K=3: 12" in table and "masks with a region <1%" in table

    grid = run("preview", out, "-o", tmp_path / "g.png", "--count", 5, "--cols", 2)
    assert grid.exit_code == 0, grid.output
    assert Image.open(tmp_path / "g.png").size == (2 * 18 + 2, 3 * 18 + 2)


def test_preview_from_parameters_writes_no_dataset(tmp_path):
    result = run("preview", "params", "-o", tmp_path / "g.png", "--count", 4, "--cols", 4, "--size", 20, "--regions", "2-3")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.png"]
    assert Image.open(tmp_path / "g.png").size == (4 * 22 + 2, 22 + 2)
    assert_one_line_error(run("preview", tmp_path / "nothing", "-o", tmp_path / "x.png"), "no such dataset directory")


def test_verify_reports_problems_and_fails(tmp_path):
    out = tmp_path / "ds"
    run("generate", out, "--count", 4, *SMALL)
    (out / "masks" / "00000002.png").write_bytes(b"garbage")
    result = run("verify", out)
    assert result.exit_code == 1
    assert "masks/00000002.png: unreadable or truncated PNG" in result.output
    missing = run("verify", tmp_path / "missing")
    assert missing.exit_code == 1 and "dataset.json not found" in missing.output
    assert_one_line_error(run("stats", tmp_path / "missing"), "dataset.json not found")
