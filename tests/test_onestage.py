"""Any pose model in `eval`: one-stage (YOLO-pose, RTMO) and SimCC (RTMPose) models, with nothing but
``--spec PRESET``, on real builds of the shared COCO and OCHuman samples; their bad inputs.

Scoring must be the pycocotools call `score` makes, so `eval` and `score` agree on the same files.
"""
from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import run_cli
from model_factory import export_rtmo, export_rtmpose, export_yolo_pose

from robustpose_bench.errors import UserError
from robustpose_bench.models.loader import load_model

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("models")
    return {"yolo-pose": export_yolo_pose(d), "rtmo": export_rtmo(d), "rtmpose": export_rtmpose(d)}


STATS = ("AP", "AP50", "AP75", "APM", "APL", "AR", "AR50", "AR75", "ARM", "ARL")


def cocoeval_direct(ann: Path, preds: list, stat: str = "AP") -> float:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    if not preds:
        return 0.0
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(ann))
        ev = COCOeval(gt, gt.loadRes([dict(p) for p in preds]), "keypoints")  # loadRes adds fields: copies
        ev.evaluate(); ev.accumulate(); ev.summarize()
    return float(ev.stats[STATS.index(stat)])


def eval_args(sample: dict, model: Path, preset: str, dataset: str, out: Path, *extra: str) -> list[str]:
    return ["eval", str(model), "--spec", preset, "--dataset", dataset, "--images", str(sample["images"]),
            "--ann", str(sample["ann"]), "--data", str(sample["data"]), "--partial", "-o", str(out / "results.json"),
            "--no-progress", *extra]


@pytest.mark.parametrize("dataset", ["coco-c", "ochuman-c"])
@pytest.mark.parametrize("preset", ["yolo-pose", "rtmo", "rtmpose"])
def test_eval_runs_each_family_with_only_a_preset(built_samples, models, tmp_path, preset, dataset):
    sample = built_samples[dataset]
    rc, out, err = run_cli(*eval_args(sample, models[preset], preset, dataset, tmp_path))
    assert rc == 0, err
    assert out.startswith(f"{dataset}  AP  clean ")
    res = json.loads((tmp_path / "results.json").read_text())
    keys = {(r["corruption"], r["severity"]) for r in res["rows"]}
    assert keys == {("clean", 0), ("gaussian_noise", 1), ("motion_blur", 1)}
    onestage = preset != "rtmpose"
    assert res["config"]["pipeline"] == ("onestage" if onestage else "topdown")
    assert res["config"]["boxes"] == ("model" if onestage else "gt") and res["provenance"]["flip"] is (not onestage)
    assert res["provenance"]["model"]["spec_source"] == f"preset:{preset}"
    assert res["provenance"]["data"]["num_images"] == len(json.loads(sample["ann"].read_text())["images"])
    # every condition's AP is pycocotools' on the written predictions, and `score` reproduces the rows
    gt = json.loads(sample["ann"].read_text())
    for key, sev in (("clean", 0), ("gaussian_noise", 1), ("motion_blur", 1)):
        folder = tmp_path / "predictions" / (key if key == "clean" else f"{key}/{sev}")
        preds = json.loads((folder / "results.json").read_text())
        if onestage:  # no rescoring, no OKS-NMS: persons as the model gives them, COCO-17 triples
            assert all(len(p["keypoints"]) == 51 and p["image_id"] in {i["id"] for i in gt["images"]} for p in preds)
        # every family here writes a bbox (the model's box; RTMPose: mmpose's input box), which sets the areas
        assert preds and all(len(p["bbox"]) == 4 for p in preds)
        for stat in ("AP", "APM", "APL"):
            row = next(r["value"] for r in res["rows"] if (r["corruption"], r["severity"], r["metric"]) == (key, sev, stat))
            assert row == cocoeval_direct(sample["ann"], preds, stat), stat
    assert res["config"]["protocol"]["bbox"] == ("model" if onestage else "input")
    rc, out, _ = run_cli("score", "--dataset", dataset, "--ann", str(sample["ann"]), "--predictions",
                         str(tmp_path / "predictions"), "--partial", "-o", str(tmp_path / "scored.json"))
    assert rc == 0
    assert json.loads((tmp_path / "scored.json").read_text())["rows"] == res["rows"]


def test_yolo_pose_predictions_are_in_image_pixels(built_samples, models):
    """Letterbox inverse: every kept box and keypoint lies inside its image (ultralytics clips)."""
    from robustpose_bench.evaluation import predict_onestage

    sample = built_samples["coco-c"]
    gt = json.loads(sample["ann"].read_text())
    files = [i["file_name"] for i in gt["images"]]
    sizes = {i["file_name"]: (i["width"], i["height"]) for i in gt["images"]}
    m = load_model(models["yolo-pose"], spec="yolo-pose", device="cpu")
    persons = predict_onestage(m, files, lambda f: sample["images"] / f, "coco", batch=2)
    assert sum(len(p) for p in persons) > 50
    for f, p in zip(files, persons):
        w, h = sizes[f]
        assert len(p) <= 300 and (np.diff(p.scores) <= 0).all()  # max_det, best first
        assert (p.keypoints[..., 0] >= 0).all() and (p.keypoints[..., 0] <= w).all()
        assert (p.keypoints[..., 1] >= 0).all() and (p.keypoints[..., 1] <= h).all()
        assert (p.scores > 0.001).all()


