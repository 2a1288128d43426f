"""Training configuration: one dataclass, loaded from YAML (``yaml.safe_load``) and CLI overrides.

Unknown keys are an error naming the key, so a typo never silently falls back to a default. The
resolved configuration is written next to the checkpoints (``config.yaml``) and inside them.
"""
from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import yaml

from ..errors import UserError, shown
from .dataset_card import is_card_path

METHODS = ("standard", "advmix")
MIX_MODES = ("adv", "adv-image", "equal", "dirichlet", "sequential")
LOSS_KINDS = ("mse", "smoothl1")
GENERATOR_LOSSES = ("pose", "gt")       # pose: the pose step's loss (KD term included); gt: its ground-truth term
GENERATOR_BN = ("frozen", "update")     # BN running statistics in the generator step: restored, or updated
DATASET_FORMATS = ("coco", "mpii")
CONFIG_FORMAT = 2   # image_size / heatmap_size as [height, width]; before it, HRNet's [width, height]


@dataclass
class TrainConfig:
    """Everything that determines a training run (HRNet config names noted where they differ)."""

    arch: str = "simplebaseline_r50"
    method: str = "standard"
    # data
    # A registered dataset (coco-c, ochuman-c, crowdpose-c, synth-c, mpii-c), a keypoint set (coco, mpii,
    # crowdpose) or a dataset card file (FILE.json; in a config file, relative to that file): its card
    # gives the keypoints, flip pairs and upper body, and fills in dataset_format and keypoints below.
    dataset: str | None = None
    dataset_format: str = "coco"            # coco: COCO keypoint json; mpii: HRNet annot json (from the card)
    images: str = ""                        # image folder
    ann: str = ""                           # annotation file
    keypoints: str = "coco"                 # keypoint set: the card's (configs without dataset: coco or mpii)
    # [height, width] as --image-size (HRNet's MODEL.IMAGE_SIZE is the other way round: [w, h]).
    image_size: list[int] = field(default_factory=lambda: [256, 192])
    heatmap_size: list[int] = field(default_factory=lambda: [64, 48])   # [height, width]: image_size / 4
    sigma: float = 2.0
    scale_factor: float = 0.35
    rot_factor: float = 45.0
    flip: bool = True
    prob_half_body: float = 0.3
    num_joints_half_body: int = 8
    # optimisation (Adam, MultiStep on epochs, as HRNet's TRAIN.*)
    epochs: int = 140
    # Images per forward pass, all processes together: under torchrun each of the W processes takes
    # batch_size / W (one process: TRAIN.BATCH_SIZE_PER_GPU; W GPUs: GPUS x TRAIN.BATCH_SIZE_PER_GPU).
    batch_size: int = 32
    grad_accum: int = 1                     # forward passes per optimiser step: effective batch = batch_size * this
    sync_bn: bool = False                   # under torchrun: BatchNorm over the global batch (SyncBatchNorm, CUDA)
    lr: float = 1e-3
    lr_steps: list[int] = field(default_factory=lambda: [90, 120])
    lr_factor: float = 0.1
    max_iters: int | None = None            # stop after this many iterations in all (tests, smoke runs)
    workers: int = 0
    seed: int = 0
    amp: bool = True                        # mixed precision, used only on CUDA
    deterministic: bool = False             # CUDA: deterministic kernels, no cuDNN autotuning (CPU: no effect)
    # AdvMix
    mix: str = "adv"
    kd: bool = True
    alpha: float = 0.1
    adv_loss_weight: float = 1.0
    generator_lr: float = 1e-3
    # The official loop's three small deviations (docs/advmix.md, "Deviations"), each measured to have no
    # effect; the defaults are the paper's text: MSE, the generator maximising the pose loss, BN restored.
    loss: str = "mse"                       # mse | smoothl1 (the official JointsMSELoss default)
    generator_loss: str = "pose"            # pose | gt (official: -criterion(output, target) only)
    generator_bn: str = "frozen"            # frozen | update (official: the generator's forward updates BN)
    generator_levels: int = 6               # fewer are used when the crop is too small
    generator_ngf: int = 64
    pretrained: str | None = None           # starting weights of the whole net; also the frozen teacher
    backbone_weights: str | None = None     # ImageNet weights of the backbone only, loaded at iteration 0
    checkpoint_every: int = 0               # also save every N iterations (0: at epoch ends and stop)
    # 2: image_size / heatmap_size are [height, width]. Files without it may be older, [width, height]
    # ones: read_config_values refuses those that would turn a portrait input into a landscape one.
    config_format: int = CONFIG_FORMAT

    def validate(self, source: str | None = None, origins: Mapping[str, str] | None = None) -> None:
        """Refuse, in one line naming the field and where it came from, any value training cannot use.

        ``origins`` maps fields to the file that set them (else ``source``, else nothing is named).
        Run before anything is written: an infinite lr, a negative sigma or a scale factor above 1
        would otherwise surface as a NaN loss or a crash deep inside a run.
        """
        def bad(name: str, msg: str) -> UserError:
            where = (origins or {}).get(name, source)
            return UserError(f"{where + ': ' if where else ''}config field '{name}': {msg}")
        from ..datasets.cards import keypoint_sets

        choices: tuple[tuple[str, tuple[str, ...]], ...] = (
            ("method", METHODS), ("mix", MIX_MODES), ("loss", LOSS_KINDS),
            ("generator_loss", GENERATOR_LOSSES), ("generator_bn", GENERATOR_BN))
        if self.dataset is None:  # else the card fills both in (advmix/dataset_card.py)
            choices += (("dataset_format", DATASET_FORMATS), ("keypoints", tuple(keypoint_sets())))
        elif not (isinstance(self.dataset, str) and self.dataset):
            raise bad("dataset", f"must be a dataset name or a card file, got {shown(self.dataset)}")
        for name, allowed in choices:
            if getattr(self, name) not in allowed:
                raise bad(name, f"must be one of {', '.join(allowed)}, got {shown(getattr(self, name))}")
        if self.config_format != CONFIG_FORMAT:
            raise bad("config_format", f"must be {CONFIG_FORMAT} (image_size as [height, width]), "
                                       f"got {shown(self.config_format)}")
        for name in ("image_size", "heatmap_size"):
            v = getattr(self, name)
            if not (isinstance(v, list) and len(v) == 2 and all(_is_int(x) and 0 < x <= MAX_SIZE for x in v)):
                raise bad(name, f"must be [height, width], integers 1..{MAX_SIZE}, got {shown(v)}")
        if self.image_size[0] != 4 * self.heatmap_size[0] or self.image_size[1] != 4 * self.heatmap_size[1]:
            raise bad("heatmap_size", f"must be image_size / 4 (stride 4), got {self.heatmap_size} for {self.image_size}")
        for name, ok, expected in _RANGES:
            if not ok(getattr(self, name)):
                raise bad(name, f"must be {expected}, got {shown(getattr(self, name))}")
        if not 0 < self.sigma <= max(self.heatmap_size):
            raise bad("sigma", f"must be > 0 and at most the heatmap size {max(self.heatmap_size)}, got {self.sigma}")
        steps = self.lr_steps
        if not (isinstance(steps, list) and all(_is_int(s) and s >= 0 for s in steps) and sorted(steps) == steps):
            raise bad("lr_steps", f"must be an increasing list of epoch numbers >= 0, got {shown(steps)}")
        adversarial = self.method == "advmix" and self.mix in ("adv", "adv-image")
        for name, default in (("generator_loss", "pose"), ("generator_bn", "frozen")):
            if getattr(self, name) != default and not adversarial:
                raise bad(name, f"{getattr(self, name)!r} applies to the adversarial generator (method advmix, mix adv "
                                f"or adv-image), not method {self.method} with mix {self.mix}")
        if self.max_iters is not None and not (_is_int(self.max_iters) and self.max_iters >= 1):
            raise bad("max_iters", f"must be an integer >= 1 or null, got {shown(self.max_iters)}")
        for name in ("pretrained", "backbone_weights"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, str) and value):
                raise bad(name, f"must be a file path or null, got {shown(value)}")
        if self.pretrained and self.backbone_weights:
            raise bad("backbone_weights", "cannot be combined with pretrained: pretrained loads the whole net, "
                                          "backbone included (give one of them)")
        if origins:
            self._check_data_paths(origins)

    def _check_data_paths(self, origins: Mapping[str, str]) -> None:
        """A data path that a config file set must exist: the error names that file, the key, the folder
        the relative path was read from and the layout the tool expects (a shipped or copied config's
        paths are someone else's disk, so they fail here rather than deep in the data reader)."""
        from .data import training_layout

        for name, want_dir in (("images", True), ("ann", False)):
            value, where = getattr(self, name), origins.get(name)
            if not where or not isinstance(value, str) or not value:
                continue
            path = Path(value)
            if path.is_dir() if want_dir else path.is_file():
                continue
            what = "image folder" if want_dir else "annotation file"
            rel = "" if path.is_absolute() else f", relative to the working directory {Path.cwd()}"
            raise UserError(f"{where}: config field '{name}': {what} {value} not found{rel}; expected the "
                            f"{self.dataset_format} layout {training_layout(self.dataset_format)}, or give "
                            f"--{name} on the command line")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


