"""Fuzzing map loading and palette snapping: any PNG gives labels or a clean one-line error."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from doodle.images import load_rgb
from doodle.maps.palette import fit_palette, snap_to_palette

colour = st.tuples(*[st.integers(0, 255)] * 3)


def write_map(path, rgb: np.ndarray, alpha: np.ndarray, mode: str) -> np.ndarray:
    """Write ``rgb`` as a PNG in ``mode``; return the RGB a correct reader must see."""
    im = Image.fromarray(rgb)
    if mode == "RGBA":
        im = Image.fromarray(np.dstack([rgb, alpha]))
    elif mode in ("L", "LA"):
        im = im.convert("L")
        if mode == "LA":
            im.putalpha(Image.fromarray(alpha))
    elif mode == "P":
        im = im.quantize(colors=256)
    im.save(path)
    return np.asarray(im.convert("RGB"))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    height=st.integers(1, 40),
    width=st.integers(1, 40),
    mode=st.sampled_from(["RGB", "RGBA", "L", "P", "LA"]),
    colours=st.lists(colour, min_size=1, max_size=6),
    seed=st.integers(0, 2**32 - 1),
    block=st.integers(1, 12),
    noise=st.sampled_from([0, 5, 30, 120]),
    k=st.none() | st.integers(1, 8),
)
def test_random_maps_give_labels_or_a_clean_error(tmp_path, height, width, mode, colours, seed, block, noise, k):
    rng = np.random.default_rng(seed)
    # Blocky regions (block x block cells of random colours), plus noise and random alpha.
    cells = rng.integers(0, len(colours), (-(-height // block), -(-width // block)))
    labels = np.repeat(np.repeat(cells, block, axis=0), block, axis=1)[:height, :width]
    rgb = np.array(colours, np.uint8)[labels]
    if noise:
        rgb = np.clip(rgb.astype(int) + rng.integers(-noise, noise + 1, rgb.shape), 0, 255).astype(np.uint8)
    alpha = rng.integers(0, 256, (height, width), dtype=np.uint8)
    path = tmp_path / f"map-{mode}.png"
    expected = write_map(path, rgb, alpha, mode)

    loaded = load_rgb(path)
    assert loaded.shape == (height, width, 3) and loaded.dtype == np.uint8
    np.testing.assert_array_equal(loaded, expected)  # alpha ignored, modes converted exactly

    try:
        palette, labels = fit_palette(loaded, k)
        snapped = snap_to_palette(loaded, palette)
    except ValueError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert 1 <= len(palette) == (k or len(palette))
    present = {tuple(c) for c in loaded.reshape(-1, 3)}
    members, _ = palette.flat()
    assert all(tuple(c) in present for c in members)  # palette colours are real map colours
    assert labels.shape == (height, width) and labels.dtype == np.uint8 and int(labels.max()) < len(palette)
    assert snapped.shape == (height, width) and snapped.dtype == np.uint8
    assert int(snapped.max()) < len(palette)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    height=st.integers(1, 40),
    width=st.integers(1, 40),
    colours=st.lists(colour, min_size=1, max_size=6, unique=True),
    seed=st.integers(0, 2**32 - 1),
)
def test_as_many_regions_as_colours_reproduces_the_map(tmp_path, height, width, colours, seed):
    rgb = np.array(colours, np.uint8)[np.random.default_rng(seed).integers(0, len(colours), (height, width))]
    path = tmp_path / "exact.png"
    Image.fromarray(rgb).save(path)
    loaded = load_rgb(path)
    k = len(np.unique(loaded.reshape(-1, 3), axis=0))
    palette, labels = fit_palette(loaded, k)
    np.testing.assert_array_equal(palette.colours[labels], loaded)
    np.testing.assert_array_equal(snap_to_palette(loaded, palette), labels)
