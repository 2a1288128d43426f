"""rtmlib as the oracle for RTMPose (SimCC, top-down) and RTMO (end-to-end, one-stage).

rtmlib 0.0.16 is the pure numpy + onnxruntime pre- and post-processing of RTMPose and RTMO. It is
installed without its dependencies (they would replace onnxruntime-gpu and opencv-python):
``pip install --no-deps rtmlib==0.0.16`` (README test command, .ci/run). Where it is missing these
tests skip, except under ``ROBUSTPOSE_REQUIRE_PEERS=1`` (CI), where they fail.

The models are seeded random networks with the real I/O signatures (tests/model_factory.py): the
conventions, not the weights, are under test.
"""
from __future__ import annotations

import contextlib
import io
import json
import os

import cv2
import numpy as np
import pytest

from model_factory import export_rtmo, export_rtmpose
from robustpose_bench.determinism import opencv_single_threaded
from robustpose_bench import topdown as td
from robustpose_bench.codecs.simcc import simcc_maximum
from robustpose_bench.evaluation import Instances, predict_onestage, predict_topdown
from robustpose_bench.models.loader import load_model


@pytest.fixture(scope="module")
def rtmlib():
    try:
        import rtmlib
    except ImportError:
        if os.environ.get("ROBUSTPOSE_REQUIRE_PEERS") == "1":
            pytest.fail("rtmlib is required here (ROBUSTPOSE_REQUIRE_PEERS=1): pip install --no-deps rtmlib==0.0.16")
        pytest.skip("rtmlib not installed (pip install --no-deps rtmlib==0.0.16)")
    return rtmlib


@pytest.fixture(scope="module")
def sample(shared_dir):
    d = shared_dir / "data" / "coco_sample"
    ann = json.loads((d / "test_coco.json").read_text())
    dets = json.loads((d / "test_coco_det_AP_H_56.json").read_text())
    return d, {i["id"]: i["file_name"] for i in ann["images"]}, dets


def _quiet(fn, *a, **k):
    with contextlib.redirect_stdout(io.StringIO()):  # rtmlib prints "load ... with onnxruntime backend"
        return fn(*a, **k)


@pytest.mark.parametrize("score", ["mean", "min"])
def test_rtmpose_equals_rtmlib_on_the_same_boxes(rtmlib, sample, tmp_path, score):
    """Same ONNX, same boxes: keypoints within 0.01 px of rtmlib's RTMPose; scores equal with 'mean'
    (rtmlib's combination) and equal to min(max_x, max_y) with mmpose's 'min'."""
    d, files, dets = sample
    onnx = export_rtmpose(tmp_path)
    spec = load_model(onnx, spec="rtmpose", device="cpu").spec.to_dict()
    assert spec["input"]["crop"] == "mmpose" and spec["output"]["split_ratio"] == 2.0
    spec["output"]["score"] = score
    model = load_model(onnx, spec=spec, device="cpu")
    peer = _quiet(rtmlib.RTMPose, str(onnx), model_input_size=(192, 256), backend="onnxruntime", device="cpu")
    worst, persons = 0.0, 0
    for img_id, name in files.items():
        boxes = [x["bbox"] for x in dets if x["image_id"] == img_id]
        rgb = cv2.cvtColor(cv2.imread(str(d / name)), cv2.COLOR_BGR2RGB)  # mmpose configs feed RGB
        # Both warp at one OpenCV thread: a warp's pixels depend on how OpenCV's thread pool splits it
        # (robustpose_bench/determinism.py), which is the machine's doing, not rtmlib's convention.
        with opencv_single_threaded():
            kp_ref, sc_ref = peer(rgb, [[x, y, x + w, y + h] for x, y, w, h in boxes])
        cs = [td.box_to_center_scale(b, 192 / 256) for b in boxes]
        inst = Instances([name] * len(boxes), [img_id] * len(boxes), np.array([c for c, _ in cs], np.float32),
                         np.array([s for _, s in cs], np.float32), np.ones(len(boxes)),
                         boxes=np.array(boxes, np.float64))
        ours = predict_topdown(model, inst, lambda f: d / f, "coco", flip=False, batch=16)
        worst = max(worst, float(np.abs(ours.coords - kp_ref).max()))
        persons += len(boxes)
        if score == "mean":
            np.testing.assert_allclose(ours.scores, sc_ref, atol=1e-5)
        else:
            assert (ours.scores <= sc_ref + 1e-5).all()  # min of the two maxima <= their mean
    assert persons == 118
    assert worst <= 0.01, worst


