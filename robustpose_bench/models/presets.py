"""Built-in model specs for popular families, read off the model's own tensor shapes.

``--spec NAME`` takes a preset instead of a JSON file, so nobody hand-writes JSON for a YOLO-pose,
RTMO, RTMPose, HRNet or SimpleBaseline export. A preset fixes each family's conventions (channel
order, normalisation, resizing, output layout, flip pairs) and reads the sizes (input height and
width, keypoint count, heatmap stride, SimCC split ratio) from the model's declared shapes; when the
shapes do not fit the family, it fails naming the expected and the actual shapes. ``list specs``
lists them, ``inspect MODEL`` tries them all (timm-style explicit registry: ``PRESETS``).

Conventions, from each family's official code:

- ``yolo-pose``: ultralytics exports take RGB in [0, 1] (``/255``), letterboxed centred with 114 grey.
- ``rtmo``: mmpose's RTMO config has ``mean=[0,0,0], std=[1,1,1]`` and no ``bgr_to_rgb``: raw BGR
  0..255; its evaluation pipeline resizes with ``BottomupResize`` (a centred affine warp, pad 114);
  ``rtmo-rtmlib``: the same, letterboxed top-left with 114 grey as rtmlib does.
- ``rtmpose``: mmpose's RTMPose configs use ImageNet mean/std with ``bgr_to_rgb=True`` (RGB);
  SimCC vectors ``simcc_x`` / ``simcc_y``; mmpose's crop geometry (``input.crop: mmpose``).
- ``hrnet`` / ``simplebaseline``: HRNet's repository feeds RGB to its HRNet configs
  (``COLOR_RGB: true``) and BGR to its ResNet (SimpleBaseline) configs (``COLOR_RGB: false``); both
  ImageNet mean/std; heatmaps at stride 4.
- ``higherhrnet`` / ``higherhrnet-640``: HigherHRNet's ``tools/valid.py`` feeds RGB with ImageNet
  mean/std, each image resized so its short side is the config's ``INPUT_SIZE`` (512 for W32-512,
  640 for W32-640 and W48-640) and its long side a multiple of 64; the model's two outputs are
  ``[N, 34, H/4, W/4]`` (17 heatmaps + 17 tags) and ``[N, 17, H/2, W/2]``; the grouping settings are
  its COCO test config's. The input must have dynamic H and W; the size is the preset's, because a
  dynamic export does not record it.
- ``movenet``, ``blazepose``: the two models in ../shared (docs/model_spec.md worked examples 1 and 2).
"""
from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Callable

from ..errors import UserError
from .spec import (
    COCO_FLIP_PAIRS,
    COCO_KEYPOINT_NAMES,
    IMAGENET_MEAN,
    IMAGENET_STD,
    SPEC_FORMAT,
    ModelSpec,
    dataset_keypoints,
    parse_spec,
)

Shape = list  # of int | None


@dataclass(frozen=True)
class ModelIO:
    """A model's declared tensors: inputs (name, shape, dtype) and outputs (name, shape)."""

    format: str
    inputs: list[tuple[str, Shape, str | None]]
    outputs: list[tuple[str, Shape]]

    def output(self, name: str) -> tuple[str, Shape] | None:
        return next((o for o in self.outputs if o[0] == name), None)


@dataclass(frozen=True)
class Preset:
    name: str
    family: str
    description: str
    build: Callable[[ModelIO, str], dict]

    def spec(self, io: ModelIO, model_name: str) -> ModelSpec:
        return parse_spec(self.build(io, model_name), source=f"preset {self.name}")


PRESETS: dict[str, Preset] = {}


def _register(name: str, family: str, description: str):
    def deco(fn: Callable[[ModelIO, str], dict]) -> Callable[[ModelIO, str], dict]:
        PRESETS[name] = Preset(name, family, description, fn)
        return fn
    return deco


def list_presets(pattern: str = "*") -> list[Preset]:
    return [p for n, p in PRESETS.items() if fnmatch.fnmatchcase(n, pattern)]


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise UserError(f"unknown spec preset {name!r} (see `robustpose-bench list specs`)")
    return PRESETS[name]


# ----------------------------------------------------------------------------------------------
# shape helpers: every failure names the expected and the actual shape


def _fmt(shape: Shape) -> str:
    return "[" + ",".join("?" if d is None else str(d) for d in shape) + "]"


def _fail(preset: str, what: str, expected: str, name: str, shape: Shape) -> UserError:
    return UserError(f"preset {preset}: expected {what} {expected}, but the model's '{name}' has shape {_fmt(shape)}")


