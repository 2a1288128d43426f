"""Load any pose model for evaluation: pick the backend, find its spec, check the spec against it.

The backend is chosen by file content (a TorchScript file is a zip archive holding ``code/``;
anything else is tried as ONNX), so a misnamed file still loads; a training checkpoint
(``torch.save``) is recognised and refused with what to do instead. The spec comes from, in order:
``--spec FILE`` or ``--spec PRESET`` (``models/presets.py``), the spec embedded in the model, or a
sidecar ``MODEL.spec.json`` / ``MODEL_STEM.spec.json`` beside it.

The spec is then checked against the model's real shapes (declared ones for ONNX, and a probe forward
pass for both backends) by the output kind's codec. A mismatch fails with a message naming the spec
field and the model tensor, because a model fed the wrong layout or read the wrong way still
produces numbers - wrong ones.
"""
from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import sha256_file
from ..codecs import fmt_shape, make_codec
from ..errors import UserError
from .presets import PRESETS, ModelIO
from .spec import OUTPUT_KINDS, ONNX_METADATA_KEY, ModelSpec, coerce_spec, load_spec_file, parse_spec

#: Default tensor names per output kind, tried before falling back to the outputs' order.
_DEFAULT_NAMES: dict[str, tuple[str | None, ...]] = {
    "simcc": ("simcc_x", "simcc_y"),
    "persons": ("dets", "keypoints"),
}


def sidecar_candidates(model_path: Path) -> list[Path]:
    """Where a sidecar spec is looked for: ``model.onnx.spec.json``, then ``model.spec.json``."""
    return [model_path.with_name(model_path.name + ".spec.json"), model_path.with_name(model_path.stem + ".spec.json")]


