"""Noise and weather corruptions beyond the parity grid: same random draws as the reference,
the skimage pieces written out (s&p noise, gaussian filter) equal to skimage, every frost texture
and resize branch, the frost texture lookup and its errors, and no skimage at run time."""
from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from corruptions import _plasma, corrupt, frost_textures, noise, weather
from oracle import reference_corrupt, reference_module

LEGACY = {
    "gaussian_noise": noise.gaussian_noise,
    "shot_noise": noise.shot_noise,
    "speckle_noise": noise.speckle_noise,
    "snow": weather.snow,
    "frost": weather.frost,
    "fog": weather.fog,
    "spatter": weather.spatter,
}


@pytest.fixture(scope="module")
def photo(shared_dir) -> np.ndarray:
    with Image.open(shared_dir / "data/coco_sample/000000040083.jpg") as im:
        return np.asarray(im.convert("RGB"))  # 333×500


@pytest.fixture
def restore_global_rng():
    state = np.random.get_state()
    yield
    np.random.set_state(state)


@pytest.mark.parametrize("severity", [1, 5])
@pytest.mark.parametrize("name", list(LEGACY))
def test_consumes_exactly_the_reference_draws(photo, name, severity, restore_global_rng):
    """After the call, our RandomState is where the reference left the global one."""
    image = np.ascontiguousarray(photo[:97, :130])
    rng = np.random.RandomState(42)
    LEGACY[name](image, severity, rng)
    reference_corrupt(image, name, severity, 42)  # seeds and advances the global RNG
    ours, ref = rng.get_state(), np.random.get_state()
    np.testing.assert_array_equal(ours[1], ref[1])
    assert ours[2:] == ref[2:]


@pytest.mark.parametrize("severity", [1, 3, 5])
def test_impulse_noise_is_skimage_random_noise(photo, severity):
    """Same values and same Generator consumption as skimage 0.26's random_noise(mode='s&p')."""
    from skimage.util import random_noise

    amount = [0.03, 0.06, 0.09, 0.17, 0.27][severity - 1]
    ours_rng, sk_rng = np.random.default_rng(9), np.random.default_rng(9)
    ours = noise.impulse_noise(photo, severity, ours_rng)
    expected = np.clip(random_noise(photo / 255.0, mode="s&p", amount=amount, rng=sk_rng), 0, 1) * 255
    assert ours.dtype == expected.dtype == np.float64
    np.testing.assert_array_equal(ours, expected)
    assert ours_rng.bit_generator.state == sk_rng.bit_generator.state
    flipped = np.mean((ours == 0) | (ours == 255))
    assert abs(flipped - amount) < 0.01 + np.mean((photo == 0) | (photo == 255))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("sigma", [1, 1.5, 4])
def test_gaussian_matches_skimage(dtype, sigma):
    from skimage.filters import gaussian

    values = np.random.default_rng(0).normal(0.65, 0.6, size=(61, 83)).astype(dtype)  # outside [0, 1] too
    ours = weather._skimage_gaussian(values, sigma)
    expected = gaussian(values, sigma=sigma)
    assert ours.dtype == expected.dtype == dtype
    np.testing.assert_array_equal(ours, expected)


@pytest.mark.parametrize("mapsize,decay", [(2, 2), (64, 1.7), (512, 1.4)])
def test_plasma_fractal_matches_reference(mapsize, decay, restore_global_rng):
    reference_module()
    ref_plasma = sys.modules["imagecorruptions.corruptions"].plasma_fractal
    np.random.seed(5)
    expected = ref_plasma(mapsize=mapsize, wibbledecay=decay)
    np.testing.assert_array_equal(_plasma.plasma_fractal(np.random.RandomState(5), mapsize, decay), expected)


def test_plasma_fractal_rejects_non_power_of_two():
    with pytest.raises(ValueError, match="power of two"):
        _plasma.plasma_fractal(np.random.RandomState(0), 48, 2)


