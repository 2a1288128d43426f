"""One run owns its predictions folder; names from files never become unchecked paths; outputs never
overwrite inputs; AdvMix-layout trees are never read shifted (issue 10, the evaluator's classes).

Each test reproduces a failure of the evaluator before the run identity existed.
"""
from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import run_cli
from test_models import export_tiny

from robustpose_bench.cli import main
from robustpose_bench.errors import UserError
from robustpose_bench.models.loader import load_model
from robustpose_bench.models.spec import parse_spec

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")




@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory) -> tuple[Path, Path]:
    """Two different small heatmap models (another seed changes the weights, so the sha256)."""
    a = export_tiny(tmp_path_factory.mktemp("a"))[0]
    b_dir = tmp_path_factory.mktemp("b")
    import torch

    b = export_tiny(b_dir)[0]
    import onnx

    m = onnx.load(str(b))
    m.graph.initializer[0].raw_data = (np.frombuffer(m.graph.initializer[0].raw_data, np.float32) * 1.5).tobytes()
    onnx.save(m, str(b))
    assert a.read_bytes() != b.read_bytes() and torch is not None
    return a, b


def eval_argv(sample: dict, model: Path, out: Path, *extra) -> list:
    return ["eval", model, "--dataset", "coco-c", "--images", sample["images"], "--ann", sample["ann"],
            "--data", sample["data"], "--partial", "-o", out, "--no-progress", *extra]


def strip_time(res: dict) -> dict:
    res = json.loads(json.dumps(res))
    res["provenance"].pop("timestamp_utc", None)
    return res


def test_rerun_resumes_finished_conditions(built_samples, tiny_models, tmp_path, monkeypatch):
    sample = built_samples["coco-c"]
    rc, _, err = run_cli(*eval_argv(sample, tiny_models[0], tmp_path / "r.json"))
    assert rc == 0, err
    first = json.loads((tmp_path / "r.json").read_text())
    records = sorted((tmp_path / "predictions").rglob("condition.json"))
    assert len(records) == 3
    # the same command again predicts nothing: every condition is finished
    import robustpose_bench.evaluation.topdown_predictor as tp

    monkeypatch.setattr(tp, "predict_topdown", lambda *a, **k: pytest.fail("a finished condition was recomputed"))
    rc, _, err = run_cli(*eval_argv(sample, tiny_models[0], tmp_path / "r.json"))
    assert rc == 0, err
    assert strip_time(json.loads((tmp_path / "r.json").read_text())) == strip_time(first)
    # a damaged prediction file is not trusted: that condition alone is recomputed
    monkeypatch.undo()
    (tmp_path / "predictions" / "motion_blur" / "1" / "results.json").write_text("[]")
    calls = []
    real = tp.predict_topdown
    monkeypatch.setattr(tp, "predict_topdown", lambda *a, **k: calls.append(1) or real(*a, **k))
    rc, _, err = run_cli(*eval_argv(sample, tiny_models[0], tmp_path / "r.json"))
    assert rc == 0 and len(calls) == 1
    assert strip_time(json.loads((tmp_path / "r.json").read_text())) == strip_time(first)


def test_another_run_is_refused_and_overwrite_replaces_it(built_samples, tiny_models, tmp_path):
    sample = built_samples["coco-c"]
    assert run_cli(*eval_argv(sample, tiny_models[0], tmp_path / "a.json"))[0] == 0
    before = {p: p.read_bytes() for p in (tmp_path / "predictions").rglob("*.json")}
    rc, _, err = run_cli(*eval_argv(sample, tiny_models[1], tmp_path / "b.json"))
    assert rc == 2 and "holds another run's predictions (different model_sha256" in err
    assert "--overwrite" in err and len(err.strip().splitlines()) == 1
    assert {p: p.read_bytes() for p in (tmp_path / "predictions").rglob("*.json")} == before
    assert not (tmp_path / "b.json").exists()
    rc, _, err = run_cli(*eval_argv(sample, tiny_models[1], tmp_path / "b.json", "--overwrite"))
    assert rc == 0, err
    run = json.loads((tmp_path / "predictions" / "run.json").read_text())
    assert run["identity"]["model_sha256"] != json.loads(before[tmp_path / "predictions" / "run.json"])["identity"][
        "model_sha256"]
    recs = [json.loads(p.read_text()) for p in (tmp_path / "predictions").rglob("condition.json")]
    assert len(recs) == 3 and {r["run_id"] for r in recs} == {run["run_id"]}


