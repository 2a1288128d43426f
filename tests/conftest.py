"""Shared fixtures. ../shared (real samples and models) is found through one fixture only."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The read-only ../shared folder beside the checkout; fail loudly if it is missing."""
    if not (SHARED / "README.md").is_file():
        pytest.fail(
            f"../shared not found at {SHARED}: the tests need the shared real samples and models "
            "beside the checkout (see DEVELOPERS guide); it is never copied into the repo",
            pytrace=False,
        )
    return SHARED


def load_rgb(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


@pytest.fixture(scope="session")
def built_samples(shared_dir, tmp_path_factory) -> dict[str, dict[str, Path]]:
    """coco-c and ochuman-c of the shared samples, gaussian_noise and motion_blur at severity 1, built by
    the real builder once per session: {dataset: {"images", "ann", "data"}}."""
    import contextlib
    import io

    from robustpose_bench.cli import main

    out = tmp_path_factory.mktemp("built_samples")
    sets = {"coco-c": shared_dir / "data" / "coco_sample" / "test_coco.json",
            "ochuman-c": shared_dir / "data" / "ochuman_sample" / "test_ochuman.json"}
    found = {}
    for dataset, ann in sets.items():
        with contextlib.redirect_stdout(io.StringIO()):
            rc = main(["build", dataset, "--images", str(ann.parent), "--ann", str(ann), "--data", str(out),
                       "--corruptions", "gaussian_noise,motion_blur", "--severities", "1", "--jobs", "1",
                       "--no-progress"])
        assert rc == 0
        found[dataset] = {"images": ann.parent, "ann": ann, "data": out}
    return found
