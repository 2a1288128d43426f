"""The Python API: ``robustpose_bench.evaluate(model, dataset=...)``, as ``eval`` does it.

Why a function over the command: a researcher holds the model in memory (RobustBench's
``benchmark(model, ...)``). A ``torch.nn.Module`` is scripted (``torch.jit.script``; traced when it
cannot be scripted) with its spec embedded and saved into the run folder as ``model.pt``: the
evaluator's whole pipeline (spec checks, batching, provenance with the model's sha256, resume) then
runs on a file, exactly as for a model given by path. Scripting writes the same bytes for the same
module, so a second call with the same net resumes its run; a traced module may not (torch numbers
traced classes per process), so give a traced run's ``model.pt`` as ``model`` to resume it.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

from .errors import UserError


def _example_input(spec: Any):
    import torch

    i = spec.input
    shape = (1, 3, i.height, i.width) if i.layout == "NCHW" else (1, i.height, i.width, 3)
    dtype = {"float32": torch.float32, "uint8": torch.uint8}.get(i.dtype)
    if dtype is None:
        raise UserError(f"spec '{spec.name}': input.dtype {i.dtype!r}: an in-memory model takes float32 or uint8")
    return torch.zeros(shape, dtype=dtype)


def save_module(module: Any, spec: Any, path: Path, *, replace: bool = True) -> Path:
    """``module`` as a TorchScript file with ``spec`` embedded (atomically). With ``replace`` false, an
    existing file of other bytes is a user's file, never overwritten (the same bytes are this model's
    earlier save: its run resumes)."""
    import io
    import warnings

    import torch

    from .atomic import atomic_write_bytes
    from .models.spec import coerce_spec, torchscript_extra_files

    spec = coerce_spec(spec)
    module = module.eval()
    try:
        scripted = torch.jit.script(module)
    except Exception:  # noqa: BLE001 - not scriptable (dynamic Python): trace it on the spec's input
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            scripted = torch.jit.trace(module, _example_input(spec))
    buf = io.BytesIO()
    torch.jit.save(scripted, buf, _extra_files=torchscript_extra_files(spec))
    if path.exists() and not replace:
        if not path.is_file() or path.read_bytes() != buf.getvalue():
            raise UserError(f"{path}: exists and is not this model (the in-memory model is saved there); move it, "
                            "choose another output, or pass overwrite=True")
        return path
    atomic_write_bytes(path, buf.getvalue())
    return path


def evaluate(model: Any, dataset: str, *, spec: Any = None, images: str | os.PathLike | None = None,
             ann: str | os.PathLike | None = None, root: str | os.PathLike | None = None,
             data: str | os.PathLike | None = None, gt_mat: str | os.PathLike | None = None,
             output: str | os.PathLike | None = None, predictions_out: str | os.PathLike | None = None,
             boxes: str | None = None, flip: bool | None = None, device: str = "auto",
             corruptions: Sequence[str] | None = None, severities: Sequence[int] | None = None,
             partial: bool = False, overwrite: bool = False, progress: bool = False, **options: Any) -> dict:
    """Evaluate ``model`` on a built -C dataset; return the results dict (also written to ``output``).

    ``model``: a model file (ONNX or TorchScript) or a ``torch.nn.Module`` with its ``spec`` (a
    ``ModelSpec``, a spec dict or a spec file; a preset name needs a file). The other arguments are
    ``eval``'s flags (``robustpose-bench eval --help``); further ``eval`` options (``batch``,
    ``method``, ``det_thr``, ``jobs``...) go in ``options``. Without ``output`` the run gets a new folder
    ``runs/<dataset>/<name>-N/`` (``results["provenance"]["predictions"]["dir"]`` is inside it).
    """
    from .evaluation import EvalOptions, run_eval

    def path(v):
        return None if v is None else Path(v)

    from .flag_values import parse_corruptions, parse_severities

    if isinstance(corruptions, str):  # "snow,fog" or "benchmark", as the command line takes them
        corruptions = list(parse_corruptions(corruptions, "corruptions"))
    if isinstance(severities, str):   # "1-5", "3", "1,3,5"
        severities = list(parse_severities(severities, "severities"))
    common = dict(dataset=dataset, images=path(images), ann=path(ann), root=path(root), data=path(data),
                  gt_mat=path(gt_mat), output=path(output), predictions_out=path(predictions_out), boxes=boxes,
                  flip=flip, device=device, corruptions=corruptions, severities=severities, partial=partial,
                  overwrite=overwrite, progress=progress, **options)
    try:
        import torch
        is_module = isinstance(model, torch.nn.Module)
    except ImportError:  # pragma: no cover - torch is a dependency
        is_module = False
    if not is_module:
        if not isinstance(model, (str, os.PathLike)):
            raise UserError(f"evaluate(model=...): expected a model file path or a torch.nn.Module, got "
                            f"{type(model).__name__}")
        return run_eval(EvalOptions(model=Path(model), spec=spec, **common))
    if spec is None or (isinstance(spec, str) and not Path(spec).is_file()):
        raise UserError("evaluate(torch.nn.Module): give its spec (a ModelSpec, a spec dict or a spec file; "
                        "models.spec.heatmap_model_spec makes an HRNet-style one); a preset name needs a model file")
    from .models.spec import coerce_spec, load_spec_file

    spec = load_spec_file(spec) if isinstance(spec, (str, os.PathLike)) else coerce_spec(spec)
    opts = EvalOptions(model=Path("model.pt"), spec=None, **common)
    made = opts.resolve_output(spec.name)
    try:
        folder = Path(opts.output).parent
        opts.model = (save_module(model, spec, folder / (Path(opts.output).stem + ".model.pt"), replace=overwrite)
                      if made is None else save_module(model, spec, folder / "model.pt"))
        return run_eval(opts)
    except BaseException:
        from .evaluation.conditions import release_run_folder

        if made is not None and (made / "model.pt").is_file() and not (made / "predictions").exists():
            (made / "model.pt").unlink()
        release_run_folder(made)
        raise