@dataclass
class LoadedModel:
    """A model ready to run: backend, checked spec, codec, tensor names, batch limit and provenance."""

    path: Path
    sha256: str
    format: str                       # "onnx" or "torchscript"
    backend: Any
    spec: ModelSpec
    spec_source: str                  # "file:PATH", "preset:NAME", "embedded" or "sidecar:PATH"
    input_name: str
    output_names: tuple[str, ...]     # the outputs the codec reads, in its order
    max_batch: int | None             # None: any batch size; else the model's fixed batch size
    output_shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)  # per-sample shapes
    codec: Any = None

    @property
    def output_name(self) -> str:
        """The first (for single-output kinds, the only) output the codec reads."""
        return self.output_names[0]

    @property
    def output_shape(self) -> tuple[int, ...]:
        return self.output_shapes[self.output_name]

    @property
    def device(self) -> str:
        return self.backend.device

    @property
    def provider(self) -> str:
        return self.backend.provider

    def run(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Forward a batch of preprocessed inputs; every output the codec reads, by name.

        Fixed-batch models are fed in chunks of ``max_batch``. Raises ``UserError`` if the model
        returns NaN or infinite values: scoring those would give a silently wrong AP.
        """
        n = x.shape[0]
        step = self.max_batch or n
        if step >= n:
            outs = self.backend.run_many(x, self.input_name, self.output_names)
        else:
            parts = [self.backend.run_many(x[i:i + step], self.input_name, self.output_names) for i in range(0, n, step)]
            outs = {k: np.concatenate([p[k] for p in parts], axis=0) for k in self.output_names}
        unit = "crops" if self.spec.pipeline == "topdown" else "images"
        for name, out in outs.items():
            out = np.asarray(out)
            if out.dtype.kind == "f" and not np.isfinite(out).all():
                bad = int((~np.isfinite(out.reshape(out.shape[0], -1))).any(axis=1).sum())
                raise UserError(f"model {self.path.name} produced NaN or infinite values in output "
                                f"'{name}' for {bad} of {n} {unit}")
        return outs

    def infer(self, x: np.ndarray) -> np.ndarray:
        """The first codec output for a batch (single-output models: their output)."""
        return self.run(x)[self.output_name]

    def provenance(self) -> dict[str, Any]:
        d = {"path": str(self.path), "sha256": self.sha256, "format": self.format,
             "spec": self.spec.to_dict(), "spec_source": self.spec_source,
             "input_name": self.input_name, "output_name": self.output_name,
             "output_names": list(self.output_names), "fixed_batch": self.max_batch}
        d.update(self.backend.describe())
        return d


def _is_torch_checkpoint(path: Path) -> bool:
    """A ``torch.save`` file: a zip with ``data.pkl`` but no TorchScript ``code/``, or a raw pickle."""
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as z:
                names = z.namelist()
        except (zipfile.BadZipFile, OSError):
            return False
        has_code = any("/code/" in n or n.startswith("code/") for n in names)
        return not has_code and any(n.endswith("data.pkl") for n in names)
    with open(path, "rb") as fh:
        head = fh.read(2)
    return len(head) == 2 and head[0] == 0x80 and head[1] in (2, 3, 4, 5)  # pickle protocol 2..5


#: Seconds one probe forward pass (a zero input at the spec's size) may take: an ONNX graph can loop
#: 10^12 times. ``inspect`` uses a shorter limit.
PROBE_TIMEOUT_S = 300.0


def detect_format(path: Path) -> str:
    """'torchscript', 'onnx', or 'checkpoint' (a training checkpoint, not runnable)."""
    if _is_torch_checkpoint(path):
        return "checkpoint"
    return "torchscript" if zipfile.is_zipfile(path) else "onnx"


def check_model_file(path: str | os.PathLike) -> str:
    """The model file's format; a missing file or a training checkpoint is a one-line error."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"model file not found: {p}")
    fmt = detect_format(p)
    if fmt == "checkpoint":
        raise UserError(f"{p} is a training checkpoint (torch.save), not a runnable model: run "
                        f"`robustpose-bench export {p} --format onnx` first (or torch.jit.save a TorchScript model)")
    return fmt


def _model_io(fmt: str, backend: Any, probe_timeout_s: float | None = None) -> ModelIO:
    """Declared tensors; where an ONNX output's declared shape is symbolic beyond the batch axis, its
    shape from a zero forward pass at the declared input size (presets read sizes off the outputs)."""
    inputs, outputs = list(backend.inputs), list(backend.outputs)
    if fmt == "onnx" and inputs and any(None in shape[1:] for _, shape in outputs):
        name, shape, dtype = inputs[0]
        if len(shape) == 4 and None not in shape[1:]:
            x = np.zeros([shape[0] or 1, *shape[1:]], np.dtype(dtype or "float32"))
            try:
                outs = backend.run_many(x, name, tuple(o[0] for o in outputs), timeout_s=probe_timeout_s)
                outputs = [(n, [shape_[0], *outs[n].shape[1:]]) for n, shape_ in outputs]
            except UserError:
                raise  # a probe past its time limit (ProbeTimeout)
            except Exception:  # noqa: BLE001 - keep the declared shapes; the preset says what it lacks
                pass
    return ModelIO(fmt, inputs, outputs)


def _find_spec(path: Path, fmt: str, backend: Any, spec: ModelSpec | dict | str | os.PathLike | None,
               probe_timeout_s: float | None = None) -> tuple[ModelSpec, str]:
    if isinstance(spec, str) and spec in PRESETS and not Path(spec).is_file():
        return PRESETS[spec].spec(_model_io(fmt, backend, probe_timeout_s), path.stem), f"preset:{spec}"
    if isinstance(spec, (str, os.PathLike)) and not str(spec).lstrip().startswith("{"):
        p = Path(spec)
        if not p.is_file() and isinstance(spec, str) and os.sep not in spec and not spec.endswith(".json"):
            raise UserError(f"--spec {spec}: neither a spec file nor a preset (presets: {', '.join(PRESETS)}; "
                            "see `robustpose-bench list specs`)")
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
    fits = _fitting_presets(fmt, backend, path, probe_timeout_s)
    hint = (f"the preset that fits its tensors: --spec {fits[0]}" + (f" (also: {', '.join(fits[1:])})" if fits[1:] else "")
            + "; or " if fits else "")
    raise UserError(
        f"no model spec for {path}: {hint}pass --spec SPEC.json or --spec PRESET, embed one ({where}), or put "
        f"{sidecar_candidates(path)[1].name} beside the model (`robustpose-bench inspect {path}` suggests one)"
    )


def _fitting_presets(fmt: str, backend: Any, path: Path, probe_timeout_s: float | None) -> list[str]:
    """The presets whose family conventions fit the model's declared tensors (ONNX: read off the
    graph; a TorchScript file declares none, so nothing is offered without running it)."""
    if fmt != "onnx":
        return []
    io = _model_io(fmt, backend, probe_timeout_s)
    fits = []
    for name, preset in PRESETS.items():
        try:
            preset.spec(io, path.stem)
        except UserError:
            continue
        fits.append(name)
    return fits


def expected_input_shape(spec: ModelSpec, batch: int | None) -> list[int | None]:
    i = spec.input
    return [batch, 3, i.height, i.width] if i.layout == "NCHW" else [batch, i.height, i.width, 3]


def _check_input(spec: ModelSpec, name: str, shape: list[int | None], dtype: str | None) -> None:
    i = spec.input
    if len(shape) != 4:
        raise UserError(f"spec input.layout={i.layout} needs a 4-D input but model input '{name}' has shape "
                        f"{fmt_shape(shape)}")
    axes = {"NCHW": (1, 2, 3), "NHWC": (3, 1, 2)}[i.layout]
    if i.resize == "short-side-align64" and (shape[axes[1]] is not None or shape[axes[2]] is not None):
        raise UserError(f"spec input.resize=short-side-align64 gives every image its own input size, but model input "
                        f"'{name}' has a fixed shape {fmt_shape(shape)}; export it with dynamic height and width "
                        "(`robustpose-bench docs model_spec`)")
    for (what, want), ax in zip((("channels", 3), ("input.height", i.height), ("input.width", i.width)), axes):
        have = shape[ax]
        if have is not None and have != want:
            if what == "channels":
                raise UserError(f"spec input.layout={i.layout} puts 3 channels on axis {ax} but model input "
                                f"'{name}' has shape {fmt_shape(shape)}")
            raise UserError(f"spec {what}={want} but model input '{name}' has shape {fmt_shape(shape)}")
    if dtype is not None and dtype != i.dtype:
        raise UserError(f"spec input.dtype={i.dtype} but model input '{name}' has dtype {dtype}")


def _resolve_output_names(spec: ModelSpec, available: list[str]) -> tuple[str, ...]:
    """The model outputs the spec's codec reads: named ones must exist; unnamed ones take the kind's
    default name when the model has it, else the model's outputs in order."""
    kind = OUTPUT_KINDS[spec.output.kind]
    defaults = _DEFAULT_NAMES.get(spec.output.kind, (None,) * len(kind.tensors))
    names: list[str] = []
    for pos, (fname, given) in enumerate(zip(kind.tensors, spec.output.tensor_names())):
        if given is not None:
            if given not in available:
                raise UserError(f"spec output.{fname}={given!r} but the model's outputs are: {', '.join(available)}")
            names.append(given)
            continue
        default = defaults[pos]
        if default is not None and default in available:
            names.append(default)
        else:
            rest = [a for a in available if a not in names]
            if not rest:
                raise UserError(f"spec output.kind={spec.output.kind} reads {len(kind.tensors)} outputs, but the "
                                f"model has only: {', '.join(available)}")
            names.append(rest[0])
    return tuple(names)


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def load_model(
    path: str | os.PathLike,
    spec: ModelSpec | dict | str | os.PathLike | None = None,
    device: str = "auto",
    intra_op_threads: int | None = None,
    post: str = "default",
    probe_timeout_s: float | None = PROBE_TIMEOUT_S,
) -> LoadedModel:
    """Open ``path`` (ONNX or TorchScript), find and check its spec, and probe its batch support.

    ``intra_op_threads`` caps onnxruntime's CPU threads (default: one per core); ``post`` is the
    heatmap decoding (HRNet's default, DARK, or none).
    """
    p = Path(path)
    fmt = check_model_file(p)
    if fmt == "torchscript":
        from .torchscript_backend import TorchScriptBackend
        backend: Any = TorchScriptBackend(p, device=device)
    else:
        from .onnx_backend import OnnxBackend
        try:
            backend = OnnxBackend(p, device=device, intra_op_threads=intra_op_threads)
        except UserError as exc:
            if p.suffix.lower() in (".pt", ".pth", ".torchscript", ".ts"):
                raise UserError(f"cannot load {p}: not a TorchScript archive (not a zip file), and not an ONNX model "
                                f"either ({str(exc).split(': ', 1)[-1]})") from None
            raise
    model_spec, source = _find_spec(p, fmt, backend, spec, probe_timeout_s)

    if fmt == "onnx":
        in_names = [i[0] for i in backend.inputs]
        in_name = model_spec.input.name if model_spec.input.name is not None else in_names[0]
        if in_name not in in_names:
            raise UserError(f"spec input.name={in_name!r} but the model's inputs are: {', '.join(in_names)}")
        _, shape, dtype = next(i for i in backend.inputs if i[0] == in_name)
        _check_input(model_spec, in_name, shape, dtype)
        fixed = shape[0]
        out_names = _resolve_output_names(model_spec, backend.output_names)
        # probe: a real forward pass gives the concrete output shapes (declared ones may be symbolic)
        probe_b = fixed or 2
        x = np.zeros(expected_input_shape(model_spec, probe_b), np.dtype(model_spec.input.dtype))
        try:
            outs = backend.run_many(x, in_name, out_names, timeout_s=probe_timeout_s)
        except UserError:
            raise  # ProbeTimeout
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises several private exception types
            raise UserError(f"model {p.name} failed on a {fmt_shape(list(x.shape))} {x.dtype} input built from "
                            f"its spec: {_first_line(exc)}") from None
    else:
        in_name = model_spec.input.name or "input"
        fixed, outs, out_names = None, None, ()
        for probe_b in (2, 1):
            x = np.zeros(expected_input_shape(model_spec, probe_b), np.dtype(model_spec.input.dtype))
            try:
                raw = backend.forward_all(x)
            except UserError:
                raise
            except Exception as exc:  # noqa: BLE001
                if probe_b == 2:
                    continue
                raise UserError(f"model {p.name} failed on a {fmt_shape(list(x.shape))} {x.dtype} input built "
                                f"from its spec (input.layout={model_spec.input.layout}, "
                                f"height={model_spec.input.height}, width={model_spec.input.width}): "
                                f"{_first_line(exc)}") from None
            backend.name_map = _torchscript_names(model_spec, list(raw))
            renamed = {spec_name: raw[key] for spec_name, key in backend.name_map.items()}
            outs_all = {**{k: v for k, v in raw.items() if k not in backend.name_map.values()}, **renamed}
            backend.outputs = [(k, list(v.shape)) for k, v in outs_all.items()]
            out_names = _resolve_output_names(model_spec, list(outs_all))
            outs = {n: outs_all[n] for n in out_names}
            if any(v.shape[0] != probe_b for v in outs.values()) and probe_b == 2:
                continue
            fixed = None if probe_b == 2 else 1
            break
    for name, out in outs.items():
        if out.shape[0] != probe_b:
            raise UserError(f"model output '{name}' has batch size {out.shape[0]} for an input batch of {probe_b}")
    codec = make_codec(model_spec, out_names, post=post)
    codec.check_shapes({n: tuple(o.shape) for n, o in outs.items()})
    return LoadedModel(path=p, sha256=sha256_file(p), format=fmt, backend=backend, spec=model_spec,
                       spec_source=source, input_name=in_name, output_names=out_names, max_batch=fixed,
                       output_shapes={n: tuple(o.shape[1:]) for n, o in outs.items()}, codec=codec)


def _torchscript_names(spec: ModelSpec, raw_keys: list[str]) -> dict[str, str]:
    """Spec-level names for a TorchScript module's outputs: a lone tensor takes the spec's (first)
    tensor name; a tuple's tensors ("0", "1", ...) take the spec's tensor names in the codec's order."""
    wanted = [n for n in spec.output.tensor_names()]
    defaults = _DEFAULT_NAMES.get(spec.output.kind, (None,) * len(wanted))
    names = [w if w is not None else d for w, d in zip(wanted, defaults)]
    if raw_keys == ["output"] and names[0] not in (None, "output"):
        return {names[0]: "output"}
    if raw_keys == [str(i) for i in range(len(raw_keys))] and len(raw_keys) >= len(names) and all(names):
        return {n: str(i) for i, n in enumerate(names) if n not in raw_keys}
    return {}


def model_io(path: str | os.PathLike, device: str = "cpu", probe_timeout_s: float | None = PROBE_TIMEOUT_S
             ) -> tuple[str, ModelIO, dict[str, str]]:
    """(format, declared tensors, metadata) of an ONNX file, without a spec (for ``inspect``; a
    TorchScript file is read without loading it: ``torchscript_static.read_torchscript``)."""
    p = Path(path)
    fmt = check_model_file(p)
    if fmt == "torchscript":
        raise UserError(f"{p}: a TorchScript archive; read it with read_torchscript (loading it runs its code)")
    from .onnx_backend import OnnxBackend

    backend = OnnxBackend(p, device=device)
    return fmt, _model_io(fmt, backend, probe_timeout_s), dict(backend.metadata)
