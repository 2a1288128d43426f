"""The model spec: how the evaluator feeds a pose model and reads its output.

A spec is a JSON object (format ``robustpose-model-spec/1``, see ``docs/model_spec.md``). It lives
either in a sidecar file or inside the model: ONNX ``metadata_props`` key ``robustpose_spec``, or a
TorchScript extra file ``robustpose_spec.json``; or it is built from the model's shapes by a preset
(``models/presets.py``). Parsing is strict and every error names the field, because a silently
mis-read model gives a plausible but wrong AP, which is worse than no AP.

Two pipelines:

- ``topdown`` (the default): one crop per person box; output kinds ``heatmaps``, ``keypoints``
  (coordinate regression) and ``simcc`` (RTMPose-style 1-D classification vectors);
- ``onestage``: the whole image in (letterboxed, or resized to a size of its own), a list of persons
  out; output kinds ``yolo-pose`` (ultralytics' raw head output, decoded with confidence filter and
  NMS), ``persons`` (end-to-end ``dets`` + ``keypoints`` tensors, as RTMO and mmdeploy's end2end
  exports give) and ``associative-embedding`` (HigherHRNet's heatmaps and tags, grouped into persons).

Each output kind has its own field table (``OUTPUT_KINDS``); a field of another kind is accepted
and ignored (so one example can show several), an unknown field is an error.

This module has no heavy imports (no onnx / torch at import time): exporters (the trainer) import it
to build and embed specs, and ``robustpose-bench --help`` stays fast.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from ..datasets.cards import keypoint_sets as _keypoint_sets
from ..errors import UserError

SPEC_FORMAT = "robustpose-model-spec/1"
#: ONNX ``metadata_props`` key holding the spec JSON string.
ONNX_METADATA_KEY = "robustpose_spec"
#: TorchScript ``_extra_files`` name holding the spec JSON bytes.
TORCHSCRIPT_EXTRA_FILE = "robustpose_spec.json"

#: Keypoint sets of the registered datasets and their sizes, from the dataset cards
#: (``robustpose_bench/dataset_cards/``). OCHuman and synth use the COCO set.
DATASET_KEYPOINTS: dict[str, int] = {name: card.num_keypoints for name, card in _keypoint_sets().items()}

COCO_KEYPOINT_NAMES: tuple[str, ...] = _keypoint_sets()["coco"].keypoints
MPII_KEYPOINT_NAMES: tuple[str, ...] = _keypoint_sets()["mpii"].keypoints
#: HRNet's flip pairs (lib/dataset/coco.py and mpii.py), as the cards hold them.
COCO_FLIP_PAIRS: tuple[tuple[int, int], ...] = _keypoint_sets()["coco"].flip_pairs
MPII_FLIP_PAIRS: tuple[tuple[int, int], ...] = _keypoint_sets()["mpii"].flip_pairs
#: The MPII joint each COCO keypoint is, by name (COCO's face points and MPII's pelvis, thorax, upper
#: neck and head top have no counterpart).
COCO_TO_MPII_NAMES: dict[str, str] = {
    f"{side}_{part}": f"{side[0]}_{part}" for side in ("left", "right")
    for part in ("shoulder", "elbow", "wrist", "hip", "knee", "ankle")
}

#: ImageNet statistics on 0..255 pixels, as the trainer's heatmap models use.
IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)

#: Largest input side we accept: beyond it a spec is a typo, and allocating it would exhaust memory.
MAX_INPUT_SIDE = 8192

PIPELINES = ("topdown", "onestage")
_LAYOUTS_IN = ("NCHW", "NHWC")
_DTYPES = ("uint8", "float32")
_CHANNEL_ORDERS = ("RGB", "BGR")
#: One-stage resizes: a letterbox to the fixed input size, or HigherHRNet's per-image size (the short
#: side becomes the model's size, the long side a multiple of 64; ``letterbox.AlignedResize``).
_RESIZES = ("letterbox", "short-side-align64", "bottomup")
#: mmpose's BottomupResize pads the input to a multiple of its ``size_factor`` (32) and refuses other sizes.
BOTTOMUP_SIZE_FACTOR = 32
#: The ``bbox`` of each written person (``bbox``, see ``default_bbox``): the input box (top-down), the
#: model's own box (one-stage), the keypoints' extent (HigherHRNet), or none. pycocotools' ``loadRes``
#: takes a person's area from it.
BBOX_PROTOCOLS = ("input", "model", "keypoints", "none")
_CROPS = ("hrnet", "mmpose")
_ALIGNS = ("center", "top-left")


@dataclass(frozen=True)
class InputSpec:
    """How to turn an image (a crop, or the whole image for one-stage models) into the input tensor.

    ``crop`` applies to top-down models: ``hrnet`` (the default) is HRNet's crop geometry (centre
    and scale as float32 in 200-px units), ``mmpose`` mmpose's (float64 pixels; ``topdown.py``).
    ``resize``/``align``/``pad_value`` apply to one-stage models: ``letterbox`` keeps the aspect
    ratio and pads with ``pad_value``; ``align`` ``center`` is ultralytics' convention (centred,
    its rounding), ``top-left`` mmdet/rtmlib's (image at the top-left corner, sizes truncated).
    ``short-side-align64`` (HigherHRNet) gives every image its own input size: ``height`` and
    ``width`` are both the model's size (the short side), ``pad_value`` fills the rest (0, black).
    ``bottomup`` is mmpose's ``BottomupResize`` (RTMO's evaluation): a centred affine warp with a
    non-integer scale, ``pad_value`` (114) around it.
    """

    height: int
    width: int
    layout: str = "NCHW"
    dtype: str = "float32"
    channel_order: str = "RGB"
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    name: str | None = None
    crop: str | None = "hrnet"
    resize: str | None = None
    align: str | None = None
    pad_value: int | None = None


@dataclass(frozen=True)
class OutputSpec:
    """Which output(s) to read and what they hold; ``kind`` selects the codec and its fields.

    Fields that do not belong to ``kind`` are None (see ``OUTPUT_KINDS`` for each kind's fields).
    """

    kind: str
    name: str | None = None
    # heatmaps
    layout: str | None = None
    stride: float | None = None
    # keypoints (and yolo-pose: values_per_keypoint)
    coords: str | None = None
    order: str | None = None
    values_per_keypoint: int | None = None
    score_index: int | None = None
    score_activation: str | None = None
    # simcc
    x_name: str | None = None
    y_name: str | None = None
    split_ratio: float | None = None
    score: str | None = None
    # yolo-pose
    num_classes: int | None = None
    # one-stage person thresholds, one name each across kinds (OLD_OUTPUT_FIELDS: the older names)
    score_thr: float | None = None
    iou_thr: float | None = None
    max_det: int | None = None
    max_nms: int | None = None
    # persons (end-to-end dets + keypoints)
    dets_name: str | None = None
    keypoints_name: str | None = None
    nms_pixel_offset: int | None = None
    # associative-embedding (HigherHRNet)
    low_name: str | None = None
    high_name: str | None = None
    peak_thr: float | None = None
    tag_thr: float | None = None
    max_people: int | None = None
    nms_kernel: int | None = None

    @property
    def pipeline(self) -> str:
        return OUTPUT_KINDS[self.kind].pipeline

    def tensor_names(self) -> tuple[str | None, ...]:
        """The model outputs this kind reads, in the codec's order (None: the model's first output)."""
        return tuple(getattr(self, f) for f in OUTPUT_KINDS[self.kind].tensors)


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
    pipeline: str = "topdown"
    format: str = SPEC_FORMAT
    extra: dict[str, Any] = field(default_factory=dict)
    #: None = the family's protocol (``default_bbox``); set only when a spec asks for another
    bbox: str | None = None
    #: The flip test of the model's own protocol; None = the family's (top-down and HigherHRNet: on,
    #: as HRNet and the paper evaluate; YOLO-pose and RTMO: none). MoveNet and BlazePose: off, as
    #: their authors evaluate them. ``eval --flip / --no-flip`` overrides it.
    flip_test: bool | None = None

    @property
    def bbox_protocol(self) -> str:
        """Which box each written person carries: 'input', 'model' or 'none' (``default_bbox``)."""
        return self.bbox if self.bbox is not None else default_bbox(self.pipeline, self.input.crop, self.output.kind)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (what gets embedded or written as a sidecar); round-trips through parse_spec."""
        d = asdict(self)
        extra = d.pop("extra")
        if d["bbox"] is None:
            d.pop("bbox")  # the family's protocol: specs written before the field stay byte-identical
        if d["flip_test"] is None:
            d.pop("flip_test")  # likewise
        inp = d["input"]
        inp["mean"], inp["std"] = list(inp["mean"]), list(inp["std"])
        for k in ("crop", "resize", "align", "pad_value"):
            if inp[k] is None or (k == "crop" and inp[k] == "hrnet"):
                inp.pop(k)  # hrnet crops are the default: older specs stay byte-identical
        d["keypoints"]["dataset_map"] = {k: list(v) for k, v in d["keypoints"]["dataset_map"].items()}
        if d["keypoints"]["names"] is not None:
            d["keypoints"]["names"] = list(d["keypoints"]["names"])
        d["flip_pairs"] = [list(p) for p in d["flip_pairs"]]
        kind = OUTPUT_KINDS[self.output.kind]
        d["output"] = {k: v for k, v in d["output"].items() if k in kind.fields or k in ("kind", "name")}
        if self.pipeline == "topdown":
            d.pop("pipeline")  # the default: specs written before one-stage support stay byte-identical
        d.update(extra)
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    def dataset_indices(self, dataset_kps: str) -> tuple[int, ...]:
        """Model keypoint index for each keypoint of ``dataset_kps`` ('coco' or 'mpii'); -1 for an MPII
        joint the model lacks. A model mapped onto COCO only gets its MPII map by joint name
        (``mpii_map_from_coco``): scored on MPII-C as partial PCKh over the 12 joints both sets share."""
        dmap = self.keypoints.dataset_map
        if dataset_kps == "mpii" and "mpii" not in dmap and "coco" in dmap:
            return mpii_map_from_coco(dmap["coco"])
        try:
            return dmap[dataset_kps]
        except KeyError:
            have = ", ".join(sorted(dmap)) or "none"
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
# parsing helpers


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


