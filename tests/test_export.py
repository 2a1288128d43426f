"""Export round trip: ONNX (onnxruntime) and TorchScript outputs equal the torch model's, spec embedded."""
from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from _advmix_synth import make_coco_dataset
from robustpose_bench.advmix.export import export_onnx, export_torchscript, load_trained, spec_for
from robustpose_bench.advmix.nets import build_net
from robustpose_bench.cli import main
from robustpose_bench.models.spec import ONNX_METADATA_KEY, TORCHSCRIPT_EXTRA_FILE, parse_spec

CFG = {"image_size": [96, 64], "heatmap_size": [24, 16], "keypoints": "coco"}


def _model(arch: str = "simplebaseline_r18_small") -> torch.nn.Module:
    torch.manual_seed(0)
    m = build_net(arch, 17)
    with torch.no_grad():  # non-trivial BN statistics and a head that is not ~0
        for name, buf in m.named_buffers():
            if "running_var" in name:
                buf.uniform_(0.5, 2.0)
        m.final_layer.weight.normal_(0, 0.1)
    return m.eval()


@pytest.mark.parametrize("arch", ["simplebaseline_r18_small",
                                  pytest.param("hrnet_w32", marks=pytest.mark.slow)])
def test_onnx_round_trip(tmp_path, arch):
    model = _model(arch)
    spec = spec_for("test", CFG, "onnx")
    path = tmp_path / "m.onnx"
    export_onnx(model, spec, path)
    proto = onnx.load(str(path))
    meta = {p.key: p.value for p in proto.metadata_props}
    assert parse_spec(meta[ONNX_METADATA_KEY]) == spec
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = torch.randn(3, 3, 96, 64, generator=torch.Generator().manual_seed(1))   # batch 3: dynamic axis
    got = sess.run(["heatmaps"], {"input": x.numpy()})[0]
    with torch.no_grad():
        ref = model(x).numpy()
    assert got.shape == (3, 17, 24, 16)
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())


def test_torchscript_round_trip(tmp_path):
    model = _model()
    spec = spec_for("test", CFG, "torchscript")
    path = tmp_path / "m.pt"
    export_torchscript(model, spec, path)
    extra = {TORCHSCRIPT_EXTRA_FILE: ""}
    loaded = torch.jit.load(str(path), _extra_files=extra)
    assert parse_spec(extra[TORCHSCRIPT_EXTRA_FILE]) == spec
    x = torch.randn(2, 3, 96, 64, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x), rtol=1e-5, atol=1e-6)


def test_spec_matches_model_spec_contract():
    d = spec_for("sb", {"image_size": [256, 192], "heatmap_size": [64, 48], "keypoints": "coco"}).to_dict()
    assert d["input"]["layout"] == "NCHW" and d["input"]["dtype"] == "float32" and d["input"]["channel_order"] == "RGB"
    assert d["input"]["mean"] == [123.675, 116.28, 103.53] and d["input"]["std"] == [58.395, 57.12, 57.375]
    assert (d["input"]["height"], d["input"]["width"]) == (256, 192)
    assert d["output"] == {"kind": "heatmaps", "layout": "NKHW", "stride": 4, "name": "heatmaps"}
    assert d["keypoints"]["dataset_map"] == {"coco": list(range(17))}
    assert d["flip_pairs"] == [[1, 2], [3, 4], [5, 6], [7, 8], [9, 10], [11, 12], [13, 14], [15, 16]]
    m = spec_for("m", {"image_size": [256, 256], "heatmap_size": [64, 64], "keypoints": "mpii"}).to_dict()
    assert m["keypoints"]["num"] == 16 and m["keypoints"]["dataset_map"] == {"mpii": list(range(16))}


def test_cli_train_then_export_loads_in_evaluator(tmp_path, capsys):
    from robustpose_bench.models.loader import load_model

    images, ann = make_coco_dataset(tmp_path / "data", n_images=4)
    out = tmp_path / "run"
    assert main(["train", "--arch", "simplebaseline_r18_small", "--images", str(images), "--ann", str(ann),
                 "--image-size", "64x32", "--batch-size", "2", "--max-iters", "1", "--no-progress",
                 "--out", str(out)]) == 0
    capsys.readouterr()
    model, cfg = load_trained(out / "last.pth")
    x = torch.randn(2, 3, 64, 32, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        ref = model(x).numpy()
    for fmt, name in (("onnx", "m.onnx"), ("torchscript", "m.pt")):
        assert main(["export", str(out / "last.pth"), "--format", fmt, "-o", str(tmp_path / name)]) == 0
        info = json.loads(capsys.readouterr().out)
        assert info["spec"]["name"] == "simplebaseline_r18_small_standard"
        loaded = load_model(tmp_path / name, device="cpu")      # the evaluator's loader, no --spec
        assert loaded.spec_source == "embedded" or fmt == "torchscript"
        assert loaded.spec.input.height == 64 and loaded.spec.output.stride == 4
        got = loaded.infer(x.numpy())
        np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4 * max(1e-6, np.abs(ref).max()))
    assert main(["export", str(tmp_path / "nope.pth")]) == 2
