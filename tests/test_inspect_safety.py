"""Issue 19, classes 1 and 8: `inspect` runs no code from a TorchScript file, and its ONNX probes end.

The hostile module below writes into a file when it is loaded (its ``__setstate__``) and when it runs
(its ``forward``), through ``torch.from_file(PATH, True, N).fill_(...)``, as in the issue's sweep.
"""
from __future__ import annotations

import json
import time
from typing import Tuple

import pytest
import torch
from cli_helpers import run_cli

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")


class Hostile(torch.nn.Module):
    def __init__(self, target: str):
        super().__init__()
        self.target = target
        self.marker = torch.zeros(16, dtype=torch.uint8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = torch.from_file(self.target, True, 16, dtype=torch.uint8).fill_(65)
        return x[:, :1].repeat(1, 17, 1, 1) + t[0].float() * 0

    @torch.jit.export
    def __getstate__(self) -> Tuple[str, bool]:
        return (self.target, self.training)

    @torch.jit.export
    def __setstate__(self, state: Tuple[str, bool]) -> None:
        self.target = state[0]
        self.training = state[1]
        self.marker = torch.from_file(self.target + ".onload", True, 16, dtype=torch.uint8).fill_(66)


def _hostile(tmp_path, spec: dict | None = None):
    target = tmp_path / "victim.bin"
    path = tmp_path / "hostile.pt"
    extra = {"robustpose_spec.json": json.dumps(spec)} if spec else {}
    torch.jit.save(torch.jit.script(Hostile(str(target))), str(path), _extra_files=extra)
    for p in (target, tmp_path / "victim.bin.onload"):
        p.write_bytes(b"0" * 16)
    return path, target, tmp_path / "victim.bin.onload"


def test_the_hostile_file_is_real(tmp_path):
    """Loading and running it with torch does write: what inspect must never do."""
    path, target, onload = _hostile(tmp_path)
    m = torch.jit.load(str(path))
    assert onload.read_bytes() == b"B" * 16
    m(torch.zeros(1, 3, 8, 8))
    assert target.read_bytes() == b"A" * 16


@pytest.mark.parametrize("spec_arg", [None, "movenet"])
def test_inspect_reads_torchscript_without_running_it(tmp_path, spec_arg):
    path, target, onload = _hostile(tmp_path)
    rc, out, err = run_cli("inspect", path, *(["--spec", spec_arg] if spec_arg else []))
    assert rc == 0, err
    assert target.read_bytes() == b"0" * 16 and onload.read_bytes() == b"0" * 16
    assert "read without loading it" in out and "root module: __torch__." in out and "Hostile" in out
    assert "x  Tensor" in out and "outputs: Tensor" in out
    assert "sandbox" in out  # eval would run it: said, with what to do


def test_inspect_shows_an_embedded_torchscript_spec(tmp_path):
    spec = {"format": "robustpose-model-spec/1", "name": "hostile",
            "input": {"height": 64, "width": 64, "layout": "NCHW", "dtype": "float32"},
            "output": {"kind": "keypoints", "coords": "pixel", "order": "xy", "values_per_keypoint": 3,
                       "score_index": 2},
            "keypoints": {"num": 17, "dataset_map": {"coco": list(range(17))}}}
    path, target, _ = _hostile(tmp_path, spec)
    rc, out, err = run_cli("inspect", path)
    assert rc == 0, err
    assert "spec eval would use: embedded ('hostile'" in out and '"format"' in out
    assert target.read_bytes() == b"0" * 16


def test_an_onnx_probe_that_never_ends_is_stopped(tmp_path, monkeypatch):
    """An ONNX Loop of 10^12 iterations: inspect's probe is stopped and reported in one line."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from robustpose_bench.commands import inspect_cmd

    def const(name, dtype, value):
        return helper.make_node("Constant", [], [name], value=helper.make_tensor(name + "_v", dtype, [], [value]))

    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]), const("c1", TensorProto.FLOAT, 1.0),
         helper.make_node("Add", ["acc_in", "c1"], ["acc_out"])], "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("acc_in", TensorProto.FLOAT, [])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("acc_out", TensorProto.FLOAT, [])])
    nodes = [const("M", TensorProto.INT64, 10**12), const("T", TensorProto.BOOL, True), const("Z", TensorProto.FLOAT, 0.0),
             helper.make_node("Loop", ["M", "T", "Z"], ["final"], body=body),
             helper.make_node("ReduceMean", ["input"], ["r"], keepdims=0),
             helper.make_node("Add", ["r", "final"], ["s"]), helper.make_node("Expand", ["s", "shape"], ["output"])]
    graph = helper.make_graph(nodes, "loop", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 64, 48])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 17, 16, None])],
                              initializer=[numpy_helper.from_array(np.array([1, 17, 16, 12], np.int64), "shape")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    path = tmp_path / "loop.onnx"
    onnx.save(model, str(path))
    monkeypatch.setattr(inspect_cmd, "INSPECT_PROBE_TIMEOUT_S", 1.0)
    t0 = time.monotonic()
    rc, _, err = run_cli("inspect", path)
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "did not end within 1 s" in err, err
    assert time.monotonic() - t0 < 30
