"""The public corruption API: no global RNG, process-parallel reproducibility, input validation,
grayscale handling and the registry listing, checked against imagecorruptions 1.1.2 where it has
an answer (tests/oracle.py)."""
from __future__ import annotations

import multiprocessing
import random
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest
from PIL import Image

from corruptions import (
    BENCHMARK_CORRUPTIONS,
    CORRUPTIONS,
    VALIDATION_CORRUPTIONS,
    corrupt,
    list_corruptions,
)
from oracle import reference_corrupt, reference_module


@pytest.fixture(scope="module")
def small_image(shared_dir) -> np.ndarray:
    """A 72×96 real crop (odd offsets), enough for every corruption and fast."""
    with Image.open(shared_dir / "data/coco_sample/000000040083.jpg") as im:
        rgb = np.asarray(im.convert("RGB"))
    return np.ascontiguousarray(rgb[101:173, 203:299])


# --------------------------------------------------------------------------- global RNG


def test_corrupt_never_touches_global_numpy_rng(small_image):
    np.random.seed(2024)
    before = np.random.get_state()
    first = {name: corrupt(small_image, name, 3, 11) for name in CORRUPTIONS}
    after = np.random.get_state()
    assert before[0] == after[0]
    np.testing.assert_array_equal(before[1], after[1])
    assert before[2:] == after[2:]

    # results do not depend on what the global RNG did before
    np.random.seed(99)
    np.random.uniform(size=1234)
    for name in CORRUPTIONS:
        np.testing.assert_array_equal(corrupt(small_image, name, 3, 11), first[name], err_msg=name)


def test_different_seeds_give_different_results(small_image):
    for name in ("gaussian_noise", "impulse_noise", "snow", "frost", "fog", "spatter"):
        assert not np.array_equal(corrupt(small_image, name, 2, 1), corrupt(small_image, name, 2, 2)), name


# --------------------------------------------------------------------------- processes


def test_process_pool_shuffled_equals_sequential(small_image):
    items = [
        (name, severity, seed)
        for name in ("impulse_noise", "frost", "snow", "fog", "glass_blur")
        for severity in (1, 5)
        for seed in (0, 7)
    ]
    sequential = {item: corrupt(small_image, *item) for item in items}
    shuffled = items[:]
    random.Random(3).shuffle(shuffled)
    # spawn: fresh interpreters with empty caches (frost textures, numba), nothing inherited
    with ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("spawn")) as pool:
        results = pool.map(
            corrupt,
            [small_image] * len(shuffled),
            [n for n, _, _ in shuffled],
            [s for _, s, _ in shuffled],
            [seed for _, _, seed in shuffled],
        )
        parallel = dict(zip(shuffled, results))
    for item in items:
        np.testing.assert_array_equal(parallel[item], sequential[item], err_msg=str(item))


# --------------------------------------------------------------------------- validation


def _error(image, name="gaussian_noise", severity=1, seed=0) -> str:
    with pytest.raises(ValueError) as info:
        corrupt(image, name, severity, seed)
    message = str(info.value)
    assert message and "\n" not in message, message
    return message


def test_bad_images_raise_one_line_value_errors(small_image):
    assert "dtype uint8" in _error(small_image.astype(np.float32))
    assert "dtype uint8" in _error(small_image.astype(np.uint16))
    assert "numpy.ndarray" in _error(small_image.tolist())
    assert "dimensions" in _error(small_image[None])
    assert "dimensions" in _error(small_image[0, :, 0])
    assert "channels" in _error(np.ascontiguousarray(np.dstack([small_image, small_image[..., :1]])))
    assert "channels" in _error(np.ascontiguousarray(small_image[..., :2]))
    assert "32" in _error(np.ascontiguousarray(small_image[:31]))
    assert "32" in _error(np.ascontiguousarray(small_image[:, :31]))
    assert "32" in _error(np.ascontiguousarray(small_image[:31, :31, 0]))


def test_smallest_allowed_image_works(small_image):
    tiny = np.ascontiguousarray(small_image[:32, :32])
    for name in ("gaussian_noise", "impulse_noise", "snow", "frost", "fog", "spatter"):
        out = corrupt(tiny, name, 5, 0)
        assert out.shape == (32, 32, 3) and out.dtype == np.uint8
        np.testing.assert_array_equal(out, reference_corrupt(tiny, name, 5, 0), err_msg=name)


def test_unknown_name_suggests_close_matches(small_image):
    message = _error(small_image, name="glass_blr")
    assert "glass_blur" in message
    assert "impulse_noise" in _error(small_image, name="impulse-noise")
    message = _error(small_image, name="no_such_thing")
    assert "gaussian_noise" in message  # nothing close: the known names are listed
    _error(small_image, name=None)


@pytest.mark.parametrize("severity", [0, 6, -1, 2.0, True, False, "3", None])
def test_bad_severity(small_image, severity):
    assert "severity" in _error(small_image, severity=severity)


