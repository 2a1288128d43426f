"""``leaderboard verify``: re-evaluate a measured entry and confirm its numbers.

The model file must hash to the entry's ``model_sha256`` and the built data to its
``manifest_sha256``: anything else would verify a different experiment. The evaluator
(``robustpose_bench.evaluation.run_eval``) then runs with the settings recorded in the entry's results
file when it is at hand (boxes, flip, decoding, clean image and annotation paths), otherwise with
the evaluator's defaults; the model spec recorded in the results is reused unless it was embedded in
the model. ``--eval-arg`` overrides any of these.

Subsets (deterministic, no sampling): ``full`` = clean + 15 corruptions x severities 1-5 (76
conditions; compares every number, mPC and rPC included); ``quick`` = clean + every corruption at
severity 3 (16 conditions; compares clean and those 15 per-severity scores).

Tolerance: ``DEFAULT_TOLERANCE`` = 0.1 points (of AP x 100 or PCKh %), the precision the paper
prints. The same model on the same build and device gives identical numbers; the tolerance absorbs
float differences between execution providers (CPU vs CUDA), which can move a heatmap argmax.
"""
from __future__ import annotations

import contextlib
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from ..atomic import sha256_file
from ..errors import UserError
from .entries import BENCHMARK_ORDER, load_entry
from .results_view import ResultsView, provenance_field, read_results, view_of

DEFAULT_TOLERANCE = 0.1
SUBSETS = ("full", "quick")
QUICK_SEVERITY = 3


@dataclass
class Comparison:
    field: str
    entry: float
    measured: float | None
    ok: bool


@dataclass
class VerifyReport:
    entry: Path
    subset: str
    tolerance: float
    comparisons: list[Comparison] = field(default_factory=list)
    results_path: Path | None = None

    @property
    def ok(self) -> bool:
        return bool(self.comparisons) and all(c.ok for c in self.comparisons)

    def lines(self) -> list[str]:
        out = []
        for c in self.comparisons:
            if not c.ok:
                got = "missing" if c.measured is None else f"{c.measured:.4f}"
                out.append(f"{self.entry}: {c.field}: entry {c.entry:.4f}, re-evaluated {got} "
                           f"(tolerance {self.tolerance})")
        worst = max((abs(c.entry - c.measured) for c in self.comparisons if c.measured is not None), default=0.0)
        bad = sum(not c.ok for c in self.comparisons)
        verdict = "VERIFIED" if self.ok else f"NOT VERIFIED ({bad} of {len(self.comparisons)} numbers differ)"
        out.append(f"{verdict}: {len(self.comparisons)} numbers compared on the {self.subset} subset, "
                   f"largest difference {worst:.4f} points (tolerance {self.tolerance})"
                   + (f"; re-evaluation written to {self.results_path}" if self.results_path else ""))
        return out


def compare(entry: dict[str, Any], view: ResultsView, subset: str, tolerance: float) -> list[Comparison]:
    """Pairs of (entry number, re-evaluated number) for the numbers the subset determines."""
    scores = entry["scores"]
    pairs: list[tuple[str, float, float | None]] = [("scores.clean", scores["clean"], view.clean)]
    severities = ("1", "2", "3", "4", "5") if subset == "full" else (str(QUICK_SEVERITY),)
    per_sev = scores.get("per_severity") or {}
    for c in BENCHMARK_ORDER:
        for s in severities:
            if c in per_sev:
                pairs.append((f"scores.per_severity.{c}.{s}", per_sev[c][s], view.by_severity.get(c, {}).get(int(s))))
    if subset == "full":
        for c in BENCHMARK_ORDER:
            pairs.append((f"scores.per_corruption.{c}", scores["per_corruption"][c], view.per_corruption.get(c)))
        pairs.append(("scores.mPC", scores["mPC"], view.mPC))
        pairs.append(("scores.rPC", scores["rPC"], view.rPC))
    return [Comparison(f, a, b, b is not None and abs(a - b) <= tolerance + 1e-9) for f, a, b in pairs]


def _eval_overrides(extra_args: Sequence[str]) -> dict[str, Any]:
    """--eval-arg values, parsed with the eval command's own parser (so they mean the same)."""
    if not extra_args:
        return {}
    from ..cli import OneLineArgumentParser, UsageError, parse_command_line, remember_prog
    from ..commands import eval_cmd

    # Parsed as `robustpose-bench eval ...`: a mistake is one line pointing at eval's own help.
    parser = OneLineArgumentParser(prog="robustpose-bench", add_help=False)
    sub = parser.add_subparsers(dest="cmd")
    eval_cmd.register(sub)
    remember_prog(parser)
    allowed = {"root", "images", "ann", "gt_mat", "spec", "boxes", "batch", "jobs", "flip", "post",
               "det_thr", "in_vis_thr", "oks_thr", "layout"}
    try:
        defaults = vars(parse_command_line(parser, ["eval", "MODEL", "--dataset", "coco-c"]))
        given = vars(parse_command_line(parser, ["eval", "MODEL", "--dataset", "coco-c", *extra_args]))
    except UsageError as exc:
        raise UserError(f"--eval-arg: {exc}") from None
    changed = {k: v for k, v in given.items() if v != defaults.get(k)}
    bad = sorted(set(changed) - allowed)
    if bad:
        raise UserError(f"--eval-arg may set only {', '.join(sorted(allowed))}; not {', '.join(bad)}")
    return changed


