"""End to end: real models on the real ../shared samples, real builder output, reference scorers.

- MoveNet and BlazePose on COCO with GT boxes land within tens of pixels of the ground truth;
- the AP in results.json equals pycocotools' COCOeval run directly on the written predictions;
- detections are used as given and their sha256 recorded; corrupted conditions come from a real
  `robustpose-bench build`; `score` on eval's predictions reproduces eval's rows;
- a small torch model gives the same results through ONNX and TorchScript; MPII geometry is checked
  with a model whose answer is known;
- user mistakes give one-line errors (exit 2).
"""
from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest

from robustpose_bench.atomic import sha256_file
from robustpose_bench.cli import main
from robustpose_bench.errors import UserError
from robustpose_bench.datasets.coco import coco_gt_instances
from robustpose_bench.evaluation import EvalOptions, run_eval
from robustpose_bench.evaluation import predict_topdown as predict
from robustpose_bench.models.loader import load_model
from test_models import doc_specs, export_tiny

# torch marks TorchScript deprecated; it is still what users export and what we must load
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")


@pytest.fixture(scope="module")
def coco(shared_dir) -> dict:
    d = shared_dir / "data" / "coco_sample"
    return {"images": d, "ann": d / "test_coco.json", "dets": d / "test_coco_det_AP_H_56.json"}