MAX_SIZE = 4096  # pixels per side of the input crop: beyond this, memory, not the user, gives out
# Optional fields: their type cannot be read from a default of None.
_OPTIONAL_TYPES: dict[str, type] = {"dataset": str, "max_iters": int, "pretrained": str, "backbone_weights": str}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# (field, test, what it must be): checked by TrainConfig.validate in this order.
_RANGES: tuple[tuple[str, Callable[[Any], bool], str], ...] = (
    ("arch", lambda v: isinstance(v, str) and bool(v), "an architecture name"),
    ("epochs", lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    ("batch_size", lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    ("grad_accum", lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    ("lr", lambda v: _finite(v) and v > 0, "a finite number > 0"),
    ("generator_lr", lambda v: _finite(v) and v > 0, "a finite number > 0"),
    ("lr_factor", lambda v: _finite(v) and 0 < v <= 1, "in (0, 1]"),
    ("sigma", _finite, "a finite number"),
    ("scale_factor", lambda v: _finite(v) and 0 <= v < 1, "in [0, 1) (the scale is drawn from 1 ± it)"),
    ("rot_factor", lambda v: _finite(v) and 0 <= v <= 180, "in [0, 180] degrees"),
    ("prob_half_body", lambda v: _finite(v) and v <= 1, "a probability <= 1 (<= 0 turns it off, as HRNet's -1)"),
    ("num_joints_half_body", lambda v: _is_int(v) and v >= 0, "an integer >= 0"),
    ("alpha", lambda v: _finite(v) and 0 <= v <= 1, "in [0, 1]"),
    ("adv_loss_weight", lambda v: _finite(v) and v >= 0, "a finite number >= 0"),
    ("generator_levels", lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    ("generator_ngf", lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    ("workers", lambda v: _is_int(v) and v >= 0, "an integer >= 0"),
    ("seed", lambda v: _is_int(v) and 0 <= v < 2**32, "an integer in [0, 2**32)"),
    ("checkpoint_every", lambda v: _is_int(v) and v >= 0, "an integer >= 0"),
)


def _coerce(name: str, value: Any, current: Any, prefix: str = "") -> Any:
    """Light type check against the default's type (YAML ints for floats are fine)."""
    if name in _OPTIONAL_TYPES and value is not None:
        current = _OPTIONAL_TYPES[name]()
    if current is None or value is None:
        return value
    if isinstance(current, bool):
        if not isinstance(value, bool):
            raise UserError(f"{prefix}config field '{name}': expected true/false, got {shown(value)}")
        return value
    if isinstance(current, float) and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(current, int) and isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(current, str) and isinstance(value, str):
        return value
    if isinstance(current, list) and isinstance(value, list):
        return list(value)
    raise UserError(f"{prefix}config field '{name}': expected {type(current).__name__}, got {shown(value)}")


def update_config(cfg: TrainConfig, values: dict[str, Any], source: str) -> TrainConfig:
    """Return ``cfg`` with ``values`` applied; unknown keys raise a UserError naming ``source``."""
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    for key, value in values.items():
        if key not in known:
            raise UserError(f"{source}: unknown config key {key!r} (known: {', '.join(sorted(known))})")
        setattr(cfg, key, _coerce(key, value, getattr(cfg, key), "" if source == "command line" else f"{source}: "))
    return cfg


def read_config_values(path: str | os.PathLike) -> dict[str, Any]:
    """The YAML mapping of field names to values in ``path`` (one-line errors for a bad file)."""
    from ..jsonfile import read_regular_bytes

    p = Path(path)
    raw = read_regular_bytes(p, "config file")  # one-line errors; never blocks on a FIFO
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise UserError(f"{p}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise UserError(f"{p}: expected a mapping of config fields")
    refuse_old_size_order(data, str(p))
    dataset = data.get("dataset")
    if isinstance(dataset, str) and is_card_path(dataset) and not os.path.isabs(dataset):
        data["dataset"] = os.path.abspath(p.parent / dataset)  # a card file: relative to the config file
    return data


def refuse_old_size_order(values: Mapping[str, Any], source: str) -> None:
    """Refuse a file without ``config_format: 2`` whose image_size reads as a landscape input.

    Until format 2, image_size was HRNet's [width, height]: [192, 256] meant 256 high x 192 wide. Read
    as [height, width] it would train a landscape model on portrait persons without a word, so such a
    file must say which order it means. [a, b] with a >= b is taken as [height, width]: a square input
    reads the same in both orders, and a portrait input in the new order has a > b.
    """
    size = values.get("image_size")
    if "config_format" in values or not (isinstance(size, list) and len(size) == 2
                                         and all(_is_int(v) for v in size)) or size[0] >= size[1]:
        return
    a, b = size
    heat = values.get("heatmap_size")
    heat_fix = (f" and heatmap_size: [{heat[1]}, {heat[0]}]"
                if isinstance(heat, list) and len(heat) == 2 else "")
    raise UserError(f"{source}: config field 'image_size': {size} is now [height, width], as --image-size, and "
                    f"would train a {a}-high x {b}-wide (landscape) input; for the old [width, height] order's "
                    f"{b}x{a} input write image_size: [{b}, {a}]{heat_fix}, or add config_format: {CONFIG_FORMAT} "
                    f"to keep {a}x{b}")


def from_checkpoint(config: Mapping[str, Any]) -> dict[str, Any]:
    """A config stored in a checkpoint, in the current format.

    Every checkpoint without ``config_format`` was written by a ``train`` that stored image_size and
    heatmap_size as [width, height], so for those the conversion is exact: both are swapped.
    """
    values = dict(config)
    if "config_format" not in values:
        for name in ("image_size", "heatmap_size"):
            v = values.get(name)
            if isinstance(v, list) and len(v) == 2:
                values[name] = [v[1], v[0]]
        values["config_format"] = CONFIG_FORMAT
    return values


def load_config(path: str | os.PathLike) -> TrainConfig:
    """A TrainConfig from a YAML mapping of field names to values (unknown keys are errors)."""
    return update_config(TrainConfig(), read_config_values(path), str(Path(path)))


def shipped_config(name: str) -> Path:
    """Path of a configuration shipped in ``robustpose_bench/configs`` (e.g. 'coco_simplebaseline_r50_256x192')."""
    here = Path(__file__).resolve().parents[1] / "configs"
    p = here / (name if name.endswith(".yaml") else f"{name}.yaml")
    if not p.is_file():
        have = ", ".join(sorted(q.stem for q in here.glob("*.yaml")))
        raise UserError(f"no shipped config {name!r} (shipped: {have})")
    return p
