"""Model spec, loader and backends on the real shared ONNX models and a small torch model.

The torch heatmap model is exported to ONNX and TorchScript with the spec embedded; both backends
must load it without --spec and give the same outputs. Spec/model mismatches must fail naming the
field and the model's real shape.
"""
from __future__ import annotations

import copy
import json
import re
import warnings
from pathlib import Path

import numpy as np
import pytest

from robustpose_bench.errors import UserError
from robustpose_bench.models.loader import load_model
from robustpose_bench.models.spec import (
    COCO_FLIP_PAIRS,
    ONNX_METADATA_KEY,
    embed_spec_onnx_file,
    heatmap_model_spec,
    parse_spec,
    torchscript_extra_files,
)

# torch marks TorchScript deprecated; it is still what users export and what we must load
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")

REPO = Path(__file__).resolve().parents[1]


def doc_specs() -> dict[str, dict]:
    """The worked-example specs in docs/model_spec.md, by name: the docs must be runnable as written."""
    text = (REPO / "docs" / "model_spec.md").read_text("utf-8")
    out = {}
    for block in re.findall(r"```json\n(.*?)```", text, flags=re.S):
        obj = json.loads(block)
        out[obj["name"]] = obj
    return out


@pytest.fixture(scope="module")
def specs() -> dict[str, dict]:
    s = doc_specs()
    assert {"movenet_lightning_int8", "blazepose_landmark_lite"} <= set(s)
    return s


@pytest.fixture(scope="module")
def movenet(shared_dir):
    return shared_dir / "models" / "movenet_lightning_int8.onnx"


@pytest.fixture(scope="module")
def blazepose(shared_dir):
    return shared_dir / "models" / "blazepose_landmark_lite.onnx"


# ----------------------------------------------------------------------------------------------
# a small heatmap model, exported both ways with the spec embedded


def make_tiny_net(num_keypoints: int = 17, nan: bool = False):
    import torch
    import torch.nn as nn

    class TinyHeatmapNet(nn.Module):
        """Two stride-2 convs and a 1x1 head: NCHW (N,3,64,48) -> NKHW (N,K,16,12), stride 4."""

        def __init__(self) -> None:
            super().__init__()
            self.c1 = nn.Conv2d(3, 8, 3, stride=2, padding=1)
            self.c2 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
            self.head = nn.Conv2d(16, num_keypoints, 1)

        def forward(self, x):
            y = self.head(torch.relu(self.c2(torch.relu(self.c1(x)))))
            return y * float("nan") if nan else y

    torch.manual_seed(0)
    return TinyHeatmapNet().eval()


def export_tiny(tmp: Path, num_keypoints: int = 17, dataset: str = "coco", nan: bool = False,
                embed: bool = True) -> tuple[Path, Path, dict]:
    """(onnx path, torchscript path, spec dict) of the tiny model."""
    import torch

    net = make_tiny_net(num_keypoints, nan)
    spec = heatmap_model_spec("tiny_heatmap", 64, 48, dataset=dataset,
                              input_name="image", output_name="heatmaps")
    onnx_path = tmp / "tiny.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (torch.zeros(1, 3, 64, 48),), str(onnx_path), input_names=["image"],
                          output_names=["heatmaps"], dynamic_axes={"image": {0: "n"}, "heatmaps": {0: "n"}},
                          opset_version=17, dynamo=False)
    ts_path = tmp / "tiny.pt"
    scripted = torch.jit.trace(net, torch.zeros(1, 3, 64, 48))
    if embed:
        embed_spec_onnx_file(onnx_path, spec)
        torch.jit.save(scripted, str(ts_path), _extra_files=torchscript_extra_files(spec))
    else:
        torch.jit.save(scripted, str(ts_path))
    return onnx_path, ts_path, spec.to_dict()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return export_tiny(tmp_path_factory.mktemp("tiny"))


# ----------------------------------------------------------------------------------------------
# spec parsing