def _posint(v: Any, where: str, fname: str, *, allow_zero: bool = False, maximum: int | None = None) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < (0 if allow_zero else 1):
        raise _err(where, fname, f"must be a {'non-negative' if allow_zero else 'positive'} integer, got {v!r}")
    if maximum is not None and v > maximum:
        raise _err(where, fname, f"must be at most {maximum}, got {v!r}")
    return v


def _number(v: Any, where: str, fname: str, *, lo: float | None = None, hi: float | None = None,
            lo_open: bool = False) -> float:
    """A finite number in [lo, hi] (``lo_open``: strictly above lo)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise _err(where, fname, f"must be a finite number, got {v!r}")
    if lo is not None and (v <= lo if lo_open else v < lo):
        raise _err(where, fname, f"must be {'>' if lo_open else '>='} {lo:g}, got {v!r}")
    if hi is not None and v > hi:
        raise _err(where, fname, f"must be <= {hi:g}, got {v!r}")
    return float(v)


def _triple(v: Any, where: str, fname: str, *, positive: bool) -> tuple[float, float, float]:
    if (
        not isinstance(v, (list, tuple)) or len(v) != 3
        or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v)
    ):
        raise _err(where, fname, f"must be a list of 3 numbers, got {v!r}")
    if not all(math.isfinite(x) for x in v):
        raise _err(where, fname, f"must be finite numbers (no NaN or infinity), got {v!r}")
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


# ----------------------------------------------------------------------------------------------
# output kinds: each kind's pipeline, tensors and fields (name -> (required, default, parser))

_Parser = Callable[[Any, str, str], Any]


def _p_choice(options: tuple[str, ...]) -> _Parser:
    return lambda v, where, f: _choice(v, options, where, f)


def _p_optname(v: Any, where: str, f: str) -> str | None:
    return _optname(v, where, f)


def _p_stride(v: Any, where: str, f: str) -> float | int:
    x = _number(v, where, f, lo=0.0, lo_open=True)
    return v if isinstance(v, int) else x


def _p_vpk(v: Any, where: str, f: str) -> int:
    n = _posint(v, where, f)
    if n < 2:
        raise _err(where, f, f"must be at least 2 (x and y), got {n}")
    return n


def _p_optint0(v: Any, where: str, f: str) -> int | None:
    return None if v is None else _posint(v, where, f, allow_zero=True)


def _p_prob(v: Any, where: str, f: str) -> float:
    return _number(v, where, f, lo=0.0, hi=1.0)


def _p_optprob(v: Any, where: str, f: str) -> float | None:
    return None if v is None else _p_prob(v, where, f)


def _p_posint(v: Any, where: str, f: str) -> int:
    return _posint(v, where, f)


def _p_ratio(v: Any, where: str, f: str) -> float:
    return _number(v, where, f, lo=0.0, lo_open=True, hi=64.0)


def _p_vpk23(v: Any, where: str, f: str) -> int:
    if isinstance(v, bool) or v not in (2, 3):
        raise _err(where, f, f"must be 2 (x, y) or 3 (x, y, visibility), got {v!r}")
    return int(v)


def _p_odd_kernel(v: Any, where: str, f: str) -> int:
    n = _posint(v, where, f, maximum=99)
    if n % 2 == 0:
        raise _err(where, f, f"must be an odd window size (padded by (k - 1) / 2 on each side), got {n}")
    return n


def _p_positive(v: Any, where: str, f: str) -> float:
    return _number(v, where, f, lo=0.0, lo_open=True)


def _p_offset(v: Any, where: str, f: str) -> int:
    if v not in (0, 1) or isinstance(v, bool):
        raise _err(where, f, f"must be 0 or 1, got {v!r}")
    return int(v)


@dataclass(frozen=True)
class OutputKind:
    """One output kind: which pipeline it belongs to, which fields name its tensors, its fields."""

    pipeline: str
    tensors: tuple[str, ...]
    fields: dict[str, tuple[bool, Any, _Parser]]


OUTPUT_KINDS: dict[str, OutputKind] = {
    "heatmaps": OutputKind("topdown", ("name",), {
        "layout": (True, None, _p_choice(("NKHW", "NHWK"))),
        "stride": (True, None, _p_stride),
    }),
    "keypoints": OutputKind("topdown", ("name",), {
        "coords": (True, None, _p_choice(("normalized", "pixel"))),
        "order": (True, None, _p_choice(("yx", "xy"))),
        "values_per_keypoint": (True, None, _p_vpk),
        "score_index": (False, None, _p_optint0),
        "score_activation": (False, "none", _p_choice(("none", "sigmoid"))),
    }),
    "simcc": OutputKind("topdown", ("x_name", "y_name"), {
        "x_name": (False, None, _p_optname),
        "y_name": (False, None, _p_optname),
        "split_ratio": (True, None, _p_ratio),
        # mmpose's SimCCLabel.decode takes the smaller of the two maxima; rtmlib takes their mean
        "score": (False, "min", _p_choice(("min", "mean"))),
    }),
    "yolo-pose": OutputKind("onestage", ("name",), {
        "num_classes": (False, 1, _p_posint),
        "values_per_keypoint": (False, 3, _p_vpk23),
        "score_thr": (False, 0.001, _p_prob),
        "iou_thr": (False, 0.7, _p_prob),
        "max_det": (False, 300, _p_posint),
        "max_nms": (False, 30000, _p_posint),
    }),
    "persons": OutputKind("onestage", ("dets_name", "keypoints_name"), {
        "dets_name": (False, None, _p_optname),
        "keypoints_name": (False, None, _p_optname),
        "score_thr": (False, 0.0, _p_prob),
        "iou_thr": (False, None, _p_optprob),
        "nms_pixel_offset": (False, 0, _p_offset),
        "max_det": (False, 300, _p_posint),
    }),
    # HigherHRNet's official test settings (TEST.* and DATASET.MAX_NUM_PEOPLE of its COCO configs)
    "associative-embedding": OutputKind("onestage", ("low_name", "high_name"), {
        "low_name": (False, None, _p_optname),
        "high_name": (False, None, _p_optname),
        "peak_thr": (False, 0.1, _p_prob),
        "tag_thr": (False, 1.0, _p_positive),
        "max_people": (False, 30, _p_posint),
        "nms_kernel": (False, 5, _p_odd_kernel),
    }),
}
_ALL_OUTPUT_FIELDS = {"name", "kind"} | {f for k in OUTPUT_KINDS.values() for f in k.fields}

#: Each kind's older threshold names -> today's. One threshold has one name across kinds, flags and
#: results: ``score_thr`` (a person's score must exceed it), ``iou_thr`` (box NMS, as eval's ``oks_thr``
#: is OKS NMS), ``peak_thr`` and ``tag_thr`` (HigherHRNet's TEST.DETECTION_THRESHOLD and TAG_THRESHOLD).
#: Specs written before (sidecars, and those embedded in exported models) are read with today's names,
#: and ``to_dict`` writes today's.
OLD_OUTPUT_FIELDS: dict[str, dict[str, str]] = {
    "yolo-pose": {"conf": "score_thr", "iou": "iou_thr"},
    "persons": {"nms_iou": "iou_thr"},
    "associative-embedding": {"detection_threshold": "peak_thr", "tag_threshold": "tag_thr"},
}


def _upgrade_output_names(o: Mapping, where: str) -> Mapping:
    """``o`` with its kind's older threshold names read as today's; both spellings at once is refused."""
    renames = OLD_OUTPUT_FIELDS.get(o.get("kind"), {}) if isinstance(o.get("kind"), str) else {}
    if not any(old in o for old in renames):
        return o
    out = dict(o)
    for old, new in renames.items():
        if old in out:
            if new in out:
                raise _err(where, f"output.{old}", f"is the older name of output.{new}; give only output.{new}")
            out[new] = out.pop(old)
    return out


def default_bbox(pipeline: str, crop: str | None, kind: str) -> str:
    """The ``bbox`` each family's reference writes into its COCO results.

    Top-down: mmpose writes the input box (``gt_instances.bboxes``, ``CocoMetric.results2json``);
    HRNet's ``_coco_keypoint_results_one_category_kernel`` writes centre and scale but no box, so an
    HRNet-crop model writes none. One-stage: ultralytics (``PoseValidator.pred_to_json``) and mmpose
    (RTMO) write the predicted box; HigherHRNet's grouping has no box, and its ``COCODataset.py``
    writes the extent of the 17 keypoints, whose area is the one ``loadRes`` computes without a box.
    """
    if pipeline == "topdown":
        return "input" if crop == "mmpose" else "none"
    return "keypoints" if kind == "associative-embedding" else "model"


def _parse_bbox(v: Any, where: str, pipeline: str, crop: str | None, kind: str) -> str | None:
    """The spec's ``bbox``; None when it is the family's own (so to_dict leaves it out)."""
    if v is None:
        return None
    allowed = ("input", "none") if pipeline == "topdown" else (
        ("keypoints", "none") if kind == "associative-embedding" else ("model", "keypoints", "none"))
    _choice(v, allowed, where, "bbox")
    return None if v == default_bbox(pipeline, crop, kind) else v


def _parse_output(o: Mapping, where: str, pipeline: str) -> OutputSpec:
    if not isinstance(o, Mapping):
        raise _err(where, "output", "must be an object")
    o = _upgrade_output_names(o, where)
    _check_keys(o, _ALL_OUTPUT_FIELDS, where, "output.")
    kind_name = _choice(_get(o, "kind", where, "output.", required=True), tuple(OUTPUT_KINDS), where, "output.kind")
    kind = OUTPUT_KINDS[kind_name]
    if kind.pipeline != pipeline:
        fitting = [k for k, v in OUTPUT_KINDS.items() if v.pipeline == pipeline]
        raise _err(where, "output.kind", f"{kind_name!r} is a {kind.pipeline} output, but pipeline is {pipeline!r} "
                                         f"(its kinds: {', '.join(fitting)})")
    values: dict[str, Any] = {"kind": kind_name, "name": _optname(o.get("name"), where, "output.name")}
    for fname, (required, default, parse) in kind.fields.items():
        raw = _get(o, fname, where, "output.", required=required, default=default)
        values[fname] = raw if (raw is None and not required) else parse(raw, where, f"output.{fname}")
    if kind_name == "keypoints" and values["score_index"] is not None:
        sidx, vpk = values["score_index"], values["values_per_keypoint"]
        if sidx < 2 or sidx >= vpk:
            raise _err(where, "output.score_index", f"must be in 2..{vpk - 1} (values 0 and 1 are the coordinates), "
                                                   f"got {sidx}")
    return OutputSpec(**values)


def _parse_input(i: Any, where: str, pipeline: str) -> InputSpec:
    if not isinstance(i, Mapping):
        raise _err(where, "input", "must be an object")
    _check_keys(i, {"name", "height", "width", "layout", "dtype", "channel_order", "mean", "std", "crop", "resize",
                    "align", "pad_value"}, where, "input.")
    resize = align = pad = crop = None
    if pipeline == "onestage":
        if "crop" in i:
            raise _err(where, "input.crop", "applies to top-down models (pipeline 'topdown') only")
        resize = _choice(i.get("resize", "letterbox"), _RESIZES, where, "input.resize")
        if resize == "bottomup" and "align" in i:
            raise _err(where, "input.align", "applies to resize 'letterbox' only (resize is 'bottomup', always centred)")
        if resize == "bottomup":
            for k in ("height", "width"):
                v = i.get(k)
                if isinstance(v, int) and not isinstance(v, bool) and v % BOTTOMUP_SIZE_FACTOR:
                    raise _err(where, f"input.{k}", f"must be a multiple of {BOTTOMUP_SIZE_FACTOR} with resize "
                                                    f"'bottomup' (mmpose's BottomupResize refuses others), got {v}")
        elif resize == "letterbox":
            align = _choice(_get(i, "align", where, "input.", required=True), _ALIGNS, where, "input.align")
        elif "align" in i:
            raise _err(where, "input.align", f"applies to resize 'letterbox' only (resize is {resize!r})")
        elif i.get("height") != i.get("width"):
            raise _err(where, "input.height", f"and input.width must both be the model's size (the short side) "
                                              f"with resize {resize!r}, got {i.get('height')!r} x {i.get('width')!r}")
        pad = _posint(i.get("pad_value", 0 if resize == "short-side-align64" else 114), where, "input.pad_value",
                      allow_zero=True, maximum=255)
    else:
        crop = _choice(i.get("crop", "hrnet"), _CROPS, where, "input.crop")
        for k in ("resize", "align", "pad_value"):
            if k in i:
                raise _err(where, f"input.{k}", "applies to one-stage models (pipeline 'onestage') only")
    return InputSpec(
        name=_optname(i.get("name"), where, "input.name"),
        height=_posint(_get(i, "height", where, "input.", required=True), where, "input.height", maximum=MAX_INPUT_SIDE),
        width=_posint(_get(i, "width", where, "input.", required=True), where, "input.width", maximum=MAX_INPUT_SIDE),
        layout=_choice(_get(i, "layout", where, "input.", required=True), _LAYOUTS_IN, where, "input.layout"),
        dtype=_choice(_get(i, "dtype", where, "input.", required=True), _DTYPES, where, "input.dtype"),
        channel_order=_choice(i.get("channel_order", "RGB"), _CHANNEL_ORDERS, where, "input.channel_order"),
        mean=_triple(i.get("mean", [0, 0, 0]), where, "input.mean", positive=False),
        std=_triple(i.get("std", [1, 1, 1]), where, "input.std", positive=True),
        crop=crop, resize=resize, align=align, pad_value=pad,
    )


def _parse_keypoints(k: Any, where: str) -> KeypointSpec:
    if not isinstance(k, Mapping):
        raise _err(where, "keypoints", "must be an object")
    _check_keys(k, {"num", "names", "dataset_map"}, where, "keypoints.")
    num = _posint(_get(k, "num", where, "keypoints.", required=True), where, "keypoints.num", maximum=10000)
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
            # A user's dataset card's keypoint set (a model trained on it, ``train --dataset-card``): the
            # model's keypoints are that set, so they are named and the map is 0..num-1.
            own = names is not None and isinstance(idx, (list, tuple)) and list(idx) == list(range(num))
            if not own:
                raise _err(where, f, f"names an unknown keypoint set (known: {', '.join(DATASET_KEYPOINTS)}; "
                                     "another set maps only a model whose keypoints it is: keypoints.names "
                                     f"given and the map 0..{num - 1})")
            dmap[ds] = tuple(idx)
            continue
        if not isinstance(idx, (list, tuple)) or len(idx) != DATASET_KEYPOINTS[ds]:
            raise _err(where, f, f"must list {DATASET_KEYPOINTS[ds]} model indices, one per {ds} keypoint")
        for j in idx:
            if isinstance(j, bool) or not isinstance(j, int) or not -1 <= j < num:
                raise _err(where, f, f"has index {j!r}, outside the model's 0..{num - 1}"
                                     + (" (or -1 for a joint the model lacks)" if ds == "mpii" else ""))
            if j == -1 and ds != "mpii":
                raise _err(where, f, f"has -1, but every {ds} keypoint needs a model index (-1, a joint the "
                                     "model lacks, is for mpii only: partial PCKh; COCO AP needs all 17)")
        if all(j == -1 for j in idx):
            raise _err(where, f, "is all -1: the model has none of these keypoints")
        dmap[ds] = tuple(idx)
    return KeypointSpec(num=num, dataset_map=dmap, names=names)


def _parse_flip_pairs(fp_raw: Any, num: int, where: str) -> tuple[tuple[int, int], ...]:
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
    return tuple(fps)


def parse_spec(obj: Mapping[str, Any] | str | bytes, source: str | None = None) -> ModelSpec:
    """Parse and check a spec (a dict, or its JSON text). ``source`` names where it came from.

    Unknown top-level fields must start with ``x_`` (kept as ``extra``); unknown nested fields are
    rejected, so a typo such as ``"chanel_order"`` fails instead of being silently ignored.
    """
    where = f" ({source})" if source else ""
    if isinstance(obj, (str, bytes)):
        try:
            obj = json.loads(obj)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise UserError(f"model spec{where}: not valid JSON ({exc})") from None
    if not isinstance(obj, Mapping):
        raise UserError(f"model spec{where}: must be a JSON object, got {type(obj).__name__}")
    top = {"format", "name", "pipeline", "input", "output", "keypoints", "flip_pairs", "bbox", "flip_test"}
    extra = {k: v for k, v in obj.items() if k not in top and isinstance(k, str) and k.startswith("x_")}
    _check_keys({k: v for k, v in obj.items() if k not in extra}, top, where, "")
    fmt = _get(obj, "format", where, "", required=True)
    if fmt != SPEC_FORMAT:
        raise _err(where, "format", f"must be {SPEC_FORMAT!r}, got {fmt!r}")
    name = _get(obj, "name", where, "", required=True)
    if not isinstance(name, str) or not name:
        raise _err(where, "name", f"must be a non-empty string, got {name!r}")
    pipeline = _choice(obj.get("pipeline", "topdown"), PIPELINES, where, "pipeline")
    inp = _parse_input(_get(obj, "input", where, "", required=True), where, pipeline)
    out = _parse_output(_get(obj, "output", where, "", required=True), where, pipeline)
    kps = _parse_keypoints(_get(obj, "keypoints", where, "", required=True), where)
    fps = _parse_flip_pairs(obj.get("flip_pairs", []), kps.num, where)
    bbox = _parse_bbox(obj.get("bbox"), where, pipeline, inp.crop, out.kind)
    flip_test = obj.get("flip_test")
    if flip_test is not None and not isinstance(flip_test, bool):
        raise _err(where, "flip_test", f"must be true, false or null (the family's protocol), got {flip_test!r}")
    if flip_test and not fps:
        raise _err(where, "flip_test", "is true but flip_pairs is empty: the flip test needs the left/right pairs")
    return ModelSpec(name=name, input=inp, output=out, keypoints=kps, flip_pairs=fps, pipeline=pipeline, extra=extra,
                     bbox=bbox, flip_test=flip_test)


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
# building and embedding (used by exporters, e.g. the AdvMix trainer, and by the presets)


def dataset_keypoints(dataset: str) -> tuple[int, tuple[str, ...], tuple[tuple[int, int], ...]]:
    """(number, names, flip pairs) of a registered keypoint set ('coco', 'mpii', ...), from its card."""
    sets = _keypoint_sets()
    if dataset not in sets:
        raise ValueError(f"dataset must be one of {', '.join(sets)}, got {dataset!r}")
    card = sets[dataset]
    return card.num_keypoints, card.keypoints, card.flip_pairs


def mpii_map_from_coco(coco_map: tuple[int, ...]) -> tuple[int, ...]:
    """The MPII map of a model mapped onto COCO: each MPII joint's COCO counterpart by name
    (``COCO_TO_MPII_NAMES``, e.g. COCO left_ankle -> MPII l_ankle), -1 for the four MPII joints COCO
    lacks."""
    by_mpii = {mpii: coco_map[COCO_KEYPOINT_NAMES.index(coco)] for coco, mpii in COCO_TO_MPII_NAMES.items()}
    return tuple(by_mpii.get(name, -1) for name in MPII_KEYPOINT_NAMES)


def heatmap_model_spec(
    name: str,
    height: int,
    width: int,
    dataset: str = "coco",
    stride: int = 4,
    *,
    mean: tuple[float, float, float] = IMAGENET_MEAN,
    std: tuple[float, float, float] = IMAGENET_STD,
    channel_order: str = "RGB",
    input_name: str | None = None,
    output_name: str | None = None,
    keypoint_names: tuple[str, ...] | None = None,
    flip_pairs: tuple[tuple[int, int], ...] | None = None,
) -> ModelSpec:
    """The spec of an HRNet-style heatmap model (NCHW float32 in, NKHW heatmaps out).

    ``dataset`` is a keypoint set: a registered one ('coco', 17 keypoints, also OCHuman; 'mpii', 16;
    'crowdpose', 14), whose names and flip pairs the model's keypoints are, in order; or, with
    ``keypoint_names`` and ``flip_pairs`` given (a user's dataset card), any set name.
    """
    if keypoint_names is None:
        n, names, pairs = dataset_keypoints(dataset)
    else:
        n, names, pairs = len(keypoint_names), tuple(keypoint_names), tuple(flip_pairs or ())
    return ModelSpec(
        name=name,
        input=InputSpec(height=height, width=width, layout="NCHW", dtype="float32", channel_order=channel_order,
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
