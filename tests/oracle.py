"""imagecorruptions 1.1.2, the reference, mended at test time only (site-packages is never edited).

The three compatibility breaks named in docs/corruptions.md are mended by shims:
- ``pkg_resources`` -> a fake module whose ``resource_filename`` returns a plain file path;
- skimage ``gaussian(..., multichannel=True)`` -> a wrapper passing ``channel_axis=-1``;
- ``np.float_`` -> ``np.float64``.
impulse_noise's unseeded skimage ``random_noise`` gets ``rng=np.random.default_rng(seed)``.
"""
from __future__ import annotations

import importlib
import os
import sys
import types
import warnings
from types import SimpleNamespace

import numpy as np

_module = None


def _fake_pkg_resources() -> types.ModuleType:
    fake = types.ModuleType("pkg_resources")

    def resource_filename(package: str, resource: str) -> str:
        return os.path.join(os.path.dirname(sys.modules[package].__file__), resource)

    fake.resource_filename = resource_filename
    return fake


def _gaussian_shim(real_gaussian):
    def gaussian(image, sigma=1, *args, multichannel=None, **kwargs):
        if multichannel:
            kwargs["channel_axis"] = -1
        return real_gaussian(image, sigma, *args, **kwargs)

    return gaussian


def reference_module():
    """The mended ``imagecorruptions`` package (imported once per process)."""
    global _module
    if _module is not None:
        return _module
    if not hasattr(np, "float_"):
        np.float_ = np.float64
    saved = sys.modules.get("pkg_resources")
    sys.modules["pkg_resources"] = _fake_pkg_resources()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            ic = importlib.import_module("imagecorruptions")
    finally:
        if saved is None:
            del sys.modules["pkg_resources"]
        else:
            sys.modules["pkg_resources"] = saved
    corr = sys.modules["imagecorruptions.corruptions"]
    corr.gaussian = _gaussian_shim(corr.gaussian)
    _module = ic
    return ic


def reference_corrupt(image: np.ndarray, name: str, severity: int, seed: int) -> np.ndarray:
    """The reference's ``corrupt`` right after ``np.random.seed(seed)``."""
    ic = reference_module()
    corr = sys.modules["imagecorruptions.corruptions"]
    real_sk = corr.sk
    if name == "impulse_noise":
        from skimage.util import random_noise

        rng = np.random.default_rng(seed)
        corr.sk = SimpleNamespace(
            util=SimpleNamespace(random_noise=lambda *a, **k: random_noise(*a, rng=rng, **k)),
            color=real_sk.color,
        )
    try:
        np.random.seed(seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ic.corrupt(image, severity=severity, corruption_name=name)
    finally:
        corr.sk = real_sk
