"""Issue 21: the evaluation-protocol settings in which the peers (HRNet, mmpose 1.3.2, ultralytics)
differ, each checked against the peer's own convention.

- ``bbox`` in the prediction files: pycocotools' ``loadRes`` takes a person's area from it (APM, APL);
  mmpose writes the input box (top-down), ultralytics and mmpose's RTMO the predicted box, HRNet none;
- ground-truth boxes with ``crop: mmpose``: mmpose's clipped box, not HRNet's cleaned one;
- which images are scored: ultralytics only those holding a person with keypoints.

The mmpose oracles below are re-typed from mmpose v1.3.2 (file and function named at each); they
are the test's reference, never imported by the package.
"""
from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest

from robustpose_bench import topdown as td
from robustpose_bench.datasets.coco import coco_det_instances, coco_gt_instances
from robustpose_bench.errors import UserError
from robustpose_bench.evaluation import EvalOptions, run_eval
from robustpose_bench.evaluation.topdown_predictor import crop_geometry
from robustpose_bench.metrics.coco import keypoint_ap, keypoint_image_ids, load_coco_gt
from robustpose_bench.models.loader import load_model

STATS = ("AP", "AP50", "AP75", "APM", "APL", "AR", "AR50", "AR75", "ARM", "ARL")
MOVENET = "movenet_lightning_int8.onnx"


# ----------------------------------------------------------------------------------------------
# mmpose v1.3.2, re-typed (the oracle)


def mmpose_parse_gt_bbox(ann: dict, img: dict) -> np.ndarray:
    """mmpose/datasets/datasets/base/base_coco_style_dataset.py, ``parse_data_info`` (lines 283-290)."""
    img_w, img_h = img["width"], img["height"]
    x, y, w, h = ann["bbox"]
    x1 = np.clip(x, 0, img_w - 1)
    y1 = np.clip(y, 0, img_h - 1)
    x2 = np.clip(x + w, 0, img_w - 1)
    y2 = np.clip(y + h, 0, img_h - 1)
    return np.array([x1, y1, x2, y2], dtype=np.float32).reshape(1, 4)


def mmpose_bbox_xywh2xyxy(bbox_xywh: np.ndarray) -> np.ndarray:
    """mmpose/structures/bbox/transforms.py, ``bbox_xywh2xyxy``."""
    bbox_xyxy = bbox_xywh.copy()
    bbox_xyxy[:, 2] = bbox_xyxy[:, 2] + bbox_xyxy[:, 0]
    bbox_xyxy[:, 3] = bbox_xyxy[:, 3] + bbox_xyxy[:, 1]
    return bbox_xyxy


def mmpose_bbox_xyxy2xywh(bbox_xyxy: np.ndarray) -> np.ndarray:
    """mmpose/structures/bbox/transforms.py, ``bbox_xyxy2xywh`` (what CocoMetric writes as ``bbox``)."""
    bbox_xywh = bbox_xyxy.copy()
    bbox_xywh[:, 2] = bbox_xywh[:, 2] - bbox_xywh[:, 0]
    bbox_xywh[:, 3] = bbox_xywh[:, 3] - bbox_xywh[:, 1]
    return bbox_xywh


def mmpose_bbox_xyxy2cs(bbox: np.ndarray, padding: float = 1.) -> tuple[np.ndarray, np.ndarray]:
    """mmpose/structures/bbox/transforms.py, ``bbox_xyxy2cs`` (GetBBoxCenterScale, padding 1.25)."""
    dim = bbox.ndim
    if dim == 1:
        bbox = bbox[None, :]
    scale = (bbox[..., 2:] - bbox[..., :2]) * padding
    center = (bbox[..., 2:] + bbox[..., :2]) * 0.5
    if dim == 1:
        center = center[0]
        scale = scale[0]
    return center, scale


def mmpose_fix_aspect_ratio(bbox_scale: np.ndarray, aspect_ratio: float) -> np.ndarray:
    """mmpose/datasets/transforms/topdown_transforms.py, ``TopdownAffine._fix_aspect_ratio``."""
    w, h = np.hsplit(bbox_scale, [1])
    return np.where(w > h * aspect_ratio, np.hstack([w, w / aspect_ratio]), np.hstack([h * aspect_ratio, h]))


