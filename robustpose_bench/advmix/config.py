"""Training configuration: one dataclass, loaded from YAML (``yaml.safe_load``) and CLI overrides.

Unknown keys are an error naming the key, so a typo never silently falls back to a default. The
resolved configuration is written next to the checkpoints (``config.yaml``) and inside them.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import UserError

METHODS = ("standard", "advmix")
MIX_MODES = ("adv", "adv-image", "equal", "dirichlet", "sequential")
DATASET_FORMATS = ("coco", "mpii")


@dataclass
class TrainConfig:
    """Everything that determines a training run (HRNet config names noted where they differ)."""

    arch: str = "simplebaseline_r50"
    method: str = "standard"
    # data
    dataset_format: str = "coco"            # coco: COCO keypoint json; mpii: HRNet annot json
    images: str = ""                        # image folder
    ann: str = ""                           # annotation file
    keypoints: str = "coco"                 # keypoint set: coco (17) or mpii (16)
    image_size: list[int] = field(default_factory=lambda: [192, 256])    # (w, h), MODEL.IMAGE_SIZE
    heatmap_size: list[int] = field(default_factory=lambda: [48, 64])    # (w, h), MODEL.HEATMAP_SIZE
    sigma: float = 2.0
    scale_factor: float = 0.35
    rot_factor: float = 45.0
    flip: bool = True
    prob_half_body: float = 0.3
    num_joints_half_body: int = 8
    # optimisation (Adam, MultiStep on epochs, as HRNet's TRAIN.*)
    epochs: int = 140
    batch_size: int = 32
    lr: float = 1e-3
    lr_steps: list[int] = field(default_factory=lambda: [90, 120])
    lr_factor: float = 0.1
    max_iters: int | None = None            # stop after this many iterations in all (tests, smoke runs)
    workers: int = 0
    seed: int = 0
    amp: bool = True                        # mixed precision, used only on CUDA
    # AdvMix
    mix: str = "adv"
    kd: bool = True
    alpha: float = 0.1
    adv_loss_weight: float = 1.0
    generator_lr: float = 1e-3
    generator_levels: int = 6               # fewer are used when the crop is too small
    generator_ngf: int = 64
    pretrained: str | None = None           # starting weights; also the frozen teacher
    checkpoint_every: int = 0               # also save every N iterations (0: at epoch ends and stop)

    def validate(self) -> None:
        def bad(name: str, msg: str) -> UserError:
            return UserError(f"config field '{name}': {msg}")
        if self.method not in METHODS:
            raise bad("method", f"must be one of {', '.join(METHODS)}, got {self.method!r}")
        if self.mix not in MIX_MODES:
            raise bad("mix", f"must be one of {', '.join(MIX_MODES)}, got {self.mix!r}")
        if self.dataset_format not in DATASET_FORMATS:
            raise bad("dataset_format", f"must be one of {', '.join(DATASET_FORMATS)}, got {self.dataset_format!r}")
        if self.keypoints not in ("coco", "mpii"):
            raise bad("keypoints", f"must be coco or mpii, got {self.keypoints!r}")
        for name in ("image_size", "heatmap_size"):
            v = getattr(self, name)
            if not (isinstance(v, list) and len(v) == 2 and all(isinstance(x, int) and x > 0 for x in v)):
                raise bad(name, f"must be [width, height] positive integers, got {v!r}")
        if self.image_size[0] != 4 * self.heatmap_size[0] or self.image_size[1] != 4 * self.heatmap_size[1]:
            raise bad("heatmap_size", f"must be image_size / 4 (stride 4), got {self.heatmap_size} for {self.image_size}")
        if not 0.0 <= self.alpha <= 1.0:
            raise bad("alpha", f"must be in [0, 1], got {self.alpha}")
        for name in ("epochs", "batch_size"):
            if int(getattr(self, name)) < 1:
                raise bad(name, "must be >= 1")
        if self.max_iters is not None and self.max_iters < 1:
            raise bad("max_iters", "must be >= 1 or null")
        if sorted(self.lr_steps) != list(self.lr_steps):
            raise bad("lr_steps", "must be increasing")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _coerce(name: str, value: Any, current: Any) -> Any:
    """Light type check against the default's type (YAML ints for floats are fine)."""
    if current is None or value is None:
        return value
    if isinstance(current, bool):
        if not isinstance(value, bool):
            raise UserError(f"config field '{name}': expected true/false, got {value!r}")
        return value
    if isinstance(current, float) and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(current, int) and isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(current, str) and isinstance(value, str):
        return value
    if isinstance(current, list) and isinstance(value, list):
        return list(value)
    raise UserError(f"config field '{name}': expected {type(current).__name__}, got {value!r}")


def update_config(cfg: TrainConfig, values: dict[str, Any], source: str) -> TrainConfig:
    """Return ``cfg`` with ``values`` applied; unknown keys raise a UserError naming ``source``."""
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    for key, value in values.items():
        if key not in known:
            raise UserError(f"{source}: unknown config key {key!r} (known: {', '.join(sorted(known))})")
        setattr(cfg, key, _coerce(key, value, getattr(cfg, key)) if key != "max_iters" and key != "pretrained"
                else value)
    return cfg


def load_config(path: str | os.PathLike) -> TrainConfig:
    """A TrainConfig from a YAML mapping of field names to values (unknown keys are errors)."""
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text())
    except FileNotFoundError:
        raise UserError(f"config file not found: {p}") from None
    except yaml.YAMLError as exc:
        raise UserError(f"{p}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise UserError(f"{p}: expected a mapping of config fields")
    return update_config(TrainConfig(), data, str(p))


def shipped_config(name: str) -> Path:
    """Path of a configuration shipped in ``robustpose_bench/configs`` (e.g. 'coco_simplebaseline_r50_256x192')."""
    here = Path(__file__).resolve().parents[1] / "configs"
    p = here / (name if name.endswith(".yaml") else f"{name}.yaml")
    if not p.is_file():
        have = ", ".join(sorted(q.stem for q in here.glob("*.yaml")))
        raise UserError(f"no shipped config {name!r} (shipped: {have})")
    return p