# Shapes that hit every branch of the reference's texture scaling for the five textures used
# (texture sizes 600×900, 315×560, 315×560, 350×527, 495×660): both sides fit, height too big,
# width too big, both too big; seeds 2, 10, 3, 1, 0 pick textures 0, 1, 2, 3, 4.
@pytest.mark.parametrize("shape", [(64, 1100), (700, 40), (801, 1003), (320, 530), (40, 40)])
def test_frost_every_texture_and_scaling_branch(photo, shape):
    image = cv2.resize(photo, (shape[1], shape[0]), interpolation=cv2.INTER_AREA)
    for seed in (2, 10, 3, 1, 0):
        for severity in (1, 4):
            ours = corrupt(image, "frost", severity, seed)
            np.testing.assert_array_equal(ours, reference_corrupt(image, "frost", severity, seed))


@pytest.mark.parametrize("name", ["snow", "fog", "spatter"])
def test_weather_on_extreme_shapes(photo, name):
    for shape in [(700, 40), (40, 1030), (33, 33)]:
        image = cv2.resize(photo, (shape[1], shape[0]), interpolation=cv2.INTER_AREA)
        for severity in (2, 5):
            np.testing.assert_array_equal(
                corrupt(image, name, severity, 8), reference_corrupt(image, name, severity, 8), err_msg=str(shape)
            )


@pytest.mark.parametrize("fill", [0, 255])
@pytest.mark.parametrize("name", ["fog", "spatter", "snow", "shot_noise", "impulse_noise"])
def test_flat_images_match_reference(name, fill):
    """Black/white images: fog's zero maximum, spatter's texture-free water, saturated noise."""
    image = np.full((48, 64, 3), fill, np.uint8)
    for severity in (1, 3, 5):
        with np.errstate(all="ignore"):
            ours = corrupt(image, name, severity, 3)
            ref = reference_corrupt(image, name, severity, 3)
        np.testing.assert_array_equal(ours, ref)


def test_frost_textures_are_the_distribution_files():
    dist = importlib.metadata.distribution("imagecorruptions")
    for index, filename in enumerate(frost_textures.FROST_FILES):
        path = frost_textures.frost_texture_path(index)
        assert path == Path(str(dist.locate_file(f"imagecorruptions/frost/{filename}")))
        texture = frost_textures.frost_texture(index)
        np.testing.assert_array_equal(texture, cv2.imread(str(path)))
        assert texture.dtype == np.uint8 and texture.ndim == 3 and not texture.flags.writeable
    resized = frost_textures.resized_frost_rgb(1, 617, 347)
    assert resized.shape == (347, 617, 3) and not resized.flags.writeable


def test_missing_distribution_names_file_and_install(monkeypatch):
    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(frost_textures.importlib.metadata, "distribution", missing)
    with pytest.raises(FileNotFoundError, match=r"frost/frost3\.png.*pip install imagecorruptions==1\.1\.2"):
        frost_textures.frost_texture_path(2)


def test_missing_texture_file_names_file(monkeypatch, tmp_path):
    class EmptyDistribution:
        def locate_file(self, relative):
            return tmp_path / relative

    monkeypatch.setattr(frost_textures.importlib.metadata, "distribution", lambda name: EmptyDistribution())
    with pytest.raises(FileNotFoundError, match=r"frost/frost5\.jpg.*pip install"):
        frost_textures.frost_texture_path(4)


def test_runtime_never_imports_skimage_or_imagecorruptions(photo):
    code = (
        "import sys, numpy as np\n"
        "from corruptions import corrupt\n"
        "x = np.zeros((40, 50, 3), np.uint8) + 100\n"
        "for n in ('gaussian_noise', 'shot_noise', 'impulse_noise', 'speckle_noise',"
        " 'snow', 'frost', 'fog', 'spatter'):\n"
        "    for s in (1, 5):\n"
        "        corrupt(x, n, s, 0)\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('skimage', 'imagecorruptions', 'pkg_resources')]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_spatter_without_any_liquid_matches_reference():
    """A reference quirk kept: on a tiny image the water layer can be empty, m / max(m) is 0/0 and
    the NaN image becomes uint8 0 (seed 35 on 32×32 at severity 1)."""
    image = np.full((32, 32, 3), 128, np.uint8)
    with np.errstate(invalid="ignore"):
        assert np.isnan(weather.spatter(image, 1, np.random.RandomState(35))).all()
        ours = corrupt(image, "spatter", 1, 35)
        ref = reference_corrupt(image, "spatter", 1, 35)
    np.testing.assert_array_equal(ours, ref)
