"""TorchScript models through ``torch.jit.load``, on CUDA when available.

A TorchScript module has no declared input shapes, so the loader learns its output shapes from a
probe forward pass. Outputs are named for the spec: a lone tensor is ``"output"``, a tuple or list
gives ``"0"``, ``"1"``, ..., and a dict keeps its keys. The loader may rename them (``name_map``): a
lone tensor takes the spec's output name, and a tuple's tensors take the spec's tensor names in the
codec's order (e.g. ``dets``, ``keypoints``), so one spec serves a model's ONNX and TorchScript exports.
"""
from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import UserError
from .spec import TORCHSCRIPT_EXTRA_FILE


def _named_outputs(out: Any, single: str = "output") -> dict[str, Any]:
    import torch

    if isinstance(out, torch.Tensor):
        return {single: out}
    if isinstance(out, (tuple, list)):
        return {str(i): t for i, t in enumerate(out)}
    if isinstance(out, dict):
        return {str(k): v for k, v in out.items()}
    raise UserError(f"TorchScript model returned {type(out).__name__}; expected a tensor, tuple or dict of tensors")


class TorchScriptBackend:
    """A loaded ``torch.jit.ScriptModule`` in eval mode on the chosen device."""

    kind = "torchscript"

    def __init__(self, path: str | os.PathLike, device: str = "auto"):
        import torch

        self.path = Path(path)
        if device not in ("auto", "cpu", "cuda"):
            raise UserError(f"--device must be auto, cpu or cuda, got {device!r}")
        if device == "cuda" and not torch.cuda.is_available():
            raise UserError("--device cuda: torch sees no CUDA device (use --device auto or cpu)")
        self.device = "cuda" if device in ("auto", "cuda") and torch.cuda.is_available() else "cpu"
        extra = {TORCHSCRIPT_EXTRA_FILE: ""}
        if not zipfile.is_zipfile(self.path):
            raise UserError(f"cannot load TorchScript model {self.path}: not a TorchScript archive (zip)")
        try:
            self.module = torch.jit.load(str(self.path), map_location=self.device, _extra_files=extra)
        except Exception as exc:  # noqa: BLE001 - torch raises RuntimeError and friends
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise UserError(f"cannot load TorchScript model {self.path}: {first}") from None
        self.module.eval()
        raw = extra[TORCHSCRIPT_EXTRA_FILE]
        self.metadata: dict[str, str] = {}
        if raw:
            self.metadata["robustpose_spec"] = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        self.provider = "torch-cuda" if self.device == "cuda" else "torch-cpu"
        self._torch = torch
        self.inputs: list[tuple[str, list[int | None], str | None]] = [("input", [None] * 4, None)]
        self.outputs: list[tuple[str, list[int | None]]] = []
        self.name_map: dict[str, str] = {}  # spec-level name -> raw output key

    def forward_all(self, x: np.ndarray) -> dict[str, np.ndarray]:
        torch = self._torch
        with torch.inference_mode():
            t = torch.from_numpy(np.ascontiguousarray(x)).to(self.device, non_blocking=True)
            out = _named_outputs(self.module(t))
            return {k: v.float().cpu().numpy() for k, v in out.items() if isinstance(v, torch.Tensor)}

    @property
    def output_names(self) -> list[str]:
        return [o[0] for o in self.outputs]

    def run_many(self, x: np.ndarray, input_name: str, output_names: tuple[str, ...]) -> dict[str, np.ndarray]:
        """Forward ``x`` once; the named outputs (spec-level names) by name."""
        torch = self._torch
        with torch.inference_mode():
            t = torch.from_numpy(np.ascontiguousarray(x)).to(self.device, non_blocking=True)
            raw = _named_outputs(self.module(t))
            return {n: raw[self.name_map.get(n, n)].float().cpu().numpy() for n in output_names}

    def run(self, x: np.ndarray, input_name: str, output_name: str) -> np.ndarray:
        return self.run_many(x, input_name, (output_name,))[output_name]

    def describe(self) -> dict[str, Any]:
        return {"backend": "torchscript", "provider": self.provider, "device": self.device,
                "torch": self._torch.__version__}