def verify_entry(
    entry_file: str | Path,
    model: str | Path,
    data: str | Path,
    subset: str = "full",
    tolerance: float = DEFAULT_TOLERANCE,
    device: str = "auto",
    extra_args: Sequence[str] = (),
    out_dir: str | Path | None = None,
    progress: bool = True,
) -> VerifyReport:
    """Re-run the evaluation of a measured entry on ``subset`` and compare (see the module docstring)."""
    from ..evaluation import EvalOptions, run_eval

    if subset not in SUBSETS:
        raise UserError(f"--subset must be one of {', '.join(SUBSETS)}, not {subset!r}")
    if tolerance < 0:
        raise UserError(f"--tolerance must be >= 0, got {tolerance}")
    entry = load_entry(entry_file)
    data_ = entry.data
    origin = data_["origin"]
    if origin["kind"] != "measured":
        raise UserError(f"{entry.path}: a reported entry has no model or data to re-evaluate "
                        "(only measured entries can be verified)")
    model = Path(model)
    if not model.is_file():
        raise UserError(f"--model {model}: no such file")
    model_sha = sha256_file(model)
    if model_sha != origin["model_sha256"]:
        raise UserError(f"--model {model} has sha256 {model_sha[:12]}…, but the entry was measured with "
                        f"{origin['model_sha256'][:12]}…")
    manifest = Path(data) / data_["dataset"] / "manifest.json"
    if not manifest.is_file():
        raise UserError(f"--data {data}: no {data_['dataset']}/manifest.json (build the dataset first)")
    manifest_sha = sha256_file(manifest)
    if manifest_sha != origin["manifest_sha256"]:
        raise UserError(f"{manifest} has sha256 {manifest_sha[:12]}…, but the entry was measured on build "
                        f"{origin['manifest_sha256'][:12]}…; verify against the same build")

    settings = _recorded_settings(entry.path, origin)
    settings.update(_eval_overrides(extra_args))
    _check_recorded_boxes(settings, entry.path, origin)
    with contextlib.ExitStack() as stack:
        # Without --out the re-evaluation goes to a temporary folder that is removed when the run
        # ends, however it ends (its predictions can be large); --out keeps it.
        workdir = Path(out_dir) if out_dir is not None else Path(
            stack.enter_context(tempfile.TemporaryDirectory(prefix="rpb-verify-")))
        output = workdir / "results.json"
        opts = EvalOptions(
            model=model, dataset=data_["dataset"], data=Path(data), device=device,
            corruptions=list(BENCHMARK_ORDER),
            severities=[1, 2, 3, 4, 5] if subset == "full" else [QUICK_SEVERITY],
            partial=subset != "full", output=output, predictions_out=workdir / "predictions",
            progress=progress, **settings,
        )
        raw = run_eval(opts)
        view = view_of(raw, output, sha256_file(output))
    report = VerifyReport(entry=entry.path, subset=subset, tolerance=tolerance,
                          results_path=output if out_dir is not None else None)
    report.comparisons = compare(data_, view, subset, tolerance)
    return report


def _recorded_settings(entry_path: Path, origin: dict[str, Any]) -> dict[str, Any]:
    """Evaluation settings recorded in the entry's results file, when it is at hand."""
    rel = origin.get("results_path")
    if not rel or not (entry_path.parent / rel).is_file():
        return {}
    view = read_results(entry_path.parent / rel)
    cfg, prov = view.config, view.provenance
    settings: dict[str, Any] = {}
    if cfg.get("boxes") == "gt":
        settings["boxes"] = "gt"
    for key in ("det_thr", "in_vis_thr", "oks_thr"):  # older files' det_thre, ... are read as these
        if isinstance(cfg.get(key), (int, float)):
            settings[key] = float(cfg[key])
    if cfg.get("post_processing"):
        settings["post"] = cfg["post_processing"]
    if cfg.get("batch"):
        settings["batch"] = int(cfg["batch"])
    if prov.get("flip") is not None and cfg.get("pipeline", "topdown") == "topdown":
        settings["flip"] = bool(prov["flip"])
    spec = provenance_field(prov, "model.spec")
    if isinstance(spec, dict) and provenance_field(prov, "model.spec_source") != "embedded":
        settings["spec"] = spec  # the spec the model was read with (a sidecar that may not be at hand)
    images = provenance_field(prov, "data.source_images")
    ann = provenance_field(prov, "data.annotations")
    if images and ann and Path(images).is_dir() and Path(ann).is_file():
        settings["images"], settings["ann"] = Path(images), Path(ann)
    return settings


def _check_recorded_boxes(settings: dict[str, Any], entry_path: Path, origin: dict[str, Any]) -> None:
    """Detections are recorded by name and sha256 only: the user passes the file, and it must match."""
    rel = origin.get("results_path")
    if not rel or not (entry_path.parent / rel).is_file():
        return
    view = read_results(entry_path.parent / rel)
    source = provenance_field(view.provenance, "boxes.source")
    sha = provenance_field(view.provenance, "boxes.sha256")
    if view.config.get("boxes") in (None, "gt", "model"):
        return
    given = settings.get("boxes")
    if given in (None, "gt"):
        raise UserError(f"{entry_path}: measured with person detections {source} (sha256 {str(sha)[:12]}…); pass "
                        "them with --eval-arg --boxes FILE")
    if sha and sha256_file(given) != sha:
        raise UserError(f"--boxes {given} has sha256 {sha256_file(given)[:12]}…, but the entry was measured with "
                        f"{source} (sha256 {str(sha)[:12]}…)")