def test_gt_and_detection_runs_do_not_share_the_default_folder(built_samples, tiny_models, tmp_path, shared_dir):
    """The issue's case: two evals (GT boxes, detections) writing the default predictions/ folder."""
    sample = built_samples["coco-c"]
    dets = shared_dir / "data" / "coco_sample" / "test_coco_det_AP_H_56.json"
    assert run_cli(*eval_argv(sample, tiny_models[0], tmp_path / "gt.json"))[0] == 0
    rc, _, err = run_cli(*eval_argv(sample, tiny_models[0], tmp_path / "det.json", "--boxes", dets))
    assert rc == 2 and "different boxes" in err
    gt = json.loads((tmp_path / "gt.json").read_text())
    for key, sha in gt["provenance"]["predictions"]["files"].items():  # the GT results still cite true hashes
        from robustpose_bench.atomic import sha256_file

        assert sha256_file(tmp_path / "predictions" / key / "results.json") == sha


def test_score_refuses_predictions_of_different_runs(built_samples, tiny_models, tmp_path):
    sample = built_samples["coco-c"]
    assert run_cli(*eval_argv(sample, tiny_models[0], tmp_path / "a" / "r.json"))[0] == 0
    assert run_cli(*eval_argv(sample, tiny_models[1], tmp_path / "b" / "r.json"))[0] == 0
    mixed = tmp_path / "a" / "predictions"
    shutil.rmtree(mixed / "motion_blur")
    shutil.copytree(tmp_path / "b" / "predictions" / "motion_blur", mixed / "motion_blur")
    rc, _, err = run_cli("score", "--dataset", "coco-c", "--ann", sample["ann"], "--predictions", mixed, "--partial",
                         "-o", tmp_path / "s.json")
    assert rc == 2 and "prediction files from different runs" in err and not (tmp_path / "s.json").exists()
    # hand-made predictions (no run records at all) are still scored
    plain = tmp_path / "plain"
    for f in (tmp_path / "b" / "predictions").rglob("results.json"):
        dst = plain / f.relative_to(tmp_path / "b" / "predictions")
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(f, dst)
    assert run_cli("score", "--dataset", "coco-c", "--ann", sample["ann"], "--predictions", plain, "--partial",
                   "-o", tmp_path / "s.json")[0] == 0


@pytest.mark.parametrize("target", ["model", "ann"])
def test_output_that_is_an_input_is_refused(built_samples, tiny_models, tmp_path, target):
    sample = built_samples["coco-c"]
    model = tmp_path / "m.onnx"
    shutil.copyfile(tiny_models[0], model)
    ann = tmp_path / "ann.json"
    shutil.copyfile(sample["ann"], ann)
    keep = {model: model.read_bytes(), ann: ann.read_bytes()}
    out = model if target == "model" else ann
    rc, _, err = run_cli("eval", model, "--dataset", "coco-c", "--images", sample["images"], "--ann", ann,
                         "--partial", "-o", out, "--no-progress")
    assert rc == 2 and "would destroy an input" in err
    assert {p: p.read_bytes() for p in keep} == keep


def test_predictions_never_go_into_the_image_folder(built_samples, tiny_models, tmp_path):
    sample = built_samples["coco-c"]
    images = tmp_path / "images"
    shutil.copytree(sample["images"], images)
    rc, _, err = run_cli("eval", tiny_models[0], "--dataset", "coco-c", "--images", images, "--ann", sample["ann"],
                         "--partial", "-o", tmp_path / "r.json", "--predictions-out", images / "preds", "--no-progress")
    assert rc == 2 and "inside the image folder" in err and not (images / "preds").exists()


@pytest.mark.parametrize("edit, message", [
    (lambda m: m["corruptions"].append("../../escape"), "field 'corruptions' is"),
    (lambda m: m["severities"].append(7), "expected a list of distinct integers 1..5"),
    (lambda m: m["items"][0].update(output="../../../results.json"),
     "items[0].output: '../../../results.json' must not hold empty, '.' or '..' parts"),
    (lambda m: m["items"][0].update(source="/etc/passwd"), "items[0].source: '/etc/passwd' must be relative"),
    (lambda m: m["items"][0].update(output="motion_blur/1/x.jpg"), "is not the path its fields give"),
])
def test_manifest_names_are_checked_before_any_path(built_samples, tiny_models, tmp_path, edit, message):
    sample = built_samples["coco-c"]
    data = tmp_path / "data"
    shutil.copytree(sample["data"] / "coco-c", data / "coco-c")
    mpath = data / "coco-c" / "manifest.json"
    m = json.loads(mpath.read_text())
    edit(m)
    mpath.write_text(json.dumps(m))
    work = tmp_path / "work" / "deep"
    work.mkdir(parents=True)
    rc, _, err = run_cli("eval", tiny_models[0], "--dataset", "coco-c", "--images", sample["images"], "--ann",
                         sample["ann"], "--data", data, "--partial", "-o", work / "r.json", "--no-progress")
    assert rc == 2 and message in err
    assert not list(tmp_path.rglob("results.json")) and not (work / "r.json").exists()


