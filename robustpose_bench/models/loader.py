"""Load any pose model for evaluation: pick the backend, find its spec, check the spec against it.

The backend is chosen by file content (a TorchScript file is a zip archive; anything else is tried
as ONNX), so a misnamed file still loads. The spec comes from, in order: ``--spec FILE``, the spec
embedded in the model, or a sidecar ``MODEL.spec.json`` / ``MODEL_STEM.spec.json`` beside it.

The spec is then checked against the model's real shapes (declared ones for ONNX, and a probe forward
pass for both backends). A mismatch fails with a message naming the spec field and the model tensor,
because a model fed the wrong layout or read the wrong way still produces numbers - wrong ones.
"""
from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import sha256_file
from ..errors import UserError
from .spec import ONNX_METADATA_KEY, ModelSpec, coerce_spec, load_spec_file, parse_spec


def _fmt_shape(shape: list[int | None] | tuple) -> str:
    return "[" + ",".join("?" if d is None else str(d) for d in shape) + "]"


def sidecar_candidates(model_path: Path) -> list[Path]:
    """Where a sidecar spec is looked for: ``model.onnx.spec.json``, then ``model.spec.json``."""
    return [model_path.with_name(model_path.name + ".spec.json"), model_path.with_name(model_path.stem + ".spec.json")]


@dataclass
class LoadedModel:
    """A model ready to run: backend, checked spec, tensor names, batch limit and provenance."""

    path: Path
    sha256: str
    format: str                       # "onnx" or "torchscript"
    backend: Any
    spec: ModelSpec
    spec_source: str                  # "file:PATH", "embedded" or "sidecar:PATH"
    input_name: str
    output_name: str
    max_batch: int | None             # None: any batch size; else the model's fixed batch size
    output_shape: tuple[int, ...] = field(default=())  # per-sample output shape

    @property
    def device(self) -> str:
        return self.backend.device

    @property
    def provider(self) -> str:
        return self.backend.provider

    def infer(self, x: np.ndarray) -> np.ndarray:
        """Forward a batch of preprocessed inputs, in chunks of ``max_batch`` for fixed-batch models.

        Raises ``UserError`` if the model returns NaN or infinite values: scoring those would give a
        silently wrong AP.
        """
        n = x.shape[0]
        step = self.max_batch or n
        if step >= n:
            out = self.backend.run(x, self.input_name, self.output_name)
        else:
            parts = [self.backend.run(x[i:i + step], self.input_name, self.output_name) for i in range(0, n, step)]
            out = np.concatenate(parts, axis=0)
        out = np.asarray(out)
        if out.dtype.kind == "f" and not np.isfinite(out).all():
            bad = int((~np.isfinite(out.reshape(out.shape[0], -1))).any(axis=1).sum())
            raise UserError(f"model {self.path.name} produced NaN or infinite values in output "
                            f"'{self.output_name}' for {bad} of {n} crops")
        return out

    def provenance(self) -> dict[str, Any]:
        d = {"path": str(self.path), "sha256": self.sha256, "format": self.format,
             "spec": self.spec.to_dict(), "spec_source": self.spec_source,
             "input_name": self.input_name, "output_name": self.output_name,
             "fixed_batch": self.max_batch}
        d.update(self.backend.describe())
        return d


def detect_format(path: Path) -> str:
    return "torchscript" if zipfile.is_zipfile(path) else "onnx"


def _find_spec(path: Path, backend: Any, spec: ModelSpec | dict | str | os.PathLike | None) -> tuple[ModelSpec, str]:
    if isinstance(spec, (str, os.PathLike)) and not str(spec).lstrip().startswith("{"):
        return load_spec_file(spec), f"file:{spec}"
    if spec is not None:
        return coerce_spec(spec), "argument"
    raw = backend.metadata.get(ONNX_METADATA_KEY)
    if raw:
        return parse_spec(raw, source=f"embedded in {path.name}"), "embedded"
    for cand in sidecar_candidates(path):
        if cand.is_file():
            return load_spec_file(cand), f"sidecar:{cand}"
    where = ("ONNX metadata_props key 'robustpose_spec'" if backend.kind == "onnx"
             else "TorchScript extra file 'robustpose_spec.json'")
    raise UserError(
        f"no model spec for {path}: pass --spec SPEC.json, embed one ({where}), or put "
        f"{sidecar_candidates(path)[1].name} beside the model (see docs/model_spec.md)"
    )


def _expected_input_shape(spec: ModelSpec, batch: int | None) -> list[int | None]:
    i = spec.input
    return [batch, 3, i.height, i.width] if i.layout == "NCHW" else [batch, i.height, i.width, 3]


def _check_input(spec: ModelSpec, name: str, shape: list[int | None], dtype: str | None) -> None:
    i = spec.input
    if len(shape) != 4:
        raise UserError(f"spec input.layout={i.layout} needs a 4-D input but model input '{name}' has shape "
                        f"{_fmt_shape(shape)}")
    axes = {"NCHW": (1, 2, 3), "NHWC": (3, 1, 2)}[i.layout]
    for (what, want), ax in zip((("channels", 3), ("input.height", i.height), ("input.width", i.width)), axes):
        have = shape[ax]
        if have is not None and have != want:
            if what == "channels":
                raise UserError(f"spec input.layout={i.layout} puts 3 channels on axis {ax} but model input "
                                f"'{name}' has shape {_fmt_shape(shape)}")
            raise UserError(f"spec {what}={want} but model input '{name}' has shape {_fmt_shape(shape)}")
    if dtype is not None and dtype != i.dtype:
        raise UserError(f"spec input.dtype={i.dtype} but model input '{name}' has dtype {dtype}")