@pytest.mark.parametrize("seed", [-1, 2**32, 1.5, "3", True, None])
def test_bad_seed(small_image, seed):
    assert "seed" in _error(small_image, seed=seed)


def test_numpy_integer_severity_and_seed_accepted(small_image):
    ours = corrupt(small_image, "shot_noise", np.int64(2), np.uint32(2**32 - 1))
    np.testing.assert_array_equal(ours, corrupt(small_image, "shot_noise", 2, 2**32 - 1))


# --------------------------------------------------------------------------- grayscale


@pytest.mark.parametrize("name", ["gaussian_noise", "impulse_noise", "snow", "frost", "fog", "spatter", "glass_blur"])
def test_grayscale_inputs_give_three_channels_like_reference(small_image, name):
    gray = np.ascontiguousarray(small_image[..., 1])
    stacked = np.ascontiguousarray(np.stack((gray,) * 3, axis=-1))
    expected = corrupt(stacked, name, 4, 5)
    assert expected.shape == gray.shape + (3,)
    for variant in (gray, gray[..., None]):
        ours = corrupt(variant, name, 4, 5)
        np.testing.assert_array_equal(ours, expected)
        np.testing.assert_array_equal(ours, reference_corrupt(variant, name, 4, 5))


def test_non_contiguous_input_is_accepted(small_image):
    view = small_image[::-1, ::2]  # negative and non-unit strides, 72×48
    assert not view.flags.c_contiguous
    for name in ("speckle_noise", "snow", "spatter"):
        np.testing.assert_array_equal(
            corrupt(view, name, 3, 4), corrupt(np.ascontiguousarray(view), name, 3, 4), err_msg=name
        )


# --------------------------------------------------------------------------- listing


def test_list_corruptions_globs_and_subsets():
    assert list_corruptions("*blur") == [
        "defocus_blur", "glass_blur", "motion_blur", "zoom_blur", "gaussian_blur",
    ]
    assert list_corruptions("*noise", subset="benchmark") == ["gaussian_noise", "shot_noise", "impulse_noise"]
    assert list_corruptions("s*", subset="validation") == ["speckle_noise", "spatter", "saturate"]
    assert list_corruptions("nothing*") == []
    assert list_corruptions() == list(CORRUPTIONS)
    assert list_corruptions(subset="benchmark") == list(BENCHMARK_CORRUPTIONS)
    assert list_corruptions(subset="validation") == list(VALIDATION_CORRUPTIONS)
    assert len(BENCHMARK_CORRUPTIONS) == 15 and len(VALIDATION_CORRUPTIONS) == 4
    with pytest.raises(ValueError, match="subset"):
        list_corruptions(subset="common")


def test_registry_matches_imagecorruptions_lists():
    ic = reference_module()
    assert list(CORRUPTIONS) == ic.get_corruption_names("all")
    assert list(BENCHMARK_CORRUPTIONS) == ic.get_corruption_names("common")
    assert list(VALIDATION_CORRUPTIONS) == ic.get_corruption_names("validation")
    # imagecorruptions' families list benchmark corruptions only; ours also hold validation ones
    for family in ("noise", "blur", "weather", "digital"):
        ours = list_corruptions(subset=family)
        assert [n for n in ours if n in BENCHMARK_CORRUPTIONS] == ic.get_corruption_names(family)
    assert sorted(list_corruptions(subset="noise") + list_corruptions(subset="blur")
                  + list_corruptions(subset="weather") + list_corruptions(subset="digital")) == sorted(CORRUPTIONS)


# --------------------------------------------------------------------------- imagecorruptions' keywords

def test_imagecorruptions_keywords_give_the_same_bytes(small_image):
    """``corruption_name=`` / ``corruption_number=`` as imagecorruptions spells them (issue 24)."""
    ref_order = [*reference_module().get_corruption_names("all")]
    assert ref_order == list(CORRUPTIONS)  # corruption_number indexes the same list
    want = corrupt(small_image, "fog", 3, 7)
    np.testing.assert_array_equal(corrupt(small_image, corruption_name="fog", severity=3, seed=7), want)
    np.testing.assert_array_equal(corrupt(small_image, corruption_number=ref_order.index("fog"), severity=3, seed=7),
                                  want)
    np.testing.assert_array_equal(corrupt(small_image, corruption_name="fog", seed=7),
                                  corrupt(small_image, "fog", 1, 7))  # severity defaults to 1, as there


def test_a_call_without_seed_says_why_it_is_required(small_image):
    with pytest.raises(ValueError, match="global random state") as info:
        corrupt(small_image, corruption_name="fog", severity=3)
    assert "np.random.seed(seed)" in str(info.value) and len(str(info.value).splitlines()) == 1
    with pytest.raises(TypeError, match="one of name, corruption_name= or corruption_number="):
        corrupt(small_image, "fog", 3, 7, corruption_name="snow")
    with pytest.raises(ValueError, match="0..18"):
        corrupt(small_image, corruption_number=19, seed=0)
