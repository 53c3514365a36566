"""Seeds outside what the random generators take: click's usage error naming --seed and its range."""

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from doodle.cli import main


@pytest.fixture
def picture(tmp_path):
    rgb = np.zeros((16, 16, 3), np.uint8)
    rgb[:, 8:] = (0, 0, 255)
    rgb[:8] += np.uint8(100)
    path = tmp_path / "p.png"
    Image.fromarray(rgb).save(path)
    return path


@pytest.mark.parametrize("command, seed", [
    ("map", -1), ("map", 2**32), ("render", 2**64), ("optimize", 2**64),
])
def test_out_of_range_seed_is_a_usage_error_naming_the_range(tmp_path, picture, command, seed):
    args = {
        "map": ["map", picture, "-o", tmp_path / "m.png", "--regions", 2],
        # Refused while parsing: the checkpoint and loss net are never reached.
        "render": ["render", "--checkpoint", tmp_path / "ck.pt", "--map", picture, "-o", tmp_path / "o.png"],
        "optimize": ["optimize", "--style", picture, "--content", picture, "--size", 16, "--iterations", 1,
                     "--loss-net", "random", "-o", tmp_path / "o.png"],
    }[command]
    result = CliRunner().invoke(main, [str(a) for a in [*args, "--seed", seed]])
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--seed'" in result.output and "is not in the range" in result.output
    assert not list(tmp_path.glob("[mo].png"))