@pytest.fixture(scope="module")
def spec_files(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("specs")
    out = {}
    for name, spec in doc_specs().items():
        out[name] = d / f"{name}.spec.json"
        out[name].write_text(json.dumps(spec))
    return out


@pytest.fixture(scope="module")
def built(tmp_path_factory, coco) -> Path:
    """COCO-C of the 4 sample images, gaussian_noise and motion_blur at severity 1, by the real builder."""
    out = tmp_path_factory.mktemp("built")
    with contextlib.redirect_stdout(io.StringIO()):
        rc = main(["build", "coco-c", "--images", str(coco["images"]), "--ann", str(coco["ann"]), "--data", str(out),
                   "--corruptions", "gaussian_noise,motion_blur", "--severities", "1", "--jobs", "1", "--no-progress"])
    assert rc == 0
    return out


def direct_cocoeval(ann: Path, results: Path) -> list[float]:
    """pycocotools run directly, as HRNet's coco.py does: the reference the reported AP must equal."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(ann))
        dt = gt.loadRes(str(results))
        ev = COCOeval(gt, dt, "keypoints")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return [float(v) for v in ev.stats]


def rows_of(results: dict, condition: str = "clean", severity: int = 0) -> dict[str, float]:
    return {r["metric"]: r["value"] for r in results["rows"] if r["corruption"] == condition and r["severity"] == severity}


STATS = ("AP", "AP50", "AP75", "APM", "APL", "AR", "AR50", "AR75", "ARM", "ARL")


# ----------------------------------------------------------------------------------------------
# real models, real data


@pytest.mark.parametrize("name, max_mean_px", [("movenet_lightning_int8", 20.0), ("blazepose_landmark_lite", 30.0)])
def test_predictions_land_near_ground_truth(shared_dir, coco, spec_files, name, max_mean_px):
    model = load_model(shared_dir / "models" / f"{name}.onnx", spec=spec_files[name], device="auto")
    ann = json.loads(coco["ann"].read_text())
    inst = coco_gt_instances(ann, model.spec.input.width / model.spec.input.height)
    gts = np.array([np.reshape(a["keypoints"], (17, 3)) for img in ann["images"] for a in ann["annotations"]
                    if a["image_id"] == img["id"] and max(a["keypoints"]) > 0])
    assert len(gts) == len(inst) == 12  # 14 people, 2 without labelled keypoints
    p = predict(model, inst, lambda f: coco["images"] / f, "coco", flip=True, batch=4, workers=2)
    vis = gts[..., 2] > 0
    d = np.linalg.norm(p.coords - gts[..., :2], axis=2)
    assert d[vis].mean() < max_mean_px
    assert np.median(d[vis]) < max_mean_px / 2
    if name.startswith("movenet"):  # ../shared/README.md: about 8 px on image 785
        assert d[0][vis[0]].mean() < 12.0
    assert ((p.scores >= 0) & (p.scores <= 1)).all()


def test_movenet_ap_equals_pycocotools_direct(shared_dir, coco, spec_files, tmp_path):
    res = run_eval(EvalOptions(
        model=shared_dir / "models" / "movenet_lightning_int8.onnx", spec=spec_files["movenet_lightning_int8"],
        dataset="coco-c", images=coco["images"], ann=coco["ann"], partial=True,
        output=tmp_path / "results.json", progress=False, batch=8))
    pred = tmp_path / "predictions" / "clean" / "results.json"
    assert pred.is_file() and json.loads((tmp_path / "results.json").read_text()) == res
    ours = rows_of(res)
    assert [ours[s] for s in STATS] == direct_cocoeval(coco["ann"], pred)
    assert 0.4 < ours["AP"] <= 1.0
    prov = res["provenance"]
    assert prov["model"]["sha256"] == sha256_file(shared_dir / "models" / "movenet_lightning_int8.onnx")
    assert prov["model"]["spec"]["name"] == "movenet_lightning_int8" and prov["flip"] is False  # the spec's flip_test: false (MoveNet's protocol)
    assert prov["boxes"] == {"source": "gt", "sha256": sha256_file(coco["ann"])}  # GT boxes: the annotation file
    assert prov["data"]["annotations_sha256"] == sha256_file(coco["ann"])
    assert prov["execution_provider"] in ("CPUExecutionProvider", "CUDAExecutionProvider")
    assert prov["predictions"]["files"]["clean"] == sha256_file(pred)
    assert res["summary"]["partial"] is True and res["config"]["input_size"] == "192x192"


def test_detections_are_used_and_recorded(shared_dir, coco, spec_files, tmp_path):
    res = run_eval(EvalOptions(
        model=shared_dir / "models" / "movenet_lightning_int8.onnx", spec=spec_files["movenet_lightning_int8"],
        dataset="coco-c", images=coco["images"], ann=coco["ann"], boxes=str(coco["dets"]), partial=True,
        output=tmp_path / "results.json", progress=False, flip=False))
    pred = tmp_path / "predictions" / "clean" / "results.json"
    entries = json.loads(pred.read_text())
    assert 0 < len(entries) < 118  # OKS-NMS removed some of the 118 detections
    assert [rows_of(res)[s] for s in STATS] == direct_cocoeval(coco["ann"], pred)
    boxes = res["provenance"]["boxes"]
    assert boxes["sha256"] == sha256_file(coco["dets"]) and boxes["detections"] == 118
    # the box source by name and sha256, never by absolute path (a results file travels)
    assert res["provenance"]["flip"] is False and res["config"]["boxes"] == coco["dets"].name
    assert boxes["source"] == coco["dets"].name


def test_blazepose_ap_equals_pycocotools_direct(shared_dir, coco, spec_files, tmp_path):
    res = run_eval(EvalOptions(
        model=shared_dir / "models" / "blazepose_landmark_lite.onnx", spec=spec_files["blazepose_landmark_lite"],
        dataset="coco-c", images=coco["images"], ann=coco["ann"], partial=True,
        output=tmp_path / "results.json", progress=False))
    pred = tmp_path / "predictions" / "clean" / "results.json"
    assert [rows_of(res)[s] for s in STATS] == direct_cocoeval(coco["ann"], pred)
    assert 0.1 < rows_of(res)["AP"] <= 1.0


def test_corrupted_conditions_from_the_builder(shared_dir, coco, spec_files, built, tmp_path, capsys):
    out = tmp_path / "res" / "results.json"
    rc = main(["eval", str(shared_dir / "models" / "movenet_lightning_int8.onnx"),
               "--spec", str(spec_files["movenet_lightning_int8"]), "--dataset", "coco-c", "--data", str(built),
               "--images", str(coco["images"]), "--ann", str(coco["ann"]), "--partial", "--no-progress",
               "-o", str(out)])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "coco-c  AP  clean" in printed and "(partial)" in printed
    res = json.loads(out.read_text())
    assert res["config"]["conditions"] == ["clean", "gaussian_noise/1", "motion_blur/1"]
    assert res["provenance"]["manifest_sha256"] == sha256_file(built / "coco-c" / "manifest.json")
    assert res["provenance"]["seeds"]["master_seed"] is not None
    pred_dir = out.parent / "predictions"
    for key in ("clean", "gaussian_noise/1", "motion_blur/1"):
        p = pred_dir / key / "results.json"
        assert res["provenance"]["predictions"]["files"][key] == sha256_file(p)
    corrupted = rows_of(res, "gaussian_noise", 1)
    assert [corrupted[s] for s in STATS] == direct_cocoeval(coco["ann"], pred_dir / "gaussian_noise/1/results.json")
    # the same predictions re-scored by `score` give the same rows
    rescored = tmp_path / "rescored.json"
    with contextlib.redirect_stderr(io.StringIO()):
        assert main(["score", "--dataset", "coco-c", "--ann", str(coco["ann"]), "--predictions", str(pred_dir),
                     "--partial", "-o", str(rescored)]) == 0
    assert json.loads(rescored.read_text())["rows"] == res["rows"]


# ----------------------------------------------------------------------------------------------
# the small torch model through both backends; MPII


def test_onnx_and_torchscript_give_the_same_results(coco, tmp_path):
    onnx_path, ts_path, _ = export_tiny(tmp_path)
    results = {}
    for path in (onnx_path, ts_path):
        out = tmp_path / path.suffix[1:] / "results.json"
        results[path.suffix] = run_eval(EvalOptions(model=path, dataset="coco-c", images=coco["images"], ann=coco["ann"],
                                                    partial=True, output=out, progress=False, batch=5))
        preds = json.loads((out.parent / "predictions" / "clean" / "results.json").read_text())
        results[path.suffix + "/preds"] = np.array([p["keypoints"] for p in preds])
    a, b = results[".onnx"], results[".pt"]
    assert a["provenance"]["model"]["backend"] == "onnxruntime" and b["provenance"]["model"]["backend"] == "torchscript"
    np.testing.assert_allclose(results[".onnx/preds"], results[".pt/preds"], atol=1e-3)
    for ra, rb in zip(a["rows"], b["rows"]):
        assert ra["metric"] == rb["metric"] and ra["value"] == pytest.approx(rb["value"], abs=1e-9)


def test_mpii_geometry_with_a_known_answer(shared_dir, tmp_path):
    """A model that always answers 'the crop centre' must return HRNet's adjusted MPII centres."""
    import torch

    from robustpose_bench.metrics.pckh import load_mpii_gt, pckh
    from robustpose_bench.models.spec import MPII_FLIP_PAIRS, torchscript_extra_files

    class Centre(torch.nn.Module):
        def forward(self, x):
            n = x.shape[0]
            xy = torch.tensor([32.5, 32.5]).repeat(n, 16, 1)  # edge-based pixel coords of the centre of 64x64
            return torch.cat([xy, torch.ones(n, 16, 1)], dim=2) + 0 * x.mean()

    spec = {"format": "robustpose-model-spec/1", "name": "centre",
            "input": {"height": 64, "width": 64, "layout": "NCHW", "dtype": "float32"},
            "output": {"kind": "keypoints", "coords": "pixel", "order": "xy", "values_per_keypoint": 3,
                       "score_index": 2},
            "keypoints": {"num": 16, "dataset_map": {"mpii": list(range(16))}},
            "flip_pairs": [list(p) for p in MPII_FLIP_PAIRS]}
    path = tmp_path / "centre.pt"
    torch.jit.save(torch.jit.script(Centre()), str(path), _extra_files=torchscript_extra_files(spec))
    mpii = shared_dir / "data" / "mpii_sample"
    out = tmp_path / "results.json"
    res = run_eval(EvalOptions(model=path, dataset="mpii-c", images=mpii, ann=mpii / "test_mpii.json",
                               gt_mat=mpii / "gt_valid_subset5.mat", partial=True, output=out, progress=False,
                               flip=False))  # a constant answer is not mirror-consistent, so no flip test
    preds = np.array(json.loads((tmp_path / "predictions" / "clean" / "results.json").read_text()))
    entries = json.loads((mpii / "test_mpii.json").read_text())
    want = np.array([[e["center"][0] - 1, e["center"][1] + 15 * e["scale"] - 1] for e in entries])
    assert preds.shape == (5, 16, 2)
    np.testing.assert_allclose(preds, np.repeat(want[:, None], 16, axis=1), atol=1e-3)
    direct = pckh(load_mpii_gt(mpii / "gt_valid_subset5.mat"), preds).metrics()
    assert rows_of(res) == direct
    assert res["metric"] == "PCKh" and res["provenance"]["scorer"]["library"] == "hrnet-pckh"


# ----------------------------------------------------------------------------------------------
# errors


def run_cli(args: list[str], capsys) -> tuple[int, str]:
    rc = main(args)
    err = capsys.readouterr().err.strip().splitlines()
    return rc, err[-1] if err else ""


def test_errors_are_one_line(shared_dir, coco, spec_files, built, tmp_path, capsys):
    model = str(shared_dir / "models" / "movenet_lightning_int8.onnx")
    base = ["eval", model, "--spec", str(spec_files["movenet_lightning_int8"]), "--dataset", "coco-c",
            "--images", str(coco["images"]), "--ann", str(coco["ann"]), "--no-progress", "-o", str(tmp_path / "r.json")]
    rc, msg = run_cli(base + ["--data", str(tmp_path / "nothing")], capsys)
    assert rc == 2 and "coco-c was never built under" in msg and "robustpose-bench build coco-c" in msg
    rc, msg = run_cli(base + ["--data", str(built), "--corruptions", "fog", "--severities", "1"], capsys)
    assert rc == 2 and "missing built condition(s)" in msg and "fog/1" in msg
    rc, msg = run_cli(base + ["--data", str(built)], capsys)  # the grid is incomplete without --partial
    assert rc == 2 and "the benchmark needs clean + 15 corruptions x 5 severities" in msg and "--partial" in msg
    rc, msg = run_cli(base + ["--partial"] + ["--boxes", str(tmp_path / "nope.json")], capsys)
    assert rc == 2 and "detection file not found" in msg
    rc, msg = run_cli(["eval", str(tmp_path / "absent.onnx"), "--dataset", "coco-c", "--images", str(coco["images"]),
                       "--ann", str(coco["ann"]), "--partial"], capsys)
    assert rc == 2 and "model file not found" in msg


def test_incomplete_condition_names_the_file(shared_dir, coco, spec_files, built, tmp_path):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(built, data)
    (data / "coco-c" / "motion_blur" / "1" / "000000040083.jpg").unlink()
    with pytest.raises(UserError, match=r"condition motion_blur/1: 1 of 4 images missing .* e\.g\. 000000040083\.jpg"):
        run_eval(EvalOptions(model=shared_dir / "models" / "movenet_lightning_int8.onnx",
                             spec=spec_files["movenet_lightning_int8"], dataset="coco-c", data=data,
                             images=coco["images"], ann=coco["ann"], partial=True, output=tmp_path / "r.json",
                             progress=False))
    assert not (tmp_path / "r.json").exists()


def test_nan_model_and_wrong_dataset(coco, tmp_path, shared_dir):
    onnx_path, _, _ = export_tiny(tmp_path, nan=True)
    with pytest.raises(UserError, match="produced NaN or infinite values"):
        run_eval(EvalOptions(model=onnx_path, dataset="coco-c", images=coco["images"], ann=coco["ann"], partial=True,
                             output=tmp_path / "r.json", progress=False))
    # an MPII model has no COCO map (a COCO model on MPII-C gets partial PCKh: test_mpii_partial_e2e.py)
    mpii_model, _, _ = export_tiny(tmp_path / "g" if (tmp_path / "g").mkdir() is None else tmp_path,
                                   num_keypoints=16, dataset="mpii")
    with pytest.raises(UserError, match="no entry for 'coco'"):
        run_eval(EvalOptions(model=mpii_model, dataset="coco-c", images=coco["images"], ann=coco["ann"], partial=True,
                             output=tmp_path / "r.json", progress=False))


def test_synth_c_end_to_end_torchscript(tmp_path):
    """`build synth-c` then `eval` with no source flags: the generated source is found under OUT/synth."""
    out = tmp_path / "out"
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["build", "synth-c", "--data", str(out), "--synth-count", "4", "--corruptions", "contrast",
                     "--severities", "2", "--jobs", "1", "--no-progress"]) == 0
    _, ts_path, _ = export_tiny(tmp_path)
    res = run_eval(EvalOptions(model=ts_path, dataset="synth-c", data=out, partial=True,
                               output=tmp_path / "r" / "results.json", progress=False))
    assert res["config"]["conditions"] == ["clean", "contrast/2"]
    assert {(r["corruption"], r["severity"]) for r in res["rows"]} == {("clean", 0), ("contrast", 2)}
    assert res["provenance"]["model"]["backend"] == "torchscript"
    assert res["provenance"]["manifest_sha256"] == sha256_file(out / "synth-c" / "manifest.json")
    assert res["provenance"]["scorer"]["library"] == "pycocotools"


