"""Dataset generation (workers, shards, resume), reading and verification."""

import json
import os

import numpy as np
import pytest

from maskgen import MaskParams, generate_dataset, make_mask, parse_shard, read_dataset, read_label_png, verify_dataset
from maskgen.layout import MANIFEST_NAME
from maskgen.palette import encode_label_png

PARAMS = MaskParams(width=24, height=20, regions=(2, 4), filter_size=3)
COUNT = 70


def snapshot(root):
    """Every file's bytes (manifest lines sorted), keyed by relative path."""
    files = {}
    for dirpath, _, names in os.walk(root):
        for name in names:
            path = os.path.join(dirpath, name)
            data = open(path, "rb").read()
            if name == MANIFEST_NAME:
                data = b"".join(sorted(data.splitlines(keepends=True)))
            files[os.path.relpath(path, root)] = data
    return files


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    root = tmp_path_factory.mktemp("ref") / "ds"
    report = generate_dataset(root, PARAMS, COUNT, seed=5, workers=1)
    assert report.written == COUNT and report.complete
    return root


def test_layout_and_manifest(reference):
    snap = snapshot(reference)
    assert sorted(snap) == ["dataset.json", "manifest.jsonl"] + [f"masks/{i:08d}.png" for i in range(COUNT)]
    header = json.loads(snap["dataset.json"])
    assert header["format_version"] == 1 and header["count"] == COUNT and header["seed"] == 5
    assert MaskParams.from_dict(header["params"]) == PARAMS
    assert len(header["palette"]) == 256
    lines = (reference / MANIFEST_NAME).read_text().splitlines()
    recs = [json.loads(line) for line in lines]
    assert [r["index"] for r in recs] == list(range(COUNT))  # sorted once complete
    m = make_mask(PARAMS, 5, 17)
    assert recs[17]["seed_stream"] == [5, 17, m.redraws] and recs[17]["k"] == m.k
    assert recs[17]["areas"] == list(m.areas) and recs[17]["components"] == list(m.components)
    assert np.array_equal(read_label_png(reference / "masks/00000017.png"), m.labels)


def test_output_identical_for_any_worker_count(reference, tmp_path):
    generate_dataset(tmp_path / "w2", PARAMS, COUNT, seed=5, workers=2)
    assert (tmp_path / "w2" / MANIFEST_NAME).read_bytes() == (reference / MANIFEST_NAME).read_bytes()
    assert snapshot(tmp_path / "w2") == snapshot(reference)


def test_shards_fill_one_dataset(reference, tmp_path):
    out = tmp_path / "sharded"
    first = generate_dataset(out, PARAMS, COUNT, seed=5, workers=1, shard=(1, 3))
    assert first.written == len(range(1, COUNT, 3)) and not first.complete
    idx = sorted(int(p.stem) for p in (out / "masks").iterdir())
    assert idx == list(range(1, COUNT, 3))
    generate_dataset(out, PARAMS, COUNT, seed=5, workers=2, shard=(0, 3), mode="resume")
    last = generate_dataset(out, PARAMS, COUNT, seed=5, workers=1, shard=(2, 3), mode="resume")
    assert last.complete
    assert snapshot(out) == snapshot(reference)


def test_resume_after_losses_regenerates_identically(reference, tmp_path):
    out = tmp_path / "r"
    generate_dataset(out, PARAMS, COUNT, seed=5, workers=1)
    # Simulate a killed run: torn manifest tail, missing PNGs, a PNG without its line, temp files.
    lines = (out / MANIFEST_NAME).read_text().splitlines(keepends=True)
    (out / MANIFEST_NAME).write_text("".join(lines[:40]) + lines[40][:15])
    (out / "masks/00000003.png").unlink()
    (out / "masks/00000060.png").write_bytes(b"garbage")  # no manifest line: must be replaced
    (out / "masks/.tmp-00000050.png.123").write_bytes(b"partial")
    (out / ".tmp-manifest.jsonl.abc").write_bytes(b"x")
    report = generate_dataset(out, PARAMS, COUNT, seed=5, workers=2, mode="resume")
    assert report.skipped == 39 and report.written == COUNT - 39 and report.complete
    assert snapshot(out) == snapshot(reference)
    assert verify_dataset(out) == []


def test_refuses_non_empty_out_and_other_settings(reference, tmp_path):
    with pytest.raises(ValueError, match="is not empty; pass --resume to continue it or --overwrite to replace it"):
        generate_dataset(reference, PARAMS, COUNT, seed=5)
    with pytest.raises(ValueError, match=r"made with other settings \(differs in seed\)"):
        generate_dataset(reference, PARAMS, COUNT, seed=6, mode="resume")
    (tmp_path / "notes.txt").write_text("mine")
    for mode in ("overwrite", "resume"):
        with pytest.raises(ValueError, match="notes.txt"):
            generate_dataset(tmp_path, PARAMS, 3, mode=mode)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_overwrite_replaces_a_dataset(tmp_path):
    generate_dataset(tmp_path / "o", PARAMS, 5, seed=1, workers=1)
    report = generate_dataset(tmp_path / "o", PARAMS, 3, seed=2, workers=1, mode="overwrite")
    assert report.complete and len(list((tmp_path / "o/masks").iterdir())) == 3
    assert read_dataset(tmp_path / "o").seed == 2


