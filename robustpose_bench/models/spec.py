"""The model spec: how the evaluator feeds a pose model and reads its output.

A spec is a JSON object (format ``robustpose-model-spec/1``, see ``docs/model_spec.md``). It lives
either in a sidecar file or inside the model: ONNX ``metadata_props`` key ``robustpose_spec``, or a
TorchScript extra file ``robustpose_spec.json``. Parsing is strict and every error names the field,
because a silently mis-read model gives a plausible but wrong AP, which is worse than no AP.

This module has no heavy imports (no onnx / torch at import time): exporters (the trainer) import it
to build and embed specs, and ``robustpose-bench --help`` stays fast.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping

from ..errors import UserError

SPEC_FORMAT = "robustpose-model-spec/1"
#: ONNX ``metadata_props`` key holding the spec JSON string.
ONNX_METADATA_KEY = "robustpose_spec"
#: TorchScript ``_extra_files`` name holding the spec JSON bytes.
TORCHSCRIPT_EXTRA_FILE = "robustpose_spec.json"

#: Keypoint sets of the datasets we score, with their sizes. OCHuman and synth use the COCO set.
DATASET_KEYPOINTS: dict[str, int] = {"coco": 17, "mpii": 16}

COCO_KEYPOINT_NAMES = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)
MPII_KEYPOINT_NAMES = (
    "r_ankle", "r_knee", "r_hip", "l_hip", "l_knee", "l_ankle", "pelvis", "thorax",
    "upper_neck", "head_top", "r_wrist", "r_elbow", "r_shoulder", "l_shoulder", "l_elbow", "l_wrist",
)
#: HRNet's flip pairs (lib/dataset/coco.py and mpii.py).
COCO_FLIP_PAIRS = ((1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16))
MPII_FLIP_PAIRS = ((0, 5), (1, 4), (2, 3), (10, 15), (11, 14), (12, 13))

#: ImageNet statistics on 0..255 pixels, as the trainer's heatmap models use.
IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)

_LAYOUTS_IN = ("NCHW", "NHWC")
_DTYPES = ("uint8", "float32")
_CHANNEL_ORDERS = ("RGB", "BGR")
_KINDS = ("heatmaps", "keypoints")
_LAYOUTS_HM = ("NKHW", "NHWK")
_COORDS = ("normalized", "pixel")
_ORDERS = ("yx", "xy")
_ACTIVATIONS = ("none", "sigmoid")


@dataclass(frozen=True)
class InputSpec:
    """How to turn an RGB uint8 crop into the model's input tensor."""

    height: int
    width: int
    layout: str = "NCHW"
    dtype: str = "float32"
    channel_order: str = "RGB"
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    name: str | None = None


@dataclass(frozen=True)
class OutputSpec:
    """Which output to read and what it holds (heatmaps or keypoint coordinates)."""

    kind: str
    name: str | None = None
    # heatmaps
    layout: str = "NKHW"
    stride: float | None = None
    # keypoints
    coords: str | None = None
    order: str | None = None
    values_per_keypoint: int | None = None
    score_index: int | None = None
    score_activation: str = "none"


@dataclass(frozen=True)
class KeypointSpec:
    """The model's keypoint set and, per dataset, the model index of each dataset keypoint."""

    num: int
    dataset_map: dict[str, tuple[int, ...]]
    names: tuple[str, ...] | None = None


