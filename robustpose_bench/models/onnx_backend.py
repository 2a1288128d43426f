"""ONNX models through onnxruntime, on CUDA when it really works and on the CPU otherwise.

onnxruntime-gpu lists ``CUDAExecutionProvider`` as *available* even on machines without a GPU or
without the CUDA libraries; creating a session then logs a screen of errors and silently runs on the
CPU. So we ask for CUDA, check which provider the session actually got (and that a real forward pass
works), fall back to the CPU otherwise, and record the provider that ran. Provider noise is silenced:
sessions log at severity 3 (errors), and while CUDA is being tried the process-wide default logger is
at 4 (fatal only), because a missing CUDA library is itself logged at severity 3 ("Failed to load
library libonnxruntime_providers_cuda.so"). A failed CUDA attempt is remembered for the process,
so it is tried (and costs time) once.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import UserError

_ORT_DTYPES = {"tensor(uint8)": "uint8", "tensor(float)": "float32", "tensor(float16)": "float16",
               "tensor(double)": "float64", "tensor(int8)": "int8"}


_CUDA_FAILURE: str | None = None  # why CUDA did not work in this process (tried once)


def _preload_cuda_libraries() -> None:
    """Load the CUDA/cuDNN libraries that a CUDA build of torch ships, for onnxruntime to find.

    onnxruntime-gpu documents that importing torch first makes a compatible CUDA runtime visible;
    without it the CUDA provider often cannot load (e.g. "libcublasLt.so.13: cannot open shared
    object file") on machines whose CUDA comes from pip wheels only.
    """
    try:
        import torch  # noqa: F401
    except ImportError:
        pass


def _dim(d: Any) -> int | None:
    return d if isinstance(d, int) and d > 0 else None


class ProbeTimeout(UserError):
    """A probe forward pass ran past its time limit (``run_many(timeout_s=...)``)."""


class OnnxBackend:
    """One onnxruntime session. ``run(x)`` returns every output (name → array) for a batch ``x``."""

    kind = "onnx"

    def __init__(self, path: str | os.PathLike, device: str = "auto", intra_op_threads: int | None = None):
        import onnxruntime as ort

        global _CUDA_FAILURE
        ort.set_default_logger_severity(3)
        self.path = Path(path)
        if device not in ("auto", "cpu", "cuda"):
            raise UserError(f"--device must be auto, cpu or cuda, got {device!r}")
        want_cuda = device in ("auto", "cuda") and "CUDAExecutionProvider" in ort.get_available_providers()
        if device == "cuda" and not want_cuda:
            raise UserError("--device cuda: this onnxruntime has no CUDAExecutionProvider "
                            "(install onnxruntime-gpu, or use --device auto/cpu)")
        self._ort = ort
        self._threads = intra_op_threads
        self.session = None
        self.provider = "CPUExecutionProvider"
        self.fallback_reason: str | None = None
        if want_cuda and _CUDA_FAILURE is not None and device == "auto":
            want_cuda = False
            self.fallback_reason = _CUDA_FAILURE
        if want_cuda:
            _preload_cuda_libraries()
            ort.set_default_logger_severity(4)
            try:
                sess = self._make_session(["CUDAExecutionProvider", "CPUExecutionProvider"])
                if sess.get_providers()[0] != "CUDAExecutionProvider":
                    # the process cannot use CUDA at all: remember it, do not try again per model
                    _CUDA_FAILURE = "onnxruntime could not initialise CUDA (no GPU or CUDA libraries)"
                    raise RuntimeError(_CUDA_FAILURE)
                self.session = sess
                self.provider = "CUDAExecutionProvider"
                self._probe_run()  # a real forward pass: some CUDA failures only show here
            except Exception as exc:  # noqa: BLE001 - any CUDA failure means: use the CPU
                if device == "cuda":
                    raise UserError(f"--device cuda: the CUDA provider does not work for {self.path}: "
                                    f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
                self.fallback_reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                self.session = None
                self.provider = "CPUExecutionProvider"
            finally:
                ort.set_default_logger_severity(3)
        if self.session is None:
            self.session = self._make_session(["CPUExecutionProvider"])
        self.device = "cuda" if self.provider == "CUDAExecutionProvider" else "cpu"
        meta = self.session.get_modelmeta()
        self.metadata: dict[str, str] = dict(meta.custom_metadata_map or {})
        self.inputs = [(i.name, [_dim(d) for d in i.shape], _ORT_DTYPES.get(i.type, i.type))
                       for i in self.session.get_inputs()]
        self.outputs = [(o.name, [_dim(d) for d in o.shape]) for o in self.session.get_outputs()]

    def _make_session(self, providers: list[str]):
        so = self._ort.SessionOptions()
        so.log_severity_level = 3
        if os.environ.get("RPB_ORT_SPIN", "0") != "1":
            # No busy-waiting between ops: the evaluator's image threads need the cores
            # onnxruntime's pool would otherwise spin on (measured in benchmarks/bench_eval.py).
            so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if self._threads:
            so.intra_op_num_threads = self._threads
        try:
            return self._ort.InferenceSession(str(self.path), sess_options=so, providers=providers)
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises several private exception types
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise UserError(f"cannot load ONNX model {self.path}: {first}") from None

    def _probe_run(self) -> None:
        feeds = {}
        for i in self.session.get_inputs():
            shape = [d if isinstance(d, int) and d > 0 else 1 for d in i.shape]
            dt = np.dtype(_ORT_DTYPES.get(i.type, "float32"))
            feeds[i.name] = np.zeros(shape, dt)
        self.session.run(None, feeds)

    @property
    def output_names(self) -> list[str]:
        return [o[0] for o in self.outputs]

    def run(self, x: np.ndarray, input_name: str, output_name: str) -> np.ndarray:
        """Forward ``x`` (already in the model's layout and dtype); return the named output."""
        return self.session.run([output_name], {input_name: x})[0]

    def run_many(self, x: np.ndarray, input_name: str, output_names: tuple[str, ...],
                 timeout_s: float | None = None) -> dict[str, np.ndarray]:
        """Forward ``x`` once; the named outputs by name. ``timeout_s`` bounds a probe: a graph can
        loop 10^12 times (an ONNX ``Loop``), so onnxruntime's terminate flag is raised from a timer
        and the run ends with ``ProbeTimeout``."""
        if timeout_s is None:
            return dict(zip(output_names, self.session.run(list(output_names), {input_name: x})))
        import threading

        ro = self._ort.RunOptions()
        ro.log_severity_level = 4  # the terminate flag is logged as an error otherwise
        timer = threading.Timer(timeout_s, lambda: setattr(ro, "terminate", True))
        timer.start()
        try:
            return dict(zip(output_names, self.session.run(list(output_names), {input_name: x}, ro)))
        except Exception as exc:  # noqa: BLE001 - onnxruntime's own exception types
            if ro.terminate:
                raise ProbeTimeout(f"{self.path.name}: a probe forward pass on a zero input did not end within "
                                   f"{timeout_s:g} s, so it was stopped") from None
            raise
        finally:
            timer.cancel()

    def describe(self) -> dict[str, Any]:
        d: dict[str, Any] = {"backend": "onnxruntime", "provider": self.provider, "device": self.device,
                             "onnxruntime": self._ort.__version__,
                             "intra_op_threads": self._threads or f"default ({os.cpu_count()} logical CPUs)"}
        if self.fallback_reason:
            d["cuda_fallback_reason"] = self.fallback_reason
        return d