def mmpose_detection_bbox(det: dict) -> np.ndarray:
    """base_coco_style_dataset.py, ``_load_detection_results`` (lines 453-455)."""
    bbox_xywh = np.array(det["bbox"][:4], dtype=np.float32).reshape(1, 4)
    return mmpose_bbox_xywh2xyxy(bbox_xywh)


# ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_sets(shared_dir) -> list[dict]:
    """The two real COCO samples: 12 + 16 = 28 persons with keypoints."""
    return [json.loads((shared_dir / "data" / "coco_sample" / "test_coco.json").read_text()),
            json.loads((shared_dir / "data" / "coco_mini" / "annotations" / "person_keypoints_val2017.json").read_text())]


def _persons(ann: dict) -> list[tuple[dict, dict]]:
    """(annotation, image) of the persons our GT instances hold, in their order."""
    images = {i["id"]: i for i in ann["images"]}
    inst = coco_gt_instances(ann, 0.75)
    by_img: dict = {}
    for a in ann["annotations"]:
        by_img.setdefault(a["image_id"], []).append(a)
    out = []
    for img in ann["images"]:
        for a in by_img.get(img["id"], []):
            if a.get("iscrowd", 0) or not a.get("keypoints") or max(a["keypoints"]) == 0:
                continue
            if td.clean_gt_box(a["bbox"], a.get("area", 1.0), img["width"], img["height"]) is not None:
                out.append((a, images[a["image_id"]]))
    assert len(out) == len(inst)
    return out


@pytest.mark.parametrize("aspect", [192 / 256, 1.0, 288 / 384])
def test_mmpose_crop_of_gt_boxes_is_mmpose_clipped_box(real_sets, aspect):
    """``crop: mmpose`` with GT boxes: the box equals mmpose's clipped float32 box bit for bit, and the
    crop's centre and scale equal mmpose's bbox_xyxy2cs + _fix_aspect_ratio (float32 there, float64
    here: within float32 rounding). HRNet's cleaned box (x2 = x1 + w - 1) is half a pixel off."""
    spec = type("S", (), {})()
    n = moved = 0
    for ann in real_sets:
        inst = coco_gt_instances(ann, aspect)
        inst.source = {"source": "gt", "sha256": None}
        for j, (a, img) in enumerate(_persons(ann)):
            ref_box = mmpose_parse_gt_bbox(a, img)
            np.testing.assert_array_equal(inst.mmpose_boxes[j], ref_box[0])
            c_ref, s_ref = mmpose_bbox_xyxy2cs(ref_box, padding=1.25)
            s_ref = mmpose_fix_aspect_ratio(s_ref, aspect)
            c, s = td.mmpose_center_scale_xyxy(inst.mmpose_boxes[j], aspect)
            np.testing.assert_allclose(c, c_ref[0], rtol=2e-7, atol=0)
            np.testing.assert_allclose(s, s_ref[0], rtol=2e-7, atol=0)
            c_hrnet, _ = td.mmpose_center_scale(inst.boxes[j], aspect)  # the convention before issue 21
            moved += bool(np.abs(c_hrnet - c_ref[0]).max() >= 0.49)
            n += 1
            # the written bbox is mmpose's bbox_xyxy2xywh of that box
            np.testing.assert_array_equal(inst.input_boxes_xywh("mmpose")[j], mmpose_bbox_xyxy2xywh(ref_box)[0])
    assert n == 28 and moved >= 20  # the audit: the centre moved 0.5 px on the real persons
    # and the predictor's geometry uses it: crop_geometry maps the crop centre onto mmpose's centre
    spec.input = type("I", (), {"width": 192, "height": 256, "crop": "mmpose"})()
    inst = coco_gt_instances(real_sets[0], 192 / 256)
    inst.source = {"source": "gt", "sha256": None}
    _, back = crop_geometry(spec, inst)
    c_ref, _ = mmpose_bbox_xyxy2cs(inst.mmpose_boxes[:1], padding=1.25)
    np.testing.assert_allclose(back(np.array([[96.0, 128.0]]), 0, (192, 256))[0], c_ref[0], atol=1e-4)