def test_batching_and_threads_do_not_change_predictions(coco, tmp_path):
    """Batch size, partial batches, worker count and prefetch depth must not change any prediction."""
    from robustpose_bench.datasets.coco import coco_det_instances

    onnx_path, _, _ = export_tiny(tmp_path)
    model = load_model(onnx_path, device="cpu")
    inst = coco_det_instances(json.loads(coco["ann"].read_text()), coco["dets"], 48 / 64)
    ref = predict(model, inst, lambda f: coco["images"] / f, "coco", batch=1, workers=1, prefetch=1)
    for batch, workers in ((7, 2), (64, 3), (500, 1)):
        p = predict(model, inst, lambda f: coco["images"] / f, "coco", batch=batch, workers=workers)
        np.testing.assert_allclose(p.coords, ref.coords, atol=1e-3)
        np.testing.assert_allclose(p.scores, ref.scores, atol=1e-5)


def test_ochuman_ap_equals_the_reference_directly(shared_dir, spec_files, tmp_path):
    """OCHuman: our AP equals pycocotools run directly, and xtcocotools as mmpose runs it (if importable)."""
    from robustpose_bench.results import SCORER_FOR_DATASET

    och = shared_dir / "data" / "ochuman_sample"
    res = run_eval(EvalOptions(
        model=shared_dir / "models" / "movenet_lightning_int8.onnx", spec=spec_files["movenet_lightning_int8"],
        dataset="ochuman-c", images=och, ann=och / "test_ochuman.json", partial=True,
        output=tmp_path / "results.json", progress=False))
    pred = tmp_path / "predictions" / "clean" / "results.json"
    ours = [rows_of(res)[s] for s in STATS]
    assert ours == direct_cocoeval(och / "test_ochuman.json", pred)
    assert res["provenance"]["scorer"]["library"] == SCORER_FOR_DATASET["ochuman-c"] and ours[0] > 0.1
    try:
        from xtcocotools.coco import COCO
        from xtcocotools.cocoeval import COCOeval
    except (ImportError, ValueError):  # wheels built against numpy 1.x cannot load under numpy 2
        return
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(och / "test_ochuman.json"))
        ev = COCOeval(gt, gt.loadRes(str(pred)), "keypoints", use_area=True)
        ev.params.useSegm = None
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    np.testing.assert_allclose(ours, [float(v) for v in ev.stats], rtol=0, atol=1e-12)
