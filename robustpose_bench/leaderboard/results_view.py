"""What the leaderboard needs from an evaluator ``results.json``, in one place.

The evaluator owns the format (``robustpose_bench.results``, schema ``robustpose-results/1``,
docs/results.md). ``load_results`` validates the file (including that its summary matches its rows);
this module turns it into the numbers an entry holds, in percent as in the paper: values and the
summary's clean/mPC/per-corruption are multiplied by the file's ``percent_factor`` (100 for
pycocotools' AP fractions, 1 for PCKh); rPC is already a percentage.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..atomic import sha256_file
from ..errors import UserError
from .entries import BENCHMARK_ORDER, SEVERITIES


@dataclass
class ResultsView:
    """The scores and provenance of one results.json, keyed, in percent."""

    path: Path
    sha256: str
    dataset: str
    metric: str
    clean: float | None
    mPC: float | None
    rPC: float | None
    per_corruption: dict[str, float]
    per_severity: dict[str, dict[str, float]]
    partial: bool
    missing: list[str]
    provenance: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    # corruption -> {severity: score} for every corruption with any value (incl. validation ones).
    by_severity: dict[str, dict[int, float]] = field(default_factory=dict)
    #: partial PCKh: the MPII joints scored (a model without all 16); None for a full score
    joints: list[str] | None = None

    @property
    def card(self) -> dict[str, Any] | None:
        """The dataset card the results recorded (``provenance.dataset_card``): a user's dataset's title
        and split sizes come from it."""
        card = self.provenance.get("dataset_card")
        return card if isinstance(card, dict) else None

    @property
    def complete(self) -> bool:
        return not self.partial and not self.missing and self.clean is not None and self.mPC is not None


def read_results(path: str | Path) -> ResultsView:
    """Read (and validate, via the evaluator's ``load_results``) one results.json."""
    from ..results import load_results

    path = Path(path)
    raw = load_results(path)
    return view_of(raw, path, sha256_file(path))


def view_of(raw: dict[str, Any], path: Path, sha256: str) -> ResultsView:
    metric = raw["metric"]
    factor = float(raw["percent_factor"])
    summary = raw["summary"]

    def pct(v: Any) -> float | None:
        return None if v is None else float(v) * factor

    sev_all: dict[str, dict[int, float]] = {}
    for row in raw["rows"]:
        if row["metric"] != metric or row["corruption"] == "clean" or row["value"] is None:
            continue
        sev_all.setdefault(row["corruption"], {})[int(row["severity"])] = float(row["value"]) * factor
    per_severity = {c: {s: sev_all[c][int(s)] for s in SEVERITIES} for c in BENCHMARK_ORDER
                    if all(int(s) in sev_all.get(c, {}) for s in SEVERITIES)}
    view = ResultsView(
        path=path,
        sha256=sha256,
        dataset=raw["dataset"],
        metric=metric,
        clean=pct(summary["clean"]),
        mPC=pct(summary["mPC"]),
        rPC=None if summary["rPC"] is None else float(summary["rPC"]),
        per_corruption={c: float(v) * factor for c, v in summary["per_corruption"].items()},
        per_severity=per_severity,
        partial=bool(summary["partial"]),
        missing=list(summary["missing"]),
        provenance=raw["provenance"],
        config=raw.get("config") or {},
        by_severity=sev_all,
        joints=list(summary["joints"]) if summary.get("joints") else None,
    )
    return view


def provenance_field(prov: dict[str, Any], *keys: str) -> Any:
    """The first non-null value among dotted ``keys`` (e.g. 'model.sha256', 'boxes.source')."""
    for key in keys:
        node: Any = prov
        for part in key.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if node is not None:
            return node
    return None


def display_name(view: ResultsView) -> str:
    """A legend / table label: config.method, else the model spec's name, else the model file stem."""
    cfg = view.config
    if cfg.get("method"):
        return str(cfg["method"])
    spec_name = provenance_field(view.provenance, "model.spec.name")
    if spec_name:
        return str(spec_name)
    model_path = provenance_field(view.provenance, "model.path")
    return Path(str(model_path)).stem if model_path else view.path.stem


def input_size_of(view: ResultsView) -> str | None:
    """'HxW' from config.input_size or the model spec's input height and width."""
    if view.config.get("input_size"):
        return str(view.config["input_size"])
    h = provenance_field(view.provenance, "model.spec.input.height")
    w = provenance_field(view.provenance, "model.spec.input.width")
    return f"{int(h)}x{int(w)}" if h and w else None


def recorded_sample(view: ResultsView) -> tuple[int | None, int | None]:
    """(num_images, num_persons) as the results record them (``provenance.data``), else (None, None)."""
    return (provenance_field(view.provenance, "data.num_images"),
            provenance_field(view.provenance, "data.num_persons"))


def sample_size(view: ResultsView) -> tuple[int | None, int | None]:
    """The sample size of a run: as recorded, else counted from its ground truth when that file is at
    hand and still has the sha256 the results cite (results written before the count was recorded)."""
    images, persons = recorded_sample(view)
    if images is not None or persons is not None:
        return images, persons
    ann = provenance_field(view.provenance, "scorer.annotations.path")
    sha = provenance_field(view.provenance, "scorer.annotations.sha256")
    if not ann or not sha or not Path(ann).is_file() or sha256_file(ann) != sha:
        return None, None
    from ..datasets.cards import find_card
    from ..metrics.scoring import count_evaluated, load_ground_truth

    if find_card(view.dataset) is None:  # a user's own dataset: its card file is not at hand here
        return None, None
    return count_evaluated(view.dataset, load_ground_truth(view.dataset, ann))


def box_source_of(view: ResultsView) -> tuple[str | None, str | None]:
    """(box source by name, its sha256) as the results record them; never a path."""
    from ..vocabulary import box_source_label

    return (box_source_label(provenance_field(view.provenance, "boxes.source")),
            provenance_field(view.provenance, "boxes.sha256"))


def require(value: Any, what: str, path: Path) -> Any:
    if value is None or value == "":
        raise UserError(f"{path}: provenance has no {what}; a leaderboard entry must cite it")
    return value
