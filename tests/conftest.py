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