def test_mmpose_detection_boxes_are_mmpose_input_boxes(shared_dir):
    d = shared_dir / "data" / "coco_sample"
    ann = json.loads((d / "test_coco.json").read_text())
    dets = [x for x in json.loads((d / "test_coco_det_AP_H_56.json").read_text()) if x["category_id"] == 1]
    inst = coco_det_instances(ann, d / "test_coco_det_AP_H_56.json", 0.75)
    assert len(inst) == len(dets) == 118
    for j, det in enumerate(dets):
        ref = mmpose_detection_bbox(det)
        np.testing.assert_array_equal(inst.mmpose_boxes[j], ref[0])
        np.testing.assert_array_equal(inst.input_boxes_xywh("mmpose")[j], mmpose_bbox_xyxy2xywh(ref)[0])
    np.testing.assert_array_equal(inst.input_boxes_xywh("hrnet"), np.array([x["bbox"] for x in dets]))


def direct_cocoeval(ann: Path, results: Path, img_ids: list | None = None) -> dict[str, float]:
    """pycocotools itself on the written file (loadRes reads the bbox when there is one)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(ann))
        dt = gt.loadRes(str(results))
        ev = COCOeval(gt, dt, "keypoints")
        if img_ids is not None:
            ev.params.imgIds = img_ids
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return dict(zip(STATS, (float(v) for v in ev.stats)))


def _movenet_spec(shared_dir: Path, tmp_path: Path, crop: str) -> Path:
    spec = load_model(shared_dir / "models" / MOVENET, spec="movenet", device="cpu").spec.to_dict()
    if crop == "mmpose":
        spec["input"]["crop"] = "mmpose"
    p = tmp_path / f"movenet_{crop}.spec.json"
    p.write_text(json.dumps(spec))
    return p


def _eval(shared_dir: Path, tmp_path: Path, spec: Path, name: str, **kw) -> tuple[dict, list[dict], Path]:
    d = shared_dir / "data" / "coco_sample"
    res = run_eval(EvalOptions(model=shared_dir / "models" / MOVENET, spec=spec, dataset="coco-c", images=d,
                               ann=d / "test_coco.json", partial=True, output=tmp_path / f"{name}.json",
                               predictions_out=tmp_path / name, progress=False, **kw))
    pred = tmp_path / name / "clean" / "results.json"
    return res, json.loads(pred.read_text()), pred


def test_topdown_bbox_per_protocol_and_apm_apl_equal_pycocotools(shared_dir, tmp_path):
    """mmpose's protocol writes each detection's input box; APM/APL are pycocotools' on that file, and
    differ from the keypoint-extent areas (so the bbox matters). HRNet's protocol writes none."""
    d = shared_dir / "data" / "coco_sample"
    dets = d / "test_coco_det_AP_H_56.json"
    res, preds, path = _eval(shared_dir, tmp_path, _movenet_spec(shared_dir, tmp_path, "mmpose"), "mm",
                             boxes=str(dets))
    assert res["config"]["protocol"] == {"bbox": "input", "gt_box": None, "images": "all"}
    inst = coco_det_instances(json.loads((d / "test_coco.json").read_text()), dets, 0.75)
    expected = {tuple(b) for b in inst.input_boxes_xywh("mmpose").tolist()}
    assert preds and all(tuple(p["bbox"]) in expected for p in preds)
    rows = {r["metric"]: r["value"] for r in res["rows"]}
    assert rows == direct_cocoeval(d / "test_coco.json", path)
    without = keypoint_ap(d / "test_coco.json", [{k: v for k, v in p.items() if k != "bbox"} for p in preds])
    assert without["APM"] != rows["APM"] and without["AP"] == rows["AP"]

    res_h, preds_h, path_h = _eval(shared_dir, tmp_path, _movenet_spec(shared_dir, tmp_path, "hrnet"), "hr")
    assert res_h["config"]["protocol"] == {"bbox": "none", "gt_box": "hrnet", "images": "all"}
    assert preds_h and not any("bbox" in p for p in preds_h)  # HRNet's coco.py writes centre and scale, no box
    assert {r["metric"]: r["value"] for r in res_h["rows"]} == direct_cocoeval(d / "test_coco.json", path_h)