def test_advmix_layout_is_never_read_shifted(shared_dir, tiny_models, tmp_path):
    """AdvMix's own trees have severity folders 0..4; without a manifest saying so, eval refuses."""
    d = shared_dir / "data" / "coco_sample"
    common = ["--images", d, "--ann", d / "test_coco.json", "--corruptions", "gaussian_noise",
              "--severities", "1,2", "--jobs", "1", "--no-progress"]
    with contextlib.redirect_stdout(io.StringIO()):
        assert main([str(a) for a in ["build", "coco-c", "--data", tmp_path / "std", *common]]) == 0
        assert main([str(a) for a in ["build", "coco-c", "--data", tmp_path / "adv", "--layout", "advmix", *common]]) == 0
    assert (tmp_path / "adv" / "coco-c" / "gaussian_noise" / "0").is_dir()

    def ev(data: Path, out: str, *extra) -> dict:
        rc, _, err = run_cli("eval", tiny_models[0], "--dataset", "coco-c", "--images", d, "--ann",
                             d / "test_coco.json", "--data", data, "--partial", "-o", tmp_path / out / "r.json",
                             "--no-progress", *extra)
        assert rc == 0, err
        return {(r["corruption"], r["severity"], r["metric"]): r["value"]
                for r in json.loads((tmp_path / out / "r.json").read_text())["rows"]}

    want = ev(tmp_path / "std", "e1")
    assert ev(tmp_path / "adv", "e2") == want  # the manifest says advmix: folder 0 is severity 1
    (tmp_path / "adv" / "coco-c" / "manifest.json").unlink()  # an AdvMix tree as its own script writes it
    rc, _, err = run_cli("eval", tiny_models[0], "--dataset", "coco-c", "--images", d, "--ann", d / "test_coco.json",
                         "--data", tmp_path / "adv", "--partial", "-o", tmp_path / "e3" / "r.json", "--no-progress")
    assert rc == 2 and "pass --layout advmix" in err and not (tmp_path / "e3").exists()
    assert ev(tmp_path / "adv", "e4", "--layout", "advmix") == want


@pytest.mark.parametrize("edit, message", [
    (lambda d: d["input"].update(mean=[float("nan"), 0, 0]), "input.mean must be finite numbers"),
    (lambda d: d["input"].update(std=[1, float("inf"), 1]), "input.std must be finite numbers"),
    (lambda d: d["input"].update(height=10 ** 9), "input.height must be at most 8192"),
    (lambda d: d["output"].update(stride=float("nan")), "output.stride must be a finite number"),
])
def test_spec_values_that_would_crash_are_refused(tiny_models, edit, message):
    spec = load_model(tiny_models[0], device="cpu").spec.to_dict()
    edit(spec)
    with pytest.raises(UserError, match=message):
        parse_spec(spec)


def test_training_checkpoint_and_non_torchscript_pt_are_named(tmp_path):
    import torch

    ckpt = tmp_path / "epoch_10.pth"
    torch.save({"state_dict": {"w": torch.zeros(2)}, "epoch": 10}, str(ckpt))
    rc, _, err = run_cli("eval", ckpt, "--dataset", "coco-c", "--images", tmp_path, "--ann", tmp_path / "a.json")
    assert rc == 2 and "is a training checkpoint (torch.save), not a runnable model: run `robustpose-bench export" in err
    bogus = tmp_path / "model.pt"
    bogus.write_bytes(b"\x01\x02 definitely not a model")
    with pytest.raises(UserError, match="not a TorchScript archive \\(not a zip file\\), and not an ONNX model either"):
        load_model(bogus, device="cpu")


def test_changed_thresholds_mark_the_run_non_standard(built_samples, tiny_models, tmp_path):
    sample = built_samples["coco-c"]
    assert run_cli(*eval_argv(sample, tiny_models[0], tmp_path / "std" / "r.json"))[0] == 0
    rc, _, err = run_cli(*eval_argv(sample, tiny_models[0], tmp_path / "nms" / "r.json", "--oks-thr", "0.5",
                                    "--in-vis-thr", "0.3"))
    assert rc == 0, err
    std, nms = (json.loads((tmp_path / d / "r.json").read_text())["config"] for d in ("std", "nms"))
    assert std["non_standard"] == [] and std["oks_thr"] == 0.9 and std["det_thr"] == 0.0 and "oks_nms" not in std
    assert nms["non_standard"] == ["in_vis_thr", "oks_thr"] and nms["oks_thr"] == 0.5
    rc, out, _ = run_cli("table", tmp_path / "std" / "r.json", tmp_path / "nms" / "r.json")
    assert "(non-standard: keypoint threshold 0.3, OKS-NMS 0.5)" in out
    assert out.count("non-standard") == 1
    rc, _, err = run_cli(*eval_argv(sample, tiny_models[0], tmp_path / "bad" / "r.json", "--oks-thr", "1.5"))
    assert rc == 2 and "--oks-thr must be a number in 0..1" in err