def test_torchscript_onestage_equals_onnx(built_samples, tmp_path):
    """(c) a TorchScript model returning the same tensors (a tuple) decodes like its ONNX export."""
    from robustpose_bench.evaluation import predict_onestage

    onnx, ts = export_rtmo(tmp_path), export_rtmo(tmp_path, torchscript=True)
    spec = load_model(onnx, spec="rtmo", device="cpu").spec.to_dict()  # presets need declared shapes: ONNX
    m_onnx, m_ts = load_model(onnx, spec=spec, device="cpu"), load_model(ts, spec=spec, device="cpu")
    assert m_ts.output_names == ("dets", "keypoints") and m_ts.format == "torchscript"
    sample = built_samples["coco-c"]
    files = sorted(p.name for p in sample["images"].glob("*.jpg"))
    a = predict_onestage(m_onnx, files, lambda f: sample["images"] / f, "coco")
    b = predict_onestage(m_ts, files, lambda f: sample["images"] / f, "coco")
    for pa, pb in zip(a, b):
        assert len(pa) == len(pb) > 0
        np.testing.assert_allclose(pa.keypoints, pb.keypoints, atol=1e-3)
    with pytest.raises(UserError, match="preset rtmo reads the input size from the model's declared shapes"):
        load_model(ts, spec="rtmo", device="cpu")


def test_no_persons_scores_zero_and_is_recorded(built_samples, models, tmp_path):
    sample = built_samples["coco-c"]
    spec = load_model(models["rtmo"], spec="rtmo", device="cpu").spec.to_dict()
    spec["output"]["score_thr"] = 1.0  # nothing scores above 1: the model "finds" nobody
    (tmp_path / "nobody.spec.json").write_text(json.dumps(spec))
    rc, out, err = run_cli(*eval_args(sample, models["rtmo"], str(tmp_path / "nobody.spec.json"), "coco-c", tmp_path))
    assert rc == 0, err
    res = json.loads((tmp_path / "results.json").read_text())
    assert {r["value"] for r in res["rows"] if r["metric"] == "AP"} == {0.0}
    assert json.loads((tmp_path / "predictions" / "clean" / "results.json").read_text()) == []


@pytest.mark.parametrize("extra, message", [
    (("--boxes", "gt"), "is a one-stage model (it finds the persons itself): --boxes applies to top-down models only"),
    (("--flip",), "--flip: rtmo_tiny.onnx is a one-stage model"),
])
def test_onestage_refuses_top_down_options(built_samples, models, tmp_path, extra, message):
    sample = built_samples["coco-c"]
    rc, out, err = run_cli(*eval_args(sample, models["rtmo"], "rtmo", "coco-c", tmp_path, *extra))
    assert rc == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "results.json").exists() and not (tmp_path / "predictions").exists()


def test_onestage_on_mpii_is_refused(shared_dir, models, tmp_path):
    d = shared_dir / "data" / "mpii_sample"
    rc, _, err = run_cli("eval", str(models["rtmo"]), "--spec", "rtmo", "--dataset", "mpii-c", "--images", str(d),
                         "--ann", str(d / "test_mpii.json"), "--gt-mat", str(d / "gt_valid_subset5.mat"), "--partial",
                         "-o", str(tmp_path / "r.json"), "--no-progress")
    assert rc == 2 and "one-stage models" in err and not (tmp_path / "r.json").exists()


@pytest.mark.parametrize("model, preset, message", [
    ("yolo-pose", "rtmo", "preset rtmo: expected the output dets [N, P, 5], but the model's 'output0' has shape "
                          "[1,56,8400]"),
    ("rtmpose", "yolo-pose", "preset yolo-pose: expected its first output [N, 4 + 1 + 3K, anchors] (box, one class, "
                             "K x (x, y, v); 1008 or 1020 anchors for a 256x192 input), but the model's 'simcc_x' has "
                             "shape [?,17,384]"),
    ("rtmo", "hrnet", "preset hrnet: expected its first output heatmaps [N, K, H/4, W/4], but the model's 'dets' "
                      "has shape [1,24,5]"),
    ("yolo-pose", "movenet", "preset movenet: expected a NHWC image input [N,H,W,3], but the model's 'images' has "
                             "shape [1,3,640,640]"),
])
def test_preset_that_does_not_fit_names_both_shapes(models, model, preset, message):
    with pytest.raises(UserError) as exc:
        load_model(models[model], spec=preset, device="cpu")
    assert str(exc.value) == message


def test_simcc_bins_must_be_input_size_times_ratio(models):
    spec = load_model(models["rtmpose"], spec="rtmpose", device="cpu").spec.to_dict()
    spec["output"]["split_ratio"] = 3
    with pytest.raises(UserError, match=r"spec input\.width=192 x output\.split_ratio=3 = 576 SimCC bins, but model "
                                        r"output 'simcc_x' has shape \[2,17,384\]"):
        load_model(models["rtmpose"], spec=spec, device="cpu")


def test_unknown_preset_or_missing_spec_file(models):
    with pytest.raises(UserError, match="--spec yolo: neither a spec file nor a preset"):
        load_model(models["yolo-pose"], spec="yolo", device="cpu")
    with pytest.raises(UserError, match="model spec file not found"):
        load_model(models["yolo-pose"], spec="missing.spec.json", device="cpu")