def test_bbox_protocol_is_part_of_the_run_identity(shared_dir, tmp_path):
    """A spec asking for another bbox makes another run: its folder is not resumed with the old files."""
    spec = json.loads(_movenet_spec(shared_dir, tmp_path, "mmpose").read_text())
    spec["bbox"] = "none"
    p = tmp_path / "nobox.spec.json"
    p.write_text(json.dumps(spec))
    _eval(shared_dir, tmp_path, _movenet_spec(shared_dir, tmp_path, "mmpose"), "same")
    with pytest.raises(UserError, match="different protocol"):
        _eval(shared_dir, tmp_path, p, "same")
    res, preds, _ = _eval(shared_dir, tmp_path, p, "same", overwrite=True)
    assert res["config"]["protocol"]["bbox"] == "none" and not any("bbox" in x for x in preds)


def test_ultralytics_json_bbox_equals_pred_to_json():
    """ultralytics/models/yolo/pose/val.py ``pred_to_json``: ops.xyxy2xywh in float32 torch, centre to
    corner, round(x, 3), re-typed in torch."""
    torch = pytest.importorskip("torch")
    from robustpose_bench.boxes import ultralytics_json_bbox

    rng = np.random.default_rng(0)
    xy = rng.uniform(-50, 700, size=(200, 2)).astype(np.float32)
    boxes = np.concatenate([xy, xy + rng.uniform(0, 400, size=(200, 2)).astype(np.float32)], axis=1)
    x = torch.from_numpy(boxes)
    y = torch.empty_like(x)  # ultralytics/utils/ops.py xyxy2xywh
    y[..., 0] = (x[..., 0] + x[..., 2]) / 2
    y[..., 1] = (x[..., 1] + x[..., 3]) / 2
    y[..., 2] = x[..., 2] - x[..., 0]
    y[..., 3] = x[..., 3] - x[..., 1]
    y[:, :2] -= y[:, 2:] / 2
    assert ultralytics_json_bbox(boxes) == [[round(v, 3) for v in b] for b in y.tolist()]


def test_mixed_bbox_entries_are_one_line_errors(shared_dir):
    ann = shared_dir / "data" / "coco_sample" / "test_coco.json"
    gt = json.loads(ann.read_text())["annotations"][0]
    p = {"image_id": gt["image_id"], "category_id": 1, "keypoints": gt["keypoints"], "score": 0.9}
    with pytest.raises(UserError, match=r"entry 1 has no 'bbox' but entry 0 has one"):
        keypoint_ap(ann, [{**p, "bbox": gt["bbox"]}, p])
    with pytest.raises(UserError, match=r"entry 1 has a 'bbox' but entry 0 has none"):
        keypoint_ap(ann, [p, {**p, "bbox": gt["bbox"]}])


def test_spec_bbox_field(shared_dir):
    from robustpose_bench.models.spec import parse_spec

    spec = load_model(shared_dir / "models" / MOVENET, spec="movenet", device="cpu").spec.to_dict()
    assert "bbox" not in spec and parse_spec(spec).bbox_protocol == "none"
    assert parse_spec({**spec, "bbox": "input"}).to_dict()["bbox"] == "input"
    assert "bbox" not in parse_spec({**spec, "bbox": "none"}).to_dict()  # the family's own: left out
    with pytest.raises(UserError, match=r"bbox must be one of input, none, got 'model'"):
        parse_spec({**spec, "bbox": "model"})


# ----------------------------------------------------------------------------------------------
# RTMO: mmpose's BottomupResize (recorded fixture) and rtmlib's letterbox (test_peer_rtmlib.py)

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "mmpose_bottomup"