def _check_output(spec: ModelSpec, name: str, shape: tuple[int, ...]) -> None:
    o, k, i = spec.output, spec.keypoints, spec.input
    s = _fmt_shape(list(shape))
    if o.kind == "heatmaps":
        if len(shape) != 4:
            raise UserError(f"spec output.kind=heatmaps needs a 4-D output but model output '{name}' has shape {s}")
        kk, hh, ww = (shape[1], shape[2], shape[3]) if o.layout == "NKHW" else (shape[3], shape[1], shape[2])
        if kk != k.num:
            raise UserError(f"spec keypoints.num={k.num} but model output '{name}' has shape {s} "
                            f"({kk} heatmaps in layout {o.layout})")
        eh, ew = i.height / o.stride, i.width / o.stride
        if (hh, ww) != (eh, ew):
            raise UserError(f"spec output.stride={o.stride} with a {i.height}x{i.width} input implies "
                            f"{eh:g}x{ew:g} heatmaps, but model output '{name}' has shape {s} (layout {o.layout})")
    else:
        per = int(np.prod(shape[1:])) if len(shape) > 1 else 0
        if per != k.num * o.values_per_keypoint:
            raise UserError(f"spec keypoints.num={k.num} x output.values_per_keypoint={o.values_per_keypoint} = "
                            f"{k.num * o.values_per_keypoint} values per crop, but model output '{name}' has shape {s}")


def load_model(
    path: str | os.PathLike,
    spec: ModelSpec | dict | str | os.PathLike | None = None,
    device: str = "auto",
    intra_op_threads: int | None = None,
) -> LoadedModel:
    """Open ``path`` (ONNX or TorchScript), find and check its spec, and probe its batch support.

    ``intra_op_threads`` caps onnxruntime's CPU threads (default: one per core).
    """
    p = Path(path)
    if not p.is_file():
        raise UserError(f"model file not found: {p}")
    fmt = detect_format(p)
    if fmt == "torchscript":
        from .torchscript_backend import TorchScriptBackend
        backend: Any = TorchScriptBackend(p, device=device)
    else:
        from .onnx_backend import OnnxBackend
        backend = OnnxBackend(p, device=device, intra_op_threads=intra_op_threads)
    model_spec, source = _find_spec(p, backend, spec)

    # input tensor
    in_names = [i[0] for i in backend.inputs]
    if fmt == "onnx":
        in_name = model_spec.input.name if model_spec.input.name is not None else in_names[0]
        if in_name not in in_names:
            raise UserError(f"spec input.name={in_name!r} but the model's inputs are: {', '.join(in_names)}")
        _, shape, dtype = next(i for i in backend.inputs if i[0] == in_name)
        _check_input(model_spec, in_name, shape, dtype)
        fixed = shape[0]
        out_names = backend.output_names
        out_name = model_spec.output.name if model_spec.output.name is not None else out_names[0]
        if out_name not in out_names:
            raise UserError(f"spec output.name={out_name!r} but the model's outputs are: {', '.join(out_names)}")
        # probe: a real forward pass gives the concrete output shape (declared ones may be symbolic)
        probe_b = fixed or 2
        x = np.zeros(_expected_input_shape(model_spec, probe_b), np.dtype(model_spec.input.dtype))
        try:
            out = backend.run(x, in_name, out_name)
        except Exception as exc:  # noqa: BLE001
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise UserError(f"model {p.name} failed on a {_fmt_shape(list(x.shape))} {x.dtype} input built from "
                            f"its spec: {first}") from None
    else:
        in_name = model_spec.input.name or "input"
        fixed = None
        out = None
        for probe_b in (2, 1):
            x = np.zeros(_expected_input_shape(model_spec, probe_b), np.dtype(model_spec.input.dtype))
            try:
                outs = backend.forward_all(x)
            except UserError:
                raise
            except Exception as exc:  # noqa: BLE001
                if probe_b == 2:
                    continue
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise UserError(f"model {p.name} failed on a {_fmt_shape(list(x.shape))} {x.dtype} input built "
                                f"from its spec (input.layout={model_spec.input.layout}, "
                                f"height={model_spec.input.height}, width={model_spec.input.width}): {first}") from None
            if list(outs) == ["output"] and model_spec.output.name not in (None, "output"):
                # a lone tensor has no name of its own: the spec's name applies, so one spec serves the
                # ONNX and the TorchScript export of the same model
                backend.single_output_name = model_spec.output.name
                outs = {model_spec.output.name: outs["output"]}
            backend.outputs = [(k, list(v.shape)) for k, v in outs.items()]
            out_names = list(outs)
            out_name = model_spec.output.name if model_spec.output.name is not None else out_names[0]
            if out_name not in outs:
                raise UserError(f"spec output.name={out_name!r} but the model's outputs are: {', '.join(out_names)}")
            out = outs[out_name]
            if out.shape[0] != probe_b and probe_b == 2:
                continue
            fixed = None if probe_b == 2 else 1
            break
    if out.shape[0] != probe_b:
        raise UserError(f"model output '{out_name}' has batch size {out.shape[0]} for an input batch of {probe_b}")
    _check_output(model_spec, out_name, tuple(out.shape))
    return LoadedModel(path=p, sha256=sha256_file(p), format=fmt, backend=backend, spec=model_spec,
                       spec_source=source, input_name=in_name, output_name=out_name, max_batch=fixed,
                       output_shape=tuple(out.shape[1:]))
