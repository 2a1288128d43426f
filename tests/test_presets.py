"""Spec presets (`--spec NAME`), `list specs` and `inspect MODEL`.

A preset is a family's conventions plus sizes read off the model's shapes; on the two real models in
../shared the presets must give exactly the hand-written worked-example specs of docs/model_spec.md.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
from cli_helpers import run_cli
from model_factory import export_rtmo, export_rtmpose, export_yolo_pose
from test_models import doc_specs, export_tiny

from robustpose_bench.models.loader import load_model
from robustpose_bench.models.presets import PRESETS

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")




def without(d: dict, *keys: str) -> dict:
    return {k: v for k, v in d.items() if k not in keys}


@pytest.mark.parametrize("preset, model", [("movenet", "movenet_lightning_int8"),
                                           ("blazepose", "blazepose_landmark_lite")])
def test_presets_equal_the_worked_examples_on_the_real_models(shared_dir, preset, model):
    m = load_model(shared_dir / "models" / f"{model}.onnx", spec=preset, device="cpu")
    got = m.spec.to_dict()
    assert got["x_preset"] == preset and m.spec_source == f"preset:{preset}"
    want = doc_specs()[model]
    for d in (got, want):
        d["keypoints"].pop("names")  # optional labels: the preset names COCO's 17, the examples leave them out
    assert without(got, "x_preset", "name") == without(want, "name")
    assert got["keypoints"]["dataset_map"] == want["keypoints"]["dataset_map"]


def test_heatmap_presets_read_stride_and_keypoints_and_differ_in_channel_order(tmp_path):
    onnx = export_tiny(tmp_path, embed=False)[0]
    rgb = load_model(onnx, spec="hrnet", device="cpu").spec
    bgr = load_model(onnx, spec="simplebaseline", device="cpu").spec
    assert (rgb.input.height, rgb.input.width, rgb.output.stride, rgb.keypoints.num) == (64, 48, 4, 17)
    assert rgb.input.channel_order == "RGB" and bgr.input.channel_order == "BGR"
    assert rgb.dataset_indices("coco") == tuple(range(17))
    (tmp_path / "mpii").mkdir()
    mpii = export_tiny(tmp_path / "mpii", num_keypoints=16, dataset="mpii", embed=False)[0]
    assert load_model(mpii, spec="hrnet", device="cpu").spec.dataset_indices("mpii") == tuple(range(16))


def test_every_registered_preset_is_documented_and_listed():
    rc, out, _ = run_cli("list", "specs")
    assert rc == 0
    lines = out.strip().splitlines()
    assert lines[0].split()[:2] == ["name", "family"]
    assert [ln.split()[0] for ln in lines[1:]] == list(PRESETS)
    docs = (Path(__file__).resolve().parents[1] / "docs" / "model_spec.md").read_text("utf-8")
    for name in PRESETS:
        assert f"`--spec {name}`" in docs, name  # a worked example per preset
    rc, out, _ = run_cli("list", "specs", "rtm*")
    assert [ln.split()[0] for ln in out.strip().splitlines()[1:]] == ["rtmo", "rtmo-rtmlib", "rtmpose"]
    rc, _, err = run_cli("list", "specs", "nothing*")
    assert rc == 1 and "no spec preset matches" in err  # nothing to list: exit 1, as for corruptions


def test_inspect_reports_tensors_fitting_presets_and_the_spec(tmp_path, shared_dir):
    rc, out, _ = run_cli("inspect", export_yolo_pose(tmp_path))
    assert rc == 0
    assert "images  [1,3,640,640]  float32" in out and "output0  [1,56,8400]" in out
    assert "yolo-pose       fits" in out and "rtmo            no: preset rtmo" in out
    assert "suggested spec (preset yolo-pose" in out and '"align": "center"' in out
    assert "from the yolo-pose family's conventions (not from the file)" in out
    rc, out, _ = run_cli("inspect", shared_dir / "models" / "movenet_lightning_int8.onnx")
    assert rc == 0 and "movenet         fits" in out and "blazepose       no:" in out


def test_inspect_without_a_fitting_preset_prints_a_skeleton_and_what_it_could_not_infer(tmp_path):
    import torch

    class Odd(torch.nn.Module):
        def forward(self, x):
            return x.mean(dim=(2, 3))[:, :2].repeat(1, 5)  # [N, 10]: no family's output

    p = tmp_path / "odd.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Odd(), (torch.zeros(1, 3, 96, 64),), str(p), input_names=["x"], output_names=["y"],
                          dynamo=False)
    rc, out, _ = run_cli("inspect", p)
    assert rc == 0 and "spec eval would use: none that works" in out
    assert "spec skeleton (no preset fits" in out
    skel = json.loads(out.split("fill every FILL, see `robustpose-bench docs model_spec`):\n", 1)[1].split("\ncould not infer")[0])
    assert skel["input"]["height"] == 96 and skel["input"]["width"] == 64 and skel["input"]["layout"] == "NCHW"
    assert skel["output"]["kind"] == "FILL"
    assert "could not infer from the file: output.kind and its fields; keypoints.dataset_map" in out
    rc, out, _ = run_cli("inspect", p, "--write-spec", tmp_path / "odd.spec.json")
    assert rc == 0 and json.loads((tmp_path / "odd.spec.json").read_text()) == skel
    assert out.endswith(f"wrote the skeleton (fill every FILL before `eval --spec` reads it) to {tmp_path / 'odd.spec.json'}\n")


def test_inspect_write_spec_writes_the_spec_eval_then_reads(tmp_path, shared_dir):
    """Issue 24: the spec to start from, as a file, not 150 lines cut out of mixed text."""
    from robustpose_bench.models.loader import load_model

    model = shared_dir / "models" / "movenet_lightning_int8.onnx"
    out_spec = tmp_path / "movenet.spec.json"
    rc, out, err = run_cli("inspect", model, "--write-spec", out_spec)
    assert rc == 0, err
    assert out.endswith(f"wrote the movenet preset's spec to {out_spec}\n")
    assert load_model(model, spec=out_spec, device="cpu").spec == load_model(model, spec="movenet", device="cpu").spec
    before = out_spec.read_bytes()
    rc, _, err = run_cli("inspect", model, "--write-spec", out_spec)
    assert rc == 2 and "exists: pass --overwrite" in err and out_spec.read_bytes() == before
    assert run_cli("inspect", model, "--write-spec", out_spec, "--overwrite")[0] == 0
    rc, _, err = run_cli("inspect", model, "--write-spec", model)
    assert rc == 2 and "is the model" in err and len(err.strip().splitlines()) == 1


def test_eval_with_preset_equals_eval_with_the_doc_spec(shared_dir, tmp_path):
    d = shared_dir / "data" / "coco_sample"
    spec = tmp_path / "movenet.spec.json"
    spec.write_text(json.dumps(doc_specs()["movenet_lightning_int8"]))
    rows = []
    for i, s in enumerate((str(spec), "movenet")):
        rc, _, err = run_cli("eval", shared_dir / "models" / "movenet_lightning_int8.onnx", "--spec", s,
                             "--dataset", "coco-c", "--images", d, "--ann", d / "test_coco.json", "--partial",
                             "-o", tmp_path / f"r{i}" / "r.json", "--no-progress")
        assert rc == 0, err
        rows.append(json.loads((tmp_path / f"r{i}" / "r.json").read_text())["rows"])
    assert rows[0] == rows[1]


def test_all_families_presets_load_the_factory_models(tmp_path):
    rtmo = export_rtmo(tmp_path)
    assert load_model(rtmo, spec="rtmo", device="cpu").spec.input.resize == "bottomup"  # mmpose's protocol
    assert load_model(rtmo, spec="rtmo-rtmlib", device="cpu").spec.input.align == "top-left"  # rtmlib's
    s = load_model(export_rtmpose(tmp_path), spec="rtmpose", device="cpu").spec
    assert s.output.split_ratio == 2.0 and s.output.score == "min" and s.input.crop == "mmpose"


@pytest.mark.parametrize("preset, factory, name", [("yolo-pose", export_yolo_pose, "yolo_pose_tiny"),
                                                   ("rtmo", export_rtmo, "rtmo_tiny"),
                                                   ("rtmpose", export_rtmpose, "rtmpose_tiny")])
def test_docs_worked_examples_are_what_the_presets_give(tmp_path, preset, factory, name):
    import dataclasses

    from robustpose_bench.models.spec import parse_spec

    got = load_model(factory(tmp_path), spec=preset, device="cpu").spec
    got = dataclasses.replace(got, keypoints=dataclasses.replace(got.keypoints, names=None))
    assert got == parse_spec(doc_specs()[name])