@dataclass(frozen=True)
class ModelSpec:
    """A parsed, checked model spec. Build with :func:`parse_spec` or the helpers below."""

    name: str
    input: InputSpec
    output: OutputSpec
    keypoints: KeypointSpec
    flip_pairs: tuple[tuple[int, int], ...] = ()
    format: str = SPEC_FORMAT
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (what gets embedded or written as a sidecar); round-trips through parse_spec."""
        d = asdict(self)
        extra = d.pop("extra")
        d["input"]["mean"] = list(d["input"]["mean"])
        d["input"]["std"] = list(d["input"]["std"])
        d["keypoints"]["dataset_map"] = {k: list(v) for k, v in d["keypoints"]["dataset_map"].items()}
        if d["keypoints"]["names"] is not None:
            d["keypoints"]["names"] = list(d["keypoints"]["names"])
        d["flip_pairs"] = [list(p) for p in d["flip_pairs"]]
        out = d["output"]
        if out["kind"] == "heatmaps":
            for k in ("coords", "order", "values_per_keypoint", "score_index", "score_activation"):
                out.pop(k)
        else:
            out.pop("layout")
            out.pop("stride")
        d.update(extra)
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    def dataset_indices(self, dataset_kps: str) -> tuple[int, ...]:
        """Model keypoint index for each keypoint of ``dataset_kps`` ('coco' or 'mpii')."""
        try:
            return self.keypoints.dataset_map[dataset_kps]
        except KeyError:
            have = ", ".join(sorted(self.keypoints.dataset_map)) or "none"
            raise UserError(
                f"model spec '{self.name}': keypoints.dataset_map has no entry for '{dataset_kps}' "
                f"(it maps onto: {have}); this model cannot be scored on that dataset"
            ) from None

    def flip_permutation(self) -> tuple[int, ...]:
        """perm[i] = model keypoint that keypoint i becomes after a horizontal flip."""
        perm = list(range(self.keypoints.num))
        for a, b in self.flip_pairs:
            perm[a], perm[b] = b, a
        return tuple(perm)


# ----------------------------------------------------------------------------------------------
# parsing


def _err(where: str, field_: str, msg: str) -> UserError:
    return UserError(f"model spec{where}: {field_} {msg}")


def _get(d: Mapping, key: str, where: str, prefix: str, *, required: bool, default: Any = None):
    if key in d:
        return d[key]
    if required:
        raise _err(where, f"{prefix}{key}", "is missing")
    return default


def _choice(v: Any, options: tuple[str, ...], where: str, fname: str) -> str:
    if v not in options:
        raise _err(where, fname, f"must be one of {', '.join(options)}, got {v!r}")
    return v


def _posint(v: Any, where: str, fname: str, *, allow_zero: bool = False) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < (0 if allow_zero else 1):
        raise _err(where, fname, f"must be a {'non-negative' if allow_zero else 'positive'} integer, got {v!r}")
    return v


def _triple(v: Any, where: str, fname: str, *, positive: bool) -> tuple[float, float, float]:
    if (
        not isinstance(v, (list, tuple)) or len(v) != 3
        or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v)
    ):
        raise _err(where, fname, f"must be a list of 3 numbers, got {v!r}")
    if positive and not all(x > 0 for x in v):
        raise _err(where, fname, f"must be positive, got {v!r}")
    return (float(v[0]), float(v[1]), float(v[2]))


def _optname(v: Any, where: str, fname: str) -> str | None:
    if v is not None and not isinstance(v, str):
        raise _err(where, fname, f"must be a string or null, got {v!r}")
    return v


def _check_keys(d: Mapping, allowed: set[str], where: str, prefix: str) -> None:
    unknown = sorted(set(d) - allowed)
    if unknown:
        raise _err(where, f"{prefix}{unknown[0]}", f"is not a known field (known: {', '.join(sorted(allowed))})")


def parse_spec(obj: Mapping[str, Any] | str | bytes, source: str | None = None) -> ModelSpec:
    """Parse and check a spec (a dict, or its JSON text). ``source`` names where it came from.

    Unknown top-level fields must start with ``x_`` (kept as ``extra``); unknown nested fields are
    rejected, so a typo such as ``"chanel_order"`` fails instead of being silently ignored.
    """
    where = f" ({source})" if source else ""
    if isinstance(obj, (str, bytes)):
        try:
            obj = json.loads(obj)
        except json.JSONDecodeError as exc:
            raise UserError(f"model spec{where}: not valid JSON ({exc})") from None
    if not isinstance(obj, Mapping):
        raise UserError(f"model spec{where}: must be a JSON object, got {type(obj).__name__}")
    top = {"format", "name", "input", "output", "keypoints", "flip_pairs"}
    extra = {k: v for k, v in obj.items() if k not in top and k.startswith("x_")}
    _check_keys({k: v for k, v in obj.items() if k not in extra}, top, where, "")
    fmt = _get(obj, "format", where, "", required=True)
    if fmt != SPEC_FORMAT:
        raise _err(where, "format", f"must be {SPEC_FORMAT!r}, got {fmt!r}")
    name = _get(obj, "name", where, "", required=True)
    if not isinstance(name, str) or not name:
        raise _err(where, "name", f"must be a non-empty string, got {name!r}")

    # input
    i = _get(obj, "input", where, "", required=True)
    if not isinstance(i, Mapping):
        raise _err(where, "input", "must be an object")
    _check_keys(i, {"name", "height", "width", "layout", "dtype", "channel_order", "mean", "std"}, where, "input.")
    inp = InputSpec(
        name=_optname(i.get("name"), where, "input.name"),
        height=_posint(_get(i, "height", where, "input.", required=True), where, "input.height"),
        width=_posint(_get(i, "width", where, "input.", required=True), where, "input.width"),
        layout=_choice(_get(i, "layout", where, "input.", required=True), _LAYOUTS_IN, where, "input.layout"),
        dtype=_choice(_get(i, "dtype", where, "input.", required=True), _DTYPES, where, "input.dtype"),
        channel_order=_choice(i.get("channel_order", "RGB"), _CHANNEL_ORDERS, where, "input.channel_order"),
        mean=_triple(i.get("mean", [0, 0, 0]), where, "input.mean", positive=False),
        std=_triple(i.get("std", [1, 1, 1]), where, "input.std", positive=True),
    )

    # output
    o = _get(obj, "output", where, "", required=True)
    if not isinstance(o, Mapping):
        raise _err(where, "output", "must be an object")
    _check_keys(o, {"name", "kind", "layout", "stride", "coords", "order", "values_per_keypoint",
                    "score_index", "score_activation"}, where, "output.")
    kind = _choice(_get(o, "kind", where, "output.", required=True), _KINDS, where, "output.kind")
    oname = _optname(o.get("name"), where, "output.name")
    if kind == "heatmaps":
        stride = _get(o, "stride", where, "output.", required=True)
        if isinstance(stride, bool) or not isinstance(stride, (int, float)) or stride <= 0:
            raise _err(where, "output.stride", f"must be a positive number, got {stride!r}")
        out = OutputSpec(
            kind=kind, name=oname,
            layout=_choice(_get(o, "layout", where, "output.", required=True), _LAYOUTS_HM, where, "output.layout"),
            stride=float(stride) if not isinstance(stride, int) else stride,
        )
    else:
        vpk = _posint(_get(o, "values_per_keypoint", where, "output.", required=True), where,
                      "output.values_per_keypoint")
        if vpk < 2:
            raise _err(where, "output.values_per_keypoint", f"must be at least 2 (x and y), got {vpk}")
        sidx = o.get("score_index")
        if sidx is not None:
            sidx = _posint(sidx, where, "output.score_index", allow_zero=True)
            if sidx < 2 or sidx >= vpk:
                raise _err(where, "output.score_index",
                           f"must be in 2..{vpk - 1} (values 0 and 1 are the coordinates), got {sidx}")
        out = OutputSpec(
            kind=kind, name=oname,
            coords=_choice(_get(o, "coords", where, "output.", required=True), _COORDS, where, "output.coords"),
            order=_choice(_get(o, "order", where, "output.", required=True), _ORDERS, where, "output.order"),
            values_per_keypoint=vpk,
            score_index=sidx,
            score_activation=_choice(o.get("score_activation", "none"), _ACTIVATIONS, where,
                                     "output.score_activation"),
        )

    # keypoints
    k = _get(obj, "keypoints", where, "", required=True)
    if not isinstance(k, Mapping):
        raise _err(where, "keypoints", "must be an object")
    _check_keys(k, {"num", "names", "dataset_map"}, where, "keypoints.")
    num = _posint(_get(k, "num", where, "keypoints.", required=True), where, "keypoints.num")
    names = k.get("names")
    if names is not None:
        if not isinstance(names, (list, tuple)) or len(names) != num or not all(isinstance(s, str) for s in names):
            raise _err(where, "keypoints.names", f"must be null or a list of {num} strings")
        names = tuple(names)
    dmap_raw = _get(k, "dataset_map", where, "keypoints.", required=True)
    if not isinstance(dmap_raw, Mapping) or not dmap_raw:
        raise _err(where, "keypoints.dataset_map", "must be a non-empty object such as {\"coco\": [0, ..., 16]}")
    dmap: dict[str, tuple[int, ...]] = {}
    for ds, idx in dmap_raw.items():
        f = f"keypoints.dataset_map.{ds}"
        if ds not in DATASET_KEYPOINTS:
            raise _err(where, f, f"names an unknown keypoint set (known: {', '.join(DATASET_KEYPOINTS)})")
        if not isinstance(idx, (list, tuple)) or len(idx) != DATASET_KEYPOINTS[ds]:
            raise _err(where, f, f"must list {DATASET_KEYPOINTS[ds]} model indices, one per {ds} keypoint")
        for j in idx:
            if isinstance(j, bool) or not isinstance(j, int) or not 0 <= j < num:
                raise _err(where, f, f"has index {j!r}, outside the model's 0..{num - 1}")
        dmap[ds] = tuple(idx)

    # flip pairs
    fp_raw = obj.get("flip_pairs", [])
    if not isinstance(fp_raw, (list, tuple)):
        raise _err(where, "flip_pairs", "must be a list of [a, b] pairs")
    fps: list[tuple[int, int]] = []
    seen: set[int] = set()
    for p in fp_raw:
        if (not isinstance(p, (list, tuple)) or len(p) != 2
                or not all(isinstance(j, int) and not isinstance(j, bool) and 0 <= j < num for j in p)
                or p[0] == p[1]):
            raise _err(where, "flip_pairs", f"entry {p!r} must be two distinct model indices in 0..{num - 1}")
        if p[0] in seen or p[1] in seen:
            raise _err(where, "flip_pairs", f"entry {list(p)!r} reuses a keypoint already in another pair")
        seen.update(p)
        fps.append((int(p[0]), int(p[1])))

    return ModelSpec(name=name, input=inp, output=out, keypoints=KeypointSpec(num=num, dataset_map=dmap, names=names),
                     flip_pairs=tuple(fps), extra=extra)


def load_spec_file(path: str | os.PathLike) -> ModelSpec:
    """Read a sidecar spec JSON file."""
    p = Path(path)
    try:
        text = p.read_bytes()
    except FileNotFoundError:
        raise UserError(f"model spec file not found: {p}") from None
    except OSError as exc:
        raise UserError(f"cannot read model spec file {p}: {exc.strerror or exc}") from None
    return parse_spec(text, source=str(p))


def coerce_spec(spec: ModelSpec | Mapping[str, Any] | str | bytes) -> ModelSpec:
    return spec if isinstance(spec, ModelSpec) else parse_spec(spec)


# ----------------------------------------------------------------------------------------------
# building and embedding (used by exporters, e.g. the AdvMix trainer)


def heatmap_model_spec(
    name: str,
    height: int,
    width: int,
    dataset: str = "coco",
    stride: int = 4,
    *,
    mean: tuple[float, float, float] = IMAGENET_MEAN,
    std: tuple[float, float, float] = IMAGENET_STD,
    input_name: str | None = None,
    output_name: str | None = None,
) -> ModelSpec:
    """The spec of an HRNet-style heatmap model (NCHW float32 RGB in, NKHW heatmaps out).

    ``dataset`` is 'coco' (17 keypoints, also OCHuman) or 'mpii' (16): the model's keypoints are the
    dataset's keypoints in order, with the dataset's standard flip pairs.
    """
    if dataset not in DATASET_KEYPOINTS:
        raise ValueError(f"dataset must be one of {', '.join(DATASET_KEYPOINTS)}, got {dataset!r}")
    n = DATASET_KEYPOINTS[dataset]
    names = COCO_KEYPOINT_NAMES if dataset == "coco" else MPII_KEYPOINT_NAMES
    pairs = COCO_FLIP_PAIRS if dataset == "coco" else MPII_FLIP_PAIRS
    return ModelSpec(
        name=name,
        input=InputSpec(height=height, width=width, layout="NCHW", dtype="float32", channel_order="RGB",
                        mean=tuple(map(float, mean)), std=tuple(map(float, std)), name=input_name),
        output=OutputSpec(kind="heatmaps", name=output_name, layout="NKHW", stride=stride),
        keypoints=KeypointSpec(num=n, dataset_map={dataset: tuple(range(n))}, names=tuple(names)),
        flip_pairs=pairs,
    )


def embed_spec_onnx(model: Any, spec: ModelSpec | Mapping[str, Any]) -> Any:
    """Set the spec in an ``onnx.ModelProto``'s metadata_props (replacing any old one); returns the model."""
    spec = coerce_spec(spec)
    props = model.metadata_props
    for i in reversed(range(len(props))):
        if props[i].key == ONNX_METADATA_KEY:
            del props[i]
    entry = props.add()
    entry.key = ONNX_METADATA_KEY
    entry.value = spec.to_json()
    return model


def embed_spec_onnx_file(path: str | os.PathLike, spec: ModelSpec | Mapping[str, Any]) -> None:
    """Embed the spec into an ONNX file in place (atomic rewrite)."""
    import onnx

    from ..atomic import atomic_write_bytes

    model = onnx.load(str(path))
    embed_spec_onnx(model, spec)
    atomic_write_bytes(path, model.SerializeToString())


def torchscript_extra_files(spec: ModelSpec | Mapping[str, Any]) -> dict[str, bytes]:
    """The ``_extra_files`` argument for ``torch.jit.save`` that embeds the spec."""
    return {TORCHSCRIPT_EXTRA_FILE: coerce_spec(spec).to_json().encode("utf-8")}