def test_spec_round_trip_and_helpers():
    s = heatmap_model_spec("hrnet", 256, 192)
    assert parse_spec(s.to_json()) == s
    assert s.flip_pairs == COCO_FLIP_PAIRS
    perm = s.flip_permutation()
    assert perm[1] == 2 and perm[2] == 1 and perm[0] == 0 and sorted(perm) == list(range(17))
    m = heatmap_model_spec("hrnet_mpii", 256, 256, dataset="mpii")
    assert m.keypoints.num == 16 and m.dataset_indices("mpii") == tuple(range(16))
    with pytest.raises(UserError, match="no entry for 'coco'"):
        m.dataset_indices("coco")


def test_doc_specs_parse_exactly(specs):
    mv = parse_spec(specs["movenet_lightning_int8"])
    assert mv.input.dtype == "uint8" and mv.output.order == "yx" and mv.output.score_index == 2
    bp = parse_spec(specs["blazepose_landmark_lite"])
    assert bp.keypoints.num == 39 and bp.input.std == (255.0, 255.0, 255.0)
    assert bp.dataset_indices("coco") == (0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28)
    # The example in MODEL_SPEC (both heatmap and keypoint fields present) is accepted as is.
    both = copy.deepcopy(specs["movenet_lightning_int8"])
    both["output"].update({"layout": "NKHW", "stride": 4})
    assert parse_spec(both).output.kind == "keypoints"


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.pop("format"), "format is missing"),
    (lambda d: d.__setitem__("format", "v2"), "format must be"),
    (lambda d: d["input"].__setitem__("layout", "CHW"), "input.layout must be one of NCHW, NHWC"),
    (lambda d: d["input"].__setitem__("chanel_order", "RGB"), "input.chanel_order is not a known field"),
    (lambda d: d["input"].__setitem__("height", 0), "input.height must be a positive integer"),
    (lambda d: d["input"].__setitem__("std", [1, 0, 1]), "input.std must be positive"),
    (lambda d: d["output"].__setitem__("kind", "boxes"), "output.kind must be one of heatmaps, keypoints"),
    (lambda d: d["output"].pop("order"), "output.order is missing"),
    (lambda d: d["output"].__setitem__("score_index", 1), "output.score_index must be in 2..2"),
    (lambda d: d["keypoints"]["dataset_map"].__setitem__("coco", [0] * 16), "must list 17 model indices"),
    (lambda d: d["keypoints"]["dataset_map"].__setitem__("coco", list(range(1, 18))), "outside the model's 0..16"),
    (lambda d: d["keypoints"]["dataset_map"].__setitem__("h36m", [0] * 17), "unknown keypoint set"),
    (lambda d: d.__setitem__("flip_pairs", [[1, 2], [2, 3]]), "reuses a keypoint"),
])
def test_spec_errors_name_the_field(specs, mutate, message):
    d = copy.deepcopy(specs["movenet_lightning_int8"])
    mutate(d)
    with pytest.raises(UserError, match=re.escape(message)):
        parse_spec(d)


def test_spec_extra_x_fields_kept(specs):
    d = copy.deepcopy(specs["movenet_lightning_int8"])
    d["x_training"] = {"epochs": 3}
    s = parse_spec(d)
    assert s.extra == {"x_training": {"epochs": 3}} and s.to_dict()["x_training"] == {"epochs": 3}


def test_spec_not_json(tmp_path):
    p = tmp_path / "bad.spec.json"
    p.write_text("{not json")
    with pytest.raises(UserError, match="not valid JSON"):
        from robustpose_bench.models.spec import load_spec_file
        load_spec_file(p)


# ----------------------------------------------------------------------------------------------
# the real shared models


def test_movenet_loads_with_doc_spec(movenet, specs, tmp_path):
    p = tmp_path / "spec.json"
    p.write_text(json.dumps(specs["movenet_lightning_int8"]))
    m = load_model(movenet, spec=p, device="auto")
    assert m.max_batch == 1 and m.format == "onnx" and m.output_shape == (1, 17, 3)
    assert m.provider in ("CPUExecutionProvider", "CUDAExecutionProvider")
    assert m.sha256 == __import__("hashlib").sha256(movenet.read_bytes()).hexdigest()
    prov = m.provenance()
    assert prov["provider"] == m.provider and prov["spec"]["name"] == "movenet_lightning_int8"
    # a fixed batch-1 model takes any batch: chunked one crop at a time, same as one by one
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(3, 192, 192, 3), dtype=np.uint8)
    out = m.infer(x)
    assert out.shape == (3, 1, 17, 3)
    for i in range(3):
        np.testing.assert_array_equal(out[i:i + 1], m.infer(x[i:i + 1]))