def _image_input(io: ModelIO, preset: str, layout: str, dtype: str) -> tuple[str, int, int]:
    """(name, height, width) of the model's image input, which must have static H and W."""
    if io.format != "onnx" or not io.inputs or all(d is None for d in io.inputs[0][1]):
        raise UserError(f"preset {preset} reads the input size from the model's declared shapes, which a "
                        f"{io.format} file does not declare; write a spec file instead (`robustpose-bench inspect "
                        "MODEL` prints a skeleton)")
    name, shape, dt = io.inputs[0]
    want = "[N,3,H,W]" if layout == "NCHW" else "[N,H,W,3]"
    caxis, hw = (1, (2, 3)) if layout == "NCHW" else (3, (1, 2))
    if len(shape) != 4 or shape[caxis] not in (3, None):
        raise _fail(preset, f"a {layout} image input", want, name, shape)
    h, w = shape[hw[0]], shape[hw[1]]
    if h is None or w is None:
        raise _fail(preset, "an input with a fixed height and width", want, name, shape)
    if dt is not None and dt != dtype:
        raise UserError(f"preset {preset}: expected a {dtype} input, but the model's '{name}' is {dt}")
    return name, h, w


def _coco_keypoints(num: int, preset: str, where: str) -> dict:
    """The keypoints section for a model whose first 17 keypoints are COCO's (COCO, Halpe, WholeBody)."""
    pairs = _FLIP_PAIRS_BY_COUNT.get(num)
    if pairs is None:
        raise UserError(f"preset {preset}: {where} has {num} keypoints; expected 17 (COCO), 26 (Halpe) or 133 "
                        "(COCO-WholeBody), whose first 17 are COCO's; write a spec file for other keypoint sets")
    return {"keypoints": {"num": num, "names": list(COCO_KEYPOINT_NAMES) if num == 17 else None,
                          "dataset_map": {"coco": list(range(17))}},
            "flip_pairs": [list(p) for p in pairs]}


def _wholebody_pairs() -> tuple[tuple[int, int], ...]:
    """COCO-WholeBody's left/right pairs (mmpose coco_wholebody.py): body, feet, face (68), hands."""
    feet = [(17, 20), (18, 21), (19, 22)]
    face68 = [(0, 16), (1, 15), (2, 14), (3, 13), (4, 12), (5, 11), (6, 10), (7, 9), (17, 26), (18, 25),
              (19, 24), (20, 23), (21, 22), (31, 35), (32, 34), (36, 45), (37, 44), (38, 43), (39, 42),
              (40, 47), (41, 46), (48, 54), (49, 53), (50, 52), (55, 59), (56, 58), (60, 64), (61, 63),
              (65, 67)]
    face = [(23 + a, 23 + b) for a, b in face68]
    hands = [(91 + i, 112 + i) for i in range(21)]
    return tuple(COCO_FLIP_PAIRS) + tuple(feet) + tuple(face) + tuple(hands)


_FLIP_PAIRS_BY_COUNT: dict[int, tuple[tuple[int, int], ...]] = {
    17: COCO_FLIP_PAIRS,
    # Halpe-26: 17 head, 18 neck, 19 hip, then left/right big toe, small toe, heel
    26: COCO_FLIP_PAIRS + ((20, 21), (22, 23), (24, 25)),
    133: _wholebody_pairs(),
}


def _spec(name: str, preset: str, pipeline: str, inp: dict, out: dict, kps: dict) -> dict:
    d = {"format": SPEC_FORMAT, "name": name, "input": inp, "output": out, "x_preset": preset}
    if pipeline != "topdown":
        d["pipeline"] = pipeline
    d.update(kps)
    return d


# ----------------------------------------------------------------------------------------------
# the presets


@_register("yolo-pose", "one-stage", "ultralytics YOLO-pose ONNX export: images [1,3,H,W] RGB/255, letterbox "
           "centred (pad 114) -> output0 [1,4+1+3K,A]; conf 0.001, IoU 0.7, max_det 300")