@pytest.mark.parametrize("count", [0, -3])
def test_count_must_be_positive(tmp_path, count):
    with pytest.raises(ValueError, match=f"count must be a positive integer, got {count}"):
        generate_dataset(tmp_path / "c", PARAMS, count)


@pytest.mark.parametrize("spec", ["3/2", "a/b", "1", "-1/2", "2/0", ""])
def test_bad_shard_specs(spec):
    with pytest.raises(ValueError, match="shard must be I/N with 0 <= I < N"):
        parse_shard(spec)


def test_read_dataset(reference):
    ds = read_dataset(reference)
    assert len(ds) == COUNT and ds.k_range == (2, 4) and ds.params == PARAMS
    assert ds.files[3] == reference / "masks/00000003.png"
    assert ds[3].dtype == np.uint8 and ds[3].shape == (20, 24)
    assert ds[3].max() < ds.record(3)["k"]


def test_read_dataset_partial_and_corrupt(tmp_path):
    out = tmp_path / "p"
    generate_dataset(out, PARAMS, 6, seed=0, workers=1, shard=(0, 2))
    with pytest.raises(ValueError, match="holds 3 of 6 masks; finish it with maskgen generate --resume"):
        read_dataset(out)
    ds = read_dataset(out, allow_partial=True)
    data = ds.files[1].read_bytes()
    ds.files[1].write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="00000002.png: unreadable or truncated PNG"):
        ds[1]
    ds.files[2].write_bytes(encode_label_png(np.full((20, 24), 9, np.uint8)))
    with pytest.raises(ValueError, match="00000004.png: label 9 >= K="):
        ds[2]


def test_verify_finds_every_kind_of_problem(tmp_path):
    out = tmp_path / "v"
    generate_dataset(out, PARAMS, 8, seed=0, workers=1)
    assert verify_dataset(out) == []
    masks = out / "masks"
    data = (masks / "00000001.png").read_bytes()
    (masks / "00000001.png").write_bytes(data[:40])  # truncated
    (masks / "00000002.png").unlink()  # missing file
    k3 = json.loads((out / MANIFEST_NAME).read_text().splitlines()[3])["k"]
    (masks / "00000003.png").write_bytes(encode_label_png(np.full((20, 24), k3, np.uint8)))  # label >= K
    labels = read_label_png(masks / "00000004.png")
    labels[0, 0] = (labels[0, 0] + 1) % 2
    (masks / "00000004.png").write_bytes(encode_label_png(labels))  # areas disagree
    lines = (out / MANIFEST_NAME).read_text().splitlines(keepends=True)
    (out / MANIFEST_NAME).write_text("".join(lines[:5] + lines[6:]))  # 00000005.png not in the manifest
    (masks / "stray.png").write_bytes(b"")
    (masks / ".tmp-00000006.png.99").write_bytes(b"")
    problems = verify_dataset(out)
    text = "\n".join(problems)
    assert "masks/00000001.png: unreadable or truncated PNG" in text
    assert "00000002.png: mask file missing" in text
    assert f"masks/00000003.png: label {k3} >= K={k3}" in text
    assert "masks/00000004.png: label" in text and "manifest says" in text
    assert "masks/00000005.png: not in the manifest" in text
    assert "masks/stray.png: not a mask file of this dataset" in text
    assert "1 of 8 masks missing from the manifest (first: index 5)" in text
    assert "masks/.tmp-00000006.png.99: temporary file left by an interrupted run" in text
    assert len(problems) == 8


def test_bad_headers_are_reported_cleanly(tmp_path):
    out = tmp_path / "h"
    generate_dataset(out, PARAMS, 2, seed=0, workers=1)
    header = json.loads((out / "dataset.json").read_text())
    (out / "dataset.json").write_text(json.dumps({**header, "format_version": 99}))
    with pytest.raises(ValueError, match="has format version 99, this maskgen reads 1; regenerate the dataset"):
        read_dataset(out)
    (out / "dataset.json").write_text("{truncated")
    with pytest.raises(ValueError, match="dataset.json is unreadable; use --overwrite or choose another OUT"):
        generate_dataset(out, PARAMS, 2, seed=0, workers=1, mode="resume")
    with pytest.raises(ValueError, match="dataset.json is not valid JSON"):
        read_dataset(out)
