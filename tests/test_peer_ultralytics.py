"""ultralytics as the oracle for YOLO-pose: letterbox preprocessing, decoding, NMS and rescaling.

ultralytics is too heavy (and too eager to reach the network) for the test extra, so its answers were
recorded once by the committed script tests/fixtures/ultralytics_yolo_pose/record.py (its README says
how, with which versions, and every convention observed). These tests rebuild each input (the shared
images, or numpy-generated tensors and images from ``synthetic.py``, whose sha256 is checked first)
and compare our pipeline with ultralytics' recorded outputs, bit for bit.
"""
from __future__ import annotations

import itertools
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from robustpose_bench.codecs.yolo_pose import YoloPoseCodec
from robustpose_bench.evaluation import letterbox_input, read_image_bgr
from robustpose_bench.letterbox import make_letterbox
from robustpose_bench.models.spec import parse_spec

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "ultralytics_yolo_pose"
sys.path.insert(0, str(FIXTURE))
import synthetic  # noqa: E402


def yolo_spec(h: int, w: int, conf: float = 0.001, iou: float = 0.7, max_det: int = 300):
    """The yolo-pose preset's spec for an h x w input."""
    return parse_spec({
        "format": "robustpose-model-spec/1", "name": "yolo", "pipeline": "onestage",
        "input": {"height": h, "width": w, "layout": "NCHW", "dtype": "float32", "channel_order": "RGB",
                  "mean": [0, 0, 0], "std": [255, 255, 255], "resize": "letterbox", "align": "center",
                  "pad_value": 114},
        "output": {"kind": "yolo-pose", "name": "output0", "conf": conf, "iou": iou, "max_det": max_det},
        "keypoints": {"num": 17, "dataset_map": {"coco": list(range(17))}}})


def load(name: str) -> dict:
    return json.loads((FIXTURE / name).read_text())


def letterbox_images(shared_dir: Path):
    for entry in load("letterbox.json")["images"]:
        if "file" in entry:
            path = shared_dir / entry["file"]
            img = read_image_bgr(path)
            assert synthetic.array_sha256(img) == entry["decoded_bgr_sha256"], entry["file"]
            yield entry["file"], img, entry
        else:
            img = synthetic.make_image(entry["synthetic"])
            assert synthetic.array_sha256(img) == entry["image_sha256"], entry["synthetic"]["name"]
            yield entry["synthetic"]["name"], img, entry


def test_letterbox_and_input_tensor_equal_ultralytics_predictor(shared_dir):
    """25 real and 8 synthetic images (1x3000, 5x1280, ...) x (640x640, 320x320, 384x640): the same
    resized size, padding split, padded pixels and float32 model input as ultralytics' predictor."""
    checked = 0
    for name, img, entry in letterbox_images(shared_dir):
        for t in entry["per_target"]:
            h, w = t["target_hw"]
            lb = make_letterbox(img.shape[:2], (h, w), "center")
            assert [*lb.new_wh] == t["new_unpad_wh"], (name, t["target_hw"])
            assert (lb.top, lb.bottom, lb.left, lb.right) == (t["top"], t["bottom"], t["left"], t["right"]), name
            assert synthetic.array_sha256(lb.apply(img, 114)) == t["letterboxed_bgr_uint8_sha256"], name
            x, _ = letterbox_input(img, yolo_spec(h, w))
            assert list(x.shape) == t["input_tensor_shape"]
            assert synthetic.tensor_sha256(x) == t["input_tensor_sha256"], (name, t["target_hw"])
            checked += 1
    assert checked == 33 * 3


def persons_array(p) -> np.ndarray:
    """[N, 57] float32 = x1, y1, x2, y2, conf, cls, 17 x (x, y, v): the fixture's result layout."""
    kp = np.concatenate([p.keypoints, p.keypoint_scores[..., None]], axis=2).reshape(len(p), 17 * 3)
    return np.concatenate([p.boxes, p.scores[:, None], np.zeros((len(p), 1), np.float32), kp], axis=1)


def decode(raw: np.ndarray, orig_hw, input_hw, thresholds: dict):
    spec = yolo_spec(*input_hw, **thresholds)
    lb = make_letterbox(tuple(orig_hw), tuple(input_hw), "center")
    return YoloPoseCodec(spec, ("output0",)).decode({"output0": raw}, 0, lb.points_to_image)


def check_listed(ours: np.ndarray, listed: list[dict]) -> None:
    for p in listed:
        row = ours[p["rank"]]
        want = np.array([*p["box"], p["conf"], p["cls"], *np.ravel(p["kpts"])], np.float32)
        np.testing.assert_array_equal(row, want)


@pytest.mark.parametrize("case", load("decode_cases.json")["cases"], ids=lambda c: c["name"])
def test_decoding_equals_ultralytics(case):
    """Confidence filter, max_nms, NMS, max_det and the letterbox inverse (per-axis gains, clipping) in
    float32, exactly as ultralytics' PosePredictor: the same persons, in the same order, same bits."""
    raw = synthetic.make_raw(case["case"])
    assert synthetic.tensor_sha256(raw) == case["tensor_sha256"], "the numpy stream drifted: regenerate the fixture"
    p = decode(raw, case["orig_hw"], case["input_hw"], case["thresholds"])
    ours = persons_array(p)
    assert len(p) == len(case["kept_anchors"]) == case["stats"]["kept"]
    assert synthetic.tensor_sha256(ours) == case["result_sha256"]
    check_listed(ours, case["persons"])


def test_real_model_predictions_equal_ultralytics(shared_dir):
    """The fixture's real export (a seeded random yolov8n-pose, 13 MB, not committed) through our whole
    one-stage predictor. Regenerate it with the recorder and point ROBUSTPOSE_YOLO_FIXTURE_ONNX at it;
    the CI-run tests above cover the same steps from the recorded inputs."""
    onnx = os.environ.get("ROBUSTPOSE_YOLO_FIXTURE_ONNX")
    if not onnx or not Path(onnx).is_file():
        pytest.skip("set ROBUSTPOSE_YOLO_FIXTURE_ONNX to the recorder's --model-out file to run this check")
    from robustpose_bench.atomic import sha256_file
    from robustpose_bench.evaluation import predict_onestage
    from robustpose_bench.models.loader import load_model

    rec = load("model_predictions.json")
    assert sha256_file(onnx) == rec["model"]["onnx"]["sha256"]
    model = load_model(onnx, spec="yolo-pose", device="cpu")
    files = [i["file"] for i in rec["images"]]
    persons = predict_onestage(model, files, lambda f: shared_dir / f, "coco")
    for img, p in zip(rec["images"], persons):
        ours = persons_array(p)
        assert len(p) == img["stats"]["kept"], img["file"]
        # persons with exactly equal conf may come in either order (torch's sort is not stable): accept
        # any order within each tied group, nothing else
        groups = img["stats"].get("ranks_of_kept_persons_with_equal_conf") or []
        orders = [ours]
        for g in groups:
            orders = [np.concatenate([o[: g[0]], o[list(perm)], o[g[-1] + 1:]])
                      for o in orders for perm in itertools.permutations(g)]
        assert synthetic.tensor_sha256(ours) == img["result_sha256"] or any(
            synthetic.tensor_sha256(o) == img["result_sha256"] for o in orders), img["file"]
        check_listed(ours, img["persons"])