def test_blazepose_loads(blazepose, specs):
    m = load_model(blazepose, spec=specs["blazepose_landmark_lite"], device="cpu")
    assert m.max_batch == 1 and m.output_name == "Identity" and m.provider == "CPUExecutionProvider"


@pytest.mark.parametrize("model, edit, message", [
    ("blazepose", lambda d: d["input"].update(height=192, width=192),
     "spec input.height=192 but model input 'input_1' has shape [1,256,256,3]"),
    ("movenet", lambda d: d["input"].update(height=256),
     "spec input.height=256 but model input 'serving_default_input:0' has shape [1,192,192,3]"),
    ("movenet", lambda d: d["input"].update(dtype="float32"),
     "spec input.dtype=float32 but model input 'serving_default_input:0' has dtype uint8"),
    ("movenet", lambda d: d["input"].update(layout="NCHW"),
     "spec input.layout=NCHW puts 3 channels on axis 1 but model input 'serving_default_input:0' has shape [1,192,192,3]"),
    ("movenet", lambda d: d["input"].update(name="image"),
     "spec input.name='image' but the model's inputs are: serving_default_input:0"),
    ("blazepose", lambda d: d["output"].update(name="Identity_9"),
     "spec output.name='Identity_9' but the model's outputs are: Identity, Identity_1"),
    ("blazepose", lambda d: d["output"].update(values_per_keypoint=4),
     "spec keypoints.num=39 x output.values_per_keypoint=4 = 156 values per crop, but model output 'Identity' has shape [1,195]"),
    ("blazepose", lambda d: d["output"].update(name="Identity_3", kind="heatmaps", layout="NHWK", stride=4),
     "spec keypoints.num=39 but model output 'Identity_3' has shape [1,64,64,39]"),
])
def test_spec_mismatch_names_field_and_shape(request, specs, model, edit, message):
    path = request.getfixturevalue(model)
    name = "movenet_lightning_int8" if model == "movenet" else "blazepose_landmark_lite"
    d = copy.deepcopy(specs[name])
    edit(d)
    if d["output"]["kind"] == "heatmaps":
        d["keypoints"]["num"] = 17
        d["keypoints"]["dataset_map"] = {"coco": list(range(17))}
        d["flip_pairs"] = []
        message = message.replace("keypoints.num=39", "keypoints.num=17")
    with pytest.raises(UserError, match=re.escape(message)):
        load_model(path, spec=d, device="cpu")


def test_no_spec_found_says_how(tmp_path, movenet):
    import shutil

    p = tmp_path / "movenet.onnx"
    shutil.copyfile(movenet, p)
    with pytest.raises(UserError, match="no model spec for .*pass --spec SPEC.json.*metadata_props") as info:
        load_model(p, device="cpu")
    # issue 24: it names the preset that fits (as inspect knows it) and the model by its real path
    assert f"no model spec for {p}: the preset that fits its tensors: --spec movenet;" in str(info.value)
    assert f"`robustpose-bench inspect {p}`" in str(info.value)


def test_sidecar_spec_found(tmp_path, movenet, specs):
    import shutil

    p = tmp_path / "movenet.onnx"
    shutil.copyfile(movenet, p)
    (tmp_path / "movenet.spec.json").write_text(json.dumps(specs["movenet_lightning_int8"]))
    m = load_model(p, device="cpu")
    assert m.spec_source.startswith("sidecar:") and m.spec.name == "movenet_lightning_int8"