def _yolo_pose(io: ModelIO, name: str) -> dict:
    in_name, h, w = _image_input(io, "yolo-pose", "NCHW", "float32")
    out_name, shape = io.outputs[0]
    c = shape[1] if len(shape) == 3 else None
    # anchors: one per cell of the stride 8, 16, 32 maps (and 64 for the P6 models)
    anchors = {sum((h // s) * (w // s) for s in strides) for strides in ((8, 16, 32), (8, 16, 32, 64))}
    if c is None or (c - 5) % 3 or c <= 5 or shape[2] not in anchors | {None}:
        raise _fail("yolo-pose", "its first output", f"[N, 4 + 1 + 3K, anchors] (box, one class, K x (x, y, v); "
                    f"{' or '.join(map(str, sorted(anchors)))} anchors for a {h}x{w} input)", out_name, shape)
    k = (c - 5) // 3
    return _spec(name, "yolo-pose", "onestage",
                 {"name": in_name, "height": h, "width": w, "layout": "NCHW", "dtype": "float32",
                  "channel_order": "RGB", "mean": [0, 0, 0], "std": [255, 255, 255],
                  "resize": "letterbox", "align": "center", "pad_value": 114},
                 {"kind": "yolo-pose", "name": out_name, "num_classes": 1, "values_per_keypoint": 3,
                  "score_thr": 0.001, "iou_thr": 0.7, "max_det": 300},
                 _coco_keypoints(k, "yolo-pose", f"output '{out_name}' {_fmt(shape)}"))


def _pick(io: ModelIO, wanted: str, rank: int, preset: str, expected: str,
          exclude: str | None = None) -> tuple[str, Shape]:
    """The output named ``wanted``, else the first one of rank ``rank`` (other than ``exclude``)."""
    o = io.output(wanted)
    if o is None:
        o = next((x for x in io.outputs if len(x[1]) == rank and x[0] != exclude), None)
    if o is None:
        shapes = ", ".join(f"'{n}' {_fmt(s)}" for n, s in io.outputs)
        raise UserError(f"preset {preset}: expected an output {expected} (named '{wanted}'), but the model's outputs "
                        f"are {shapes}")
    return o


def _rtmo_preset(preset: str, resize: dict) -> Callable[[ModelIO, str], dict]:
    """RTMO's two protocols differ only in the input geometry: mmpose's evaluation (``BottomupResize``,
    the one behind mmpose's published tables) or rtmlib's letterbox (what rtmlib users get)."""
    def build(io: ModelIO, name: str) -> dict:
        in_name, h, w = _image_input(io, preset, "NCHW", "float32")
        dname, dshape = _pick(io, "dets", 3, preset, "dets [N, P, 5]")
        if dshape[2] not in (5, None):
            raise _fail(preset, "the output dets", "[N, P, 5]", dname, dshape)
        kname, kshape = _pick(io, "keypoints", 4, preset, "keypoints [N, P, K, 3]", exclude=dname)
        if kshape[3] not in (3, None) or kshape[2] is None:
            raise _fail(preset, "keypoints", "[N, P, K, 3]", kname, kshape)
        if resize["resize"] == "bottomup" and (h % 32 or w % 32):
            raise _fail(preset, "an input size that is a multiple of 32 (mmpose's BottomupResize)", "[1,3,H,W]",
                        in_name, io.inputs[0][1])
        return _spec(name, preset, "onestage",
                     {"name": in_name, "height": h, "width": w, "layout": "NCHW", "dtype": "float32",
                      "channel_order": "BGR", "mean": [0, 0, 0], "std": [1, 1, 1], **resize, "pad_value": 114},
                     {"kind": "persons", "dets_name": dname, "keypoints_name": kname, "score_thr": 0.0,
                      "iou_thr": None},
                     _coco_keypoints(kshape[2], preset, f"output '{kname}' {_fmt(kshape)}"))
    return build


_register("rtmo", "one-stage", "RTMO end-to-end export (mmdeploy / rtmlib), mmpose's evaluation protocol: input "
          "[1,3,H,W] BGR 0..255, BottomupResize (centred affine, pad 114) -> dets [1,P,5] + keypoints [1,P,K,3]; "
          "every returned person kept")(_rtmo_preset("rtmo", {"resize": "bottomup"}))
_register("rtmo-rtmlib", "one-stage", "RTMO as rtmlib runs it: as rtmo, but letterboxed to the top-left corner "
          "(rtmlib's RTMO preprocessing)")(_rtmo_preset("rtmo-rtmlib", {"resize": "letterbox", "align": "top-left"}))


@_register("rtmpose", "top-down", "RTMPose / RTMW / DWPose (mmpose, mmdeploy, rtmlib): input [N,3,H,W] RGB, "
           "ImageNet mean/std -> simcc_x [N,K,W*r], simcc_y [N,K,H*r]; score = min of the two maxima (mmpose)")
def _rtmpose(io: ModelIO, name: str) -> dict:
    in_name, h, w = _image_input(io, "rtmpose", "NCHW", "float32")
    xname, xs = _pick(io, "simcc_x", 3, "rtmpose", "simcc_x [N, K, W*r]")
    yname, ys = _pick(io, "simcc_y", 3, "rtmpose", "simcc_y [N, K, H*r]", exclude=xname)
    if xs[2] is None or ys[2] is None or xs[1] is None:
        raise _fail("rtmpose", "simcc_x with fixed sizes", "[N, K, W*r]", xname, xs)
    rx, ry = xs[2] / w, ys[2] / h
    if rx != ry:
        raise UserError(f"preset rtmpose: simcc_x {_fmt(xs)} and simcc_y {_fmt(ys)} imply split ratios {rx:g} "
                        f"(x, input width {w}) and {ry:g} (y, input height {h}); they must be equal")
    return _spec(name, "rtmpose", "topdown",
                 {"name": in_name, "height": h, "width": w, "layout": "NCHW", "dtype": "float32",
                  "channel_order": "RGB", "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD), "crop": "mmpose"},
                 {"kind": "simcc", "x_name": xname, "y_name": yname, "split_ratio": rx, "score": "min"},
                 _coco_keypoints(xs[1], "rtmpose", f"output '{xname}' {_fmt(xs)}"))


def _keypoint_sets_by_count() -> dict[int, str]:
    """Heatmap channels -> the registered keypoint set with that many keypoints (the dataset cards';
    the first card wins a tie), e.g. 17 -> coco, 16 -> mpii, 14 -> crowdpose."""
    from ..datasets.cards import keypoint_sets

    out: dict[int, str] = {}
    for name, card in keypoint_sets().items():
        out.setdefault(card.num_keypoints, name)
    return out


def _heatmap_preset(preset: str, channel_order: str) -> Callable[[ModelIO, str], dict]:
    def build(io: ModelIO, name: str) -> dict:
        in_name, h, w = _image_input(io, preset, "NCHW", "float32")
        out_name, shape = io.outputs[0]
        if len(shape) != 4 or None in shape[1:]:
            raise _fail(preset, "its first output", "heatmaps [N, K, H/4, W/4]", out_name, shape)
        k, hh, ww = shape[1], shape[2], shape[3]
        if h % hh or w % ww or h // hh != w // ww:
            raise _fail(preset, "heatmaps at one integer stride of the input "
                        f"{h}x{w}", "[N, K, H/s, W/s]", out_name, shape)
        by_count = _keypoint_sets_by_count()
        dataset = by_count.get(k)
        if dataset is None:
            counts = " or ".join(f"{n} ({name})" for n, name in by_count.items())
            raise _fail(preset, f"{counts} heatmaps, one per keypoint of a registered dataset",
                        f"[N, {'|'.join(map(str, by_count))}, H/s, W/s]", out_name, shape)
        n, names, pairs = dataset_keypoints(dataset)
        return _spec(name, preset, "topdown",
                     {"name": in_name, "height": h, "width": w, "layout": "NCHW", "dtype": "float32",
                      "channel_order": channel_order, "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)},
                     {"kind": "heatmaps", "name": out_name, "layout": "NKHW", "stride": h // hh},
                     {"keypoints": {"num": n, "names": list(names), "dataset_map": {dataset: list(range(n))}},
                      "flip_pairs": [list(p) for p in pairs]})
    return build


_register("hrnet", "top-down", "HRNet (official configs, COLOR_RGB true): input [N,3,H,W] RGB, ImageNet mean/std "
          "-> heatmaps [N,K,H/s,W/s], K = a registered keypoint set's count (17 COCO, 16 MPII, ...)")(_heatmap_preset("hrnet", "RGB"))
_register("simplebaseline", "top-down", "SimpleBaseline ResNet (HRNet repo configs, COLOR_RGB false): input "
          "[N,3,H,W] BGR, ImageNet mean/std -> heatmaps [N,K,H/s,W/s]")(_heatmap_preset("simplebaseline", "BGR"))


@_register("movenet", "top-down", "MoveNet SinglePose (TF export): input [1,H,W,3] uint8 RGB -> [1,1,17,3] "
           "(y, x, score), normalised")
def _movenet(io: ModelIO, name: str) -> dict:
    in_name, h, w = _image_input(io, "movenet", "NHWC", "uint8")
    out_name, shape = io.outputs[0]
    if len(shape) != 4 or list(shape[1:]) != [1, 17, 3]:
        raise _fail("movenet", "its first output", "[1, 1, 17, 3]", out_name, shape)
    return _spec(name, "movenet", "topdown",
                 {"name": in_name, "height": h, "width": w, "layout": "NHWC", "dtype": "uint8", "channel_order": "RGB",
                  "mean": [0, 0, 0], "std": [1, 1, 1]},
                 {"kind": "keypoints", "name": out_name, "coords": "normalized", "order": "yx",
                  "values_per_keypoint": 3, "score_index": 2, "score_activation": "none"},
                 {**_coco_keypoints(17, "movenet", "the output"),
                  "flip_test": False})  # Google evaluates MoveNet without a flip test


_BLAZEPOSE_COCO = [0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28]
_BLAZEPOSE_PAIRS = [[1, 4], [2, 5], [3, 6], [7, 8], [9, 10], [11, 12], [13, 14], [15, 16], [17, 18],
                    [19, 20], [21, 22], [23, 24], [25, 26], [27, 28], [29, 30], [31, 32]]


@_register("blazepose", "top-down", "MediaPipe BlazePose landmark (lite/full/heavy): input [1,256,256,3] RGB "
           "in [0,1] -> Identity [1,195] = 39 x (x, y, z, visibility, presence) in pixels")
def _blazepose(io: ModelIO, name: str) -> dict:
    in_name, h, w = _image_input(io, "blazepose", "NHWC", "float32")
    out_name, shape = io.output("Identity") or io.outputs[0]
    if list(shape[1:]) != [195]:
        raise _fail("blazepose", "the landmark output", "[1, 195]", out_name, shape)
    return _spec(name, "blazepose", "topdown",
                 {"name": in_name, "height": h, "width": w, "layout": "NHWC", "dtype": "float32", "channel_order": "RGB",
                  "mean": [0, 0, 0], "std": [255, 255, 255]},
                 {"kind": "keypoints", "name": out_name, "coords": "pixel", "order": "xy", "values_per_keypoint": 5,
                  "score_index": 3, "score_activation": "sigmoid"},
                 {"keypoints": {"num": 39, "names": None, "dataset_map": {"coco": _BLAZEPOSE_COCO}},
                  "flip_pairs": _BLAZEPOSE_PAIRS,
                  "flip_test": False})  # MediaPipe runs BlazePose without a flip test



def _higherhrnet_preset(preset: str, size: int) -> Callable[[ModelIO, str], dict]:
    def build(io: ModelIO, name: str) -> dict:
        if io.format != "onnx" or not io.inputs:
            raise UserError(f"preset {preset} reads the model's outputs from its declared shapes, which a "
                            f"{io.format} file does not declare; write a spec file instead (`robustpose-bench inspect "
                            "MODEL` prints a skeleton)")
        in_name, shape, dt = io.inputs[0]
        if len(shape) != 4 or shape[1] not in (3, None) or shape[2] is not None or shape[3] is not None:
            raise _fail(preset, "an input with dynamic height and width (each image gets its own size)",
                        "[N,3,?,?]", in_name, shape)
        if dt is not None and dt != "float32":
            raise UserError(f"preset {preset}: expected a float32 input, but the model's '{in_name}' is {dt}")
        maps = [o for o in io.outputs if len(o[1]) == 4]
        by_channels = {o[1][1]: o for o in maps}
        if 34 in by_channels and 17 in by_channels:
            low, high = by_channels[34], by_channels[17]
        elif len(maps) >= 2 and maps[0][1][1] is None and maps[1][1][1] is None:
            low, high = maps[0], maps[1]  # channels not declared: the official forward's order (low, high)
        else:
            shapes = ", ".join(f"'{n}' {_fmt(s)}" for n, s in io.outputs)
            raise UserError(f"preset {preset}: expected two outputs, [N,34,H/4,W/4] (17 heatmaps + 17 tags) and "
                            f"[N,17,H/2,W/2] (17 heatmaps), but the model's outputs are {shapes}")
        return _spec(name, preset, "onestage",
                     {"name": in_name, "height": size, "width": size, "layout": "NCHW", "dtype": "float32",
                      "channel_order": "RGB", "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD),
                      "resize": "short-side-align64", "pad_value": 0},
                     {"kind": "associative-embedding", "low_name": low[0], "high_name": high[0],
                      "peak_thr": 0.1, "tag_thr": 1.0, "max_people": 30, "nms_kernel": 5},
                     _coco_keypoints(17, preset, "the model"))
    return build


_register("higherhrnet", "one-stage", "HigherHRNet W32-512 (official, dynamic H/W export): input [1,3,H,W] RGB, "
          "ImageNet mean/std, short side 512, long side a multiple of 64 -> [1,34,H/4,W/4] heatmaps + tags, "
          "[1,17,H/2,W/2] heatmaps; flip test, associative-embedding grouping")(_higherhrnet_preset("higherhrnet", 512))
_register("higherhrnet-640", "one-stage", "HigherHRNet W32-640 / W48-640: as higherhrnet, short side "
          "640")(_higherhrnet_preset("higherhrnet-640", 640))
