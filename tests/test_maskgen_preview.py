"""maskgen.preview.preview_masks: which masks each kind of preview source gives."""

import json

import numpy as np
import pytest

from maskgen import MaskParams, generate_dataset, make_mask
from maskgen.preview import preview_masks

PARAMS = MaskParams(width=20, height=12, regions=(3, 3), filter_size=3)


def drawn(params, seed, count):
    return [make_mask(params, seed, i).labels for i in range(count)]


def assert_same(masks, expected):
    assert len(masks) == len(expected)
    for a, b in zip(masks, expected):
        np.testing.assert_array_equal(a, b)


def test_a_dataset_directory_gives_its_masks_even_when_partial(tmp_path):
    out = tmp_path / "ds"
    generate_dataset(out, PARAMS, 6, seed=4, workers=1, shard=(0, 2))  # indices 0, 2, 4 only
    assert_same(preview_masks(out, 2), [make_mask(PARAMS, 4, i).labels for i in (0, 2)])
    assert len(preview_masks(out, 10)) == 3


def test_a_dataset_header_gives_its_params_and_seed(tmp_path):
    out = tmp_path / "ds"
    generate_dataset(out, PARAMS, 2, seed=7, workers=1)
    assert_same(preview_masks(out / "dataset.json", 4, seed=0), drawn(PARAMS, 7, 4))


def test_a_params_file_uses_the_given_seed(tmp_path):
    path = tmp_path / "p.json"
    path.write_text(json.dumps(PARAMS.to_dict()))
    assert_same(preview_masks(path, 3, seed=2), drawn(PARAMS, 2, 3))
    path.write_text(json.dumps({"params": PARAMS.to_dict(), "seed": 9}))
    assert_same(preview_masks(path, 3, seed=2), drawn(PARAMS, 9, 3))


def test_the_word_params_draws_from_the_given_params():
    assert_same(preview_masks("params", 3, PARAMS, seed=1), drawn(PARAMS, 1, 3))


@pytest.mark.parametrize(
    "text, message",
    [("{not json", "is not valid JSON"), ("[1, 2]", "holds no JSON object"), ('{"params": 3}', 'has no "params" object'),
     ('{"colour": 1}', "unknown mask parameters ['colour']")],
)
def test_bad_params_files_raise_value_errors(tmp_path, text, message):
    path = tmp_path / "p.json"
    path.write_text(text)
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        preview_masks(path, 1)


def test_bad_sources_and_counts(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such dataset directory or parameter file"):
        preview_masks(tmp_path / "nothing", 1)
    with pytest.raises(ValueError, match="needs mask parameters"):
        preview_masks("params", 1)
    with pytest.raises(ValueError, match="count must be a positive integer, got 0"):
        preview_masks("params", 0, PARAMS)