def test_simcc_decode_and_flip_follow_mmpose():
    """mmpose's get_simcc_maximum (min, -1 where not positive) and flip_vectors (reverse x, swap pairs)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 17, 384)).astype(np.float32)
    y = rng.normal(size=(3, 17, 512)).astype(np.float32)
    y[0, 4] = -1.0  # all negative: score <= 0 -> location -1 on both axes
    locs, vals = simcc_maximum(x, y, "min")
    want = np.argmax(x, -1).astype(np.float32)
    want[0, 4] = -1
    np.testing.assert_array_equal(locs[..., 0], want)
    np.testing.assert_array_equal(vals, np.minimum(x.max(-1), y.max(-1)))
    assert (locs[0, 4] == -1).all() and vals[0, 4] <= 0
    _, mean = simcc_maximum(x, y, "mean")
    np.testing.assert_allclose(mean, (x.max(-1) + y.max(-1)) / 2, rtol=1e-6)

    # flip: a keypoint at input x in the mirrored crop sits at bin W*r-1-b there; mmpose reverses the
    # vector and swaps left/right; a one-hot left-wrist (9) peak at bin 50 of the mirrored pass
    # lands on the right wrist (10) at bin 383-50 of the averaged vectors
    from robustpose_bench.codecs.simcc import SimCCCodec
    from robustpose_bench.models.spec import parse_spec

    spec = parse_spec({"format": "robustpose-model-spec/1", "name": "s",
                       "input": {"height": 256, "width": 192, "layout": "NCHW", "dtype": "float32", "crop": "mmpose"},
                       "output": {"kind": "simcc", "split_ratio": 2.0},
                       "keypoints": {"num": 17, "dataset_map": {"coco": list(range(17))}},
                       "flip_pairs": [[1, 2], [3, 4], [5, 6], [7, 8], [9, 10], [11, 12], [13, 14], [15, 16]]})
    codec = SimCCCodec(spec, ("simcc_x", "simcc_y"))
    sx, sy = np.zeros((1, 17, 384), np.float32), np.zeros((1, 17, 512), np.float32)
    fx, fy = sx.copy(), sy.copy()
    fx[0, 9, 50], fy[0, 9, 200] = 1.0, 1.0
    locs, scores, frame = codec.decode({"simcc_x": sx, "simcc_y": sy}, {"simcc_x": fx, "simcc_y": fy})
    assert frame == (192, 256)
    np.testing.assert_array_equal(locs[0, 10], [(383 - 50) / 2, 200 / 2])
    assert scores[0, 10] == 0.5 and (locs[0, 9] == -0.5).all()  # nothing positive for the left wrist


def test_rtmo_equals_rtmlib(rtmlib, sample, tmp_path):
    """Same ONNX: the same persons kept, keypoints within 0.01 px, with rtmlib's thresholds set in the
    spec (score 0.7, NMS 0.45 with the +1 pixel convention); also at an image already 640x640
    (rtmlib's no-resize path) and thin/odd sizes (its truncating letterbox)."""
    d, files, _ = sample
    onnx = export_rtmo(tmp_path)
    spec = load_model(onnx, spec="rtmo-rtmlib", device="cpu").spec.to_dict()  # rtmlib's letterbox
    spec["output"].update(score_thr=0.7, iou_thr=0.45, nms_pixel_offset=1)
    model = load_model(onnx, spec=spec, device="cpu")
    peer = _quiet(rtmlib.RTMO, str(onnx), model_input_size=(640, 640), backend="onnxruntime", device="cpu",
                  nms_thr=0.45, score_thr=0.7)
    images = {n: cv2.imread(str(d / n)) for n in files.values()}
    rng = np.random.default_rng(3)
    base = images[sorted(images)[0]]
    for h, w in ((640, 640), (333, 501), (97, 1024), (1280, 250)):
        images[f"synthetic_{h}x{w}.png"] = cv2.resize(base, (w, h), interpolation=cv2.INTER_AREA) ^ rng.integers(
            0, 16, size=(h, w, 3), dtype=np.uint8)
    for name, img in images.items():
        if name.startswith("synthetic_"):
            cv2.imwrite(str(tmp_path / name), img)
    names = sorted(images)
    where = {n: (tmp_path / n if n.endswith(".png") else d / n) for n in names}
    ours = predict_onestage(model, names, where.__getitem__, "coco", batch=3)
    kept = 0
    for name, p in zip(names, ours):
        kp_ref, sc_ref = peer(cv2.imread(str(where[name])))
        if len(p) == 0:  # rtmlib returns one all-zero person when nothing passes; we return none
            assert np.all(kp_ref == 0) and kp_ref.shape[0] == 1
            continue
        assert kp_ref.shape == p.keypoints.shape, name
        assert np.abs(p.keypoints - kp_ref).max() <= 0.01, name
        np.testing.assert_array_equal(p.keypoint_scores, sc_ref)
        kept += len(p)
    assert kept >= 10  # the comparison covered real persons, not only empty images