def _mmpose_ref():
    import importlib.util

    spec = importlib.util.spec_from_file_location("mmpose_v132", FIXTURE / "mmpose_v132.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _fixture_image(shared_dir: Path, name: str) -> np.ndarray:
    import cv2

    if name.startswith("synthetic:"):
        h, w = (int(v) for v in name.split(":")[1].split("x"))
        return np.random.default_rng(h * 10007 + w).integers(0, 256, size=(h, w, 3), dtype=np.uint8)
    return cv2.imread(str(shared_dir / name), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)


def test_bottomup_resize_equals_mmpose_recorded(shared_dir, tmp_path):
    """``input.resize: bottomup`` (the rtmo preset) against mmpose 1.3.2's BottomupResize and
    add_pred_to_datasample, recorded by tests/fixtures/mmpose_bottomup/record.py: centre, scale, warp
    matrix, the model's input pixels (through the predictor's own path) and the back-mapped keypoints,
    boxes and written bbox, bit for bit."""
    import hashlib

    from model_factory import export_rtmo
    from robustpose_bench.evaluation.onestage_predictor import letterbox_input
    from robustpose_bench.letterbox import make_bottomup

    data = json.loads((FIXTURE / "bottomup.json").read_text())
    assert len(data["cases"]) == 30
    spec = load_model(export_rtmo(tmp_path), spec="rtmo", device="cpu").spec
    assert spec.input.resize == "bottomup" and spec.input.pad_value == 114 and spec.bbox_protocol == "model"
    for case in data["cases"]:
        img = _fixture_image(shared_dir, case["image"])
        assert list(img.shape[:2]) == case["image_hw"], case["image"]
        geo = make_bottomup(img.shape[:2], tuple(case["input_hw"]))
        where = f"{case['image']} at {case['input_hw']}"
        assert geo.center.tolist() == case["input_center"] and geo.scale.tolist() == case["input_scale"], where
        assert geo.matrix.tolist() == case["warp_mat"], where
        sha = hashlib.sha256(np.ascontiguousarray(geo.apply(img, 114)).tobytes()).hexdigest()
        assert sha == case["input_bgr_uint8_sha256"], where
        kps = np.array(case["probe_keypoints"], np.float32)
        assert geo.points_to_image(kps).tolist() == case["keypoints_to_image"], where
        boxes = np.array(case["probe_boxes"], np.float32)
        back = geo.points_to_image(boxes.reshape(-1, 2, 2)).reshape(-1, 4)
        assert back.tolist() == case["boxes_to_image"], where
        assert td.xyxy_to_xywh(back).tolist() == case["bbox_xyxy2xywh"], where
        if case["input_hw"] == [640, 640]:  # the predictor feeds the model exactly these BGR pixels
            x, _ = letterbox_input(img, spec)
            fed = np.ascontiguousarray(x[0].transpose(1, 2, 0).astype(np.uint8))
            assert hashlib.sha256(fed.tobytes()).hexdigest() == case["input_bgr_uint8_sha256"], where
    c = next(c for c in data["cases"] if c["image"] == "synthetic:427x640" and c["input_hw"] == [640, 640])
    assert c["warp_mat"][1][2] == pytest.approx(106.5)  # the example: origin at (0, 106.5)


def test_bottomup_needs_sizes_mmpose_accepts(shared_dir):
    from robustpose_bench.models.spec import parse_spec

    spec = load_model(shared_dir / "models" / MOVENET, spec="movenet", device="cpu").spec.to_dict()
    one = {**spec, "pipeline": "onestage", "output": {"kind": "persons"},
           "input": {**spec["input"], "resize": "bottomup", "height": 640, "width": 600}}
    with pytest.raises(UserError, match=r"input.width must be a multiple of 32 with resize 'bottomup'"):
        parse_spec(one)
    with pytest.raises(UserError, match=r"input.align applies to resize 'letterbox' only"):
        parse_spec({**one, "input": {**one["input"], "width": 640, "align": "center"}})


def test_mmpose_crop_within_a_few_thousandths_px_of_mmpose(shared_dir):
    """docs/model_spec.md: our ``crop: mmpose`` (rtmlib's, bit for bit) maps every crop pixel within
    2.5e-3 px of where mmpose's float32 boxes and get_warp_matrix put it (measured 2.23e-3 on the 118
    sample detections)."""
    ref = _mmpose_ref()
    d = shared_dir / "data" / "coco_sample"
    dets = [x for x in json.loads((d / "test_coco_det_AP_H_56.json").read_text()) if x["category_id"] == 1]
    W, H = 192, 256
    corners = np.array([[0, 0, 1], [W - 1, 0, 1], [0, H - 1, 1], [W - 1, H - 1, 1]], np.float64)
    worst = 0.0
    for det in dets:
        box = mmpose_detection_bbox(det)
        c_ref, s_ref = mmpose_bbox_xyxy2cs(box, padding=1.25)
        s_ref = mmpose_fix_aspect_ratio(s_ref, W / H)
        m_ref = ref.get_warp_matrix(c_ref[0], s_ref[0], 0, (W, H), inv=True)
        c, s = td.mmpose_center_scale(det["bbox"], W / H)
        ours = np.linalg.inv(np.vstack([td.mmpose_warp_matrix(c, s, (W, H)), [0, 0, 1]]))[:2]
        # the image point each crop corner samples, measured in crop pixels (divide by image px per crop px)
        diff = np.abs(corners @ ours.T - corners @ m_ref.T).max() / (s[0] / W)
        worst = max(worst, diff)
    assert 1e-4 < worst <= 2.5e-3  # not bit-identical (float32 boxes there), but far below a pixel


def test_images_with_keypoints_scores_only_those_images(shared_dir, tmp_path):
    """ultralytics' protocol: only images holding a person with keypoints are predicted and scored
    (pycocotools' params.imgIds, as its eval_json); recorded and marked non-standard."""
    from robustpose_bench.tables import render_table, results_frame

    d = shared_dir / "data" / "coco_mini"
    ann = d / "annotations" / "person_keypoints_val2017.json"
    gt = load_coco_gt(ann)
    ids = keypoint_image_ids(gt)
    assert 0 < len(ids) < len(gt.getImgIds()) == 13  # some images hold no person with keypoints
    spec = _movenet_spec(shared_dir, tmp_path, "mmpose")
    res = run_eval(EvalOptions(model=shared_dir / "models" / MOVENET, spec=spec, dataset="coco-c", root=d,
                               partial=True, output=tmp_path / "kp.json", predictions_out=tmp_path / "kp",
                               progress=False, images_with_keypoints=True))
    preds = json.loads((tmp_path / "kp" / "clean" / "results.json").read_text())
    assert preds and {p["image_id"] for p in preds} <= set(ids)
    assert res["config"]["protocol"]["images"] == "with-keypoints" and res["config"]["non_standard"] == ["images"]
    assert res["provenance"]["data"]["num_images"] == len(ids)
    rows = {r["metric"]: r["value"] for r in res["rows"]}
    assert rows == direct_cocoeval(ann, tmp_path / "kp" / "clean" / "results.json", ids)
    table = render_table(results_frame([res]), "md")
    assert "(non-standard: images with keypoints only)" in table
    with pytest.raises(UserError, match="--images-with-keypoints applies to COCO-format datasets only"):
        m = shared_dir / "data" / "mpii_sample"
        run_eval(EvalOptions(model=shared_dir / "models" / MOVENET, spec="movenet", dataset="mpii-c", images=m,
                             ann=m / "test_mpii.json", gt_mat=m / "gt_valid_subset5.mat", partial=True,
                             output=tmp_path / "m.json", progress=False, images_with_keypoints=True))


def test_score_images_with_keypoints_gives_evals_ap(shared_dir, tmp_path):
    """`score --images-with-keypoints` scores by eval's rule: eval's own predictions give eval's AP, and
    predictions on the other images (which eval never makes) are left out as ultralytics does."""
    from robustpose_bench.cli import main

    d = shared_dir / "data" / "coco_mini"
    ann = d / "annotations" / "person_keypoints_val2017.json"
    gt = load_coco_gt(ann)
    ids = keypoint_image_ids(gt)
    res = run_eval(EvalOptions(model=shared_dir / "models" / MOVENET, spec=_movenet_spec(shared_dir, tmp_path, "mmpose"),
                               dataset="coco-c", root=d, partial=True, output=tmp_path / "kp.json",
                               predictions_out=tmp_path / "kp", progress=False, images_with_keypoints=True))
    preds = json.loads((tmp_path / "kp" / "clean" / "results.json").read_text())
    others = [i for i in gt.getImgIds() if i not in set(ids)]
    assert others
    # a confident false positive on every image eval did not predict
    extra = [dict(preds[0], image_id=i, score=0.99) for i in others]
    folder = tmp_path / "mine" / "clean"
    folder.mkdir(parents=True)
    (folder / "results.json").write_text(json.dumps(preds + extra))
    scored = {}
    for flag in (["--images-with-keypoints"], []):
        out = tmp_path / f"score{len(flag)}.json"
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            assert main(["score", "--dataset", "coco-c", "--root", str(d), "--predictions", str(tmp_path / "mine"),
                         "--partial", "-o", str(out), *flag]) == 0
        scored[bool(flag)] = json.loads(out.read_text())
    rows = {k: {r["metric"]: r["value"] for r in v["rows"]} for k, v in scored.items()}
    assert rows[True] == {r["metric"]: r["value"] for r in res["rows"]}  # the same AP as eval's, every metric
    assert rows[False]["AP"] < rows[True]["AP"]  # without the flag the false positives count
    s = scored[True]
    assert s["config"]["non_standard"] == ["images"] and s["config"]["protocol"] == {"images": "with-keypoints"}
    assert s["provenance"]["data"]["num_images"] == len(ids) == res["provenance"]["data"]["num_images"]
    assert "non_standard" not in scored[False]["config"]
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        m = shared_dir / "data" / "mpii_sample"
        assert main(["score", "--dataset", "mpii-c", "--ann", str(m / "gt_valid_subset5.mat"), "--predictions",
                     str(tmp_path / "mine"), "--images-with-keypoints"]) == 2
    assert "--images-with-keypoints applies to COCO-format datasets only" in err.getvalue()


def test_higherhrnet_bbox_is_the_official_keypoint_extent(shared_dir):
    """HigherHRNet's lib/dataset/COCODataset.py ``_coco_keypoint_results_one_category_kernel`` writes
    ``bbox`` = [min x, min y, max x - min x, max y - min y] of all 17 keypoints (re-typed below): the
    area loadRes computes without a box, so every stat equals the box-less file's."""
    from robustpose_bench.codecs import Persons
    from robustpose_bench.datasets.coco import onestage_results

    ann = shared_dir / "data" / "coco_sample" / "test_coco.json"
    gt = json.loads(ann.read_text())
    rng = np.random.default_rng(5)
    persons, ids = [], []
    for img in gt["images"]:
        n = 6
        kp = (rng.random((n, 17, 2)) * [img["width"], img["height"]]).astype(np.float32)
        persons.append(Persons(np.full((n, 4), np.nan, np.float32), rng.random(n).astype(np.float32), kp,
                               rng.random((n, 17)).astype(np.float32)))
        ids.append(img["id"])
    preds = onestage_results(ids, persons, bbox="keypoints")
    for p in preds:
        kpt = np.array(p["keypoints"], dtype=np.float64).reshape((17, 3))  # the official lines
        left_top = np.amin(kpt, axis=0)
        right_bottom = np.amax(kpt, axis=0)
        w = right_bottom[0] - left_top[0]
        h = right_bottom[1] - left_top[1]
        assert p["bbox"] == [left_top[0], left_top[1], w, h]
    plain = onestage_results(ids, persons)
    assert keypoint_ap(ann, preds) == keypoint_ap(ann, plain)
