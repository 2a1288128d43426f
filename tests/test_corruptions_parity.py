"""Byte-exact parity with the mended imagecorruptions 1.1.2 reference (tests/oracle.py).

19 corruptions × 5 severities × 3 real images of different sizes (one with odd sides, one
grayscale) × 2 seeds, compared with np.array_equal.
"""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from corruptions import CORRUPTIONS, SEVERITIES, corrupt
from oracle import reference_corrupt

SEEDS = (1, 123456789)


@pytest.fixture(scope="module")
def parity_images(shared_dir):
    data = shared_dir / "data"
    with Image.open(data / "coco_sample/000000040083.jpg") as im:
        odd = np.asarray(im.convert("RGB"))  # 333×500: odd height
    with Image.open(data / "coco_mini/val2017/000000397133.jpg") as im:
        bench = np.asarray(im.convert("RGB"))  # 427×640: the benchmark's image size
    with Image.open(data / "mpii_sample/052475643.jpg") as im:
        gray = np.asarray(im.convert("L"))[100:257, 300:501]  # 157×201 grayscale crop
    return {"odd_333x500": odd, "coco_427x640": bench, "gray_157x201": np.ascontiguousarray(gray)}


@pytest.mark.slow
@pytest.mark.parametrize("severity", SEVERITIES)
@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_byte_identical_to_reference(parity_images, name, severity):
    for label, image in parity_images.items():
        for seed in SEEDS:
            ours = corrupt(image, name, severity, seed)
            ref = reference_corrupt(image, name, severity, seed)
            assert ours.dtype == ref.dtype == np.uint8
            assert ours.shape == ref.shape, (label, seed)
            if not np.array_equal(ours, ref):
                diff = np.abs(ours.astype(int) - ref.astype(int))
                pytest.fail(
                    f"{name} s{severity} {label} seed {seed}: {np.count_nonzero(diff)} of {diff.size} "
                    f"values differ (max {diff.max()})"
                )