@pytest.mark.parametrize("content, suffix, message", [
    (b"this is not a model", ".onnx", "cannot load ONNX model"),
    (b"", ".onnx", "cannot load ONNX model"),
    (None, ".pt", "cannot load TorchScript model"),
])
def test_unreadable_model(tmp_path, content, suffix, message):
    import zipfile

    p = tmp_path / f"broken{suffix}"
    if content is None:  # a zip that is not a TorchScript archive
        with zipfile.ZipFile(p, "w") as z:
            z.writestr("hello.txt", "not torchscript")
    else:
        p.write_bytes(content)
    with pytest.raises(UserError, match=message):
        load_model(p, device="cpu")
    with pytest.raises(UserError, match="model file not found"):
        load_model(tmp_path / "absent.onnx")


def test_cuda_request_without_cuda_is_a_clear_error(movenet, specs):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(UserError, match="--device cuda"):
        load_model(movenet, spec=specs["movenet_lightning_int8"], device="cuda")
    # auto falls back to the CPU and says so
    m = load_model(movenet, spec=specs["movenet_lightning_int8"], device="auto")
    assert m.device == "cpu" and m.provider == "CPUExecutionProvider"


# ----------------------------------------------------------------------------------------------
# the tiny torch model through both backends


def test_embedded_spec_both_backends_same_outputs(tiny):
    onnx_path, ts_path, spec = tiny
    import onnx

    meta = {p.key: p.value for p in onnx.load(str(onnx_path)).metadata_props}
    assert json.loads(meta[ONNX_METADATA_KEY]) == spec
    mo = load_model(onnx_path, device="cpu")
    mt = load_model(ts_path, device="cpu")
    assert mo.spec_source == mt.spec_source == "embedded"
    assert mo.spec == mt.spec
    assert mo.max_batch is None and mt.max_batch is None  # dynamic batch detected in both
    assert mo.output_shape == mt.output_shape == (17, 16, 12)
    x = np.random.default_rng(1).normal(size=(5, 3, 64, 48)).astype(np.float32)
    a, b = mo.infer(x), mt.infer(x)
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    assert mo.provenance()["backend"] == "onnxruntime" and mt.provenance()["backend"] == "torchscript"


def test_heatmap_shape_mismatch(tiny):
    onnx_path, ts_path, spec = tiny
    bad = copy.deepcopy(spec)
    bad["output"]["stride"] = 8
    for path in (onnx_path, ts_path):
        with pytest.raises(UserError, match=re.escape("spec output.stride=8 with a 64x48 input implies 8x6 heatmaps, "
                                                      "but model output 'heatmaps' has shape [")):
            load_model(path, spec=bad, device="cpu")
    bad = copy.deepcopy(spec)
    bad["input"]["layout"] = "NHWC"  # TorchScript declares no shapes: the probe pass catches this
    with pytest.raises(UserError, match=re.escape("model tiny.pt failed on a [1,64,48,3] float32 input built from "
                                                  "its spec (input.layout=NHWC, height=64, width=48)")):
        load_model(ts_path, spec=bad, device="cpu")
    unnamed = copy.deepcopy(spec)
    unnamed["output"]["name"] = None  # a lone TorchScript tensor is then called 'output'
    assert load_model(ts_path, spec=unnamed, device="cpu").output_name == "output"


def test_nan_outputs_fail(tmp_path):
    onnx_path, ts_path, _ = export_tiny(tmp_path, nan=True)
    for path in (onnx_path, ts_path):
        m = load_model(path, device="cpu")
        with pytest.raises(UserError, match="produced NaN or infinite values .* for 2 of 2 crops"):
            m.infer(np.zeros((2, 3, 64, 48), np.float32))


def test_torchscript_fixed_batch_detected(tmp_path):
    """A TorchScript model that only accepts batch 1 is fed crop by crop."""
    import torch

    class OnlyOne(torch.nn.Module):
        def forward(self, x):
            torch._assert(x.shape[0] == 1, "batch must be 1")
            return x.mean(dim=1, keepdim=True).repeat(1, 17, 1, 1)[:, :, ::4, ::4]

    spec = heatmap_model_spec("only_one", 64, 48)
    p = tmp_path / "one.pt"
    torch.jit.save(torch.jit.script(OnlyOne()), str(p), _extra_files=torchscript_extra_files(spec))
    m = load_model(p, device="cpu")
    assert m.max_batch == 1
    assert m.infer(np.ones((3, 3, 64, 48), np.float32)).shape == (3, 17, 16, 12)
