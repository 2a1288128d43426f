"""Score prediction files per condition into keyed rows: the engine behind ``score`` (and ``eval``).

Prediction layout (what ``eval`` writes and ``score`` reads)::

    PRED/clean/results.json
    PRED/<corruption>/<severity 1..5>/results.json

What a prediction file holds, how it is read and how it is scored is the dataset's adapter's
(``datasets.scoring_dataset``: the same ``EvalDataset`` classes ``eval`` scores through), chosen by
the dataset's card: COCO keypoint results JSON for COCO-format datasets; for MPII a JSON list of 16x2
0-based joints per ground-truth person, or HRNet's ``pred.mat``. Nothing here names a dataset.
"""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Sequence

from ..atomic import sha256_file
from ..datasets.cards import DatasetCard, registry, resolve_card
from ..errors import UserError
from .robustness import CLEAN, CLEAN_SEVERITY, SEVERITIES, make_row

if TYPE_CHECKING:  # pragma: no cover
    from ..datasets.base import EvalDataset

#: The registered datasets (``robustpose-bench list datasets``); a user's card adds its own.
DATASETS: tuple[str, ...] = tuple(registry())
PREDICTION_FILE = "results.json"


def resolve_annotations(dataset: "str | DatasetCard", root: str | os.PathLike | None = None,
                        ann: str | os.PathLike | None = None) -> Path:
    """The ground-truth file: ``ann`` if given, else the card's standard path under ``root`` (the
    default split's ground truth, or its annotations)."""
    card = resolve_card(dataset)
    if (root is None) == (ann is None):
        raise UserError("give exactly one of --root DIR or --ann FILE")
    if ann is not None:
        path = Path(ann)
    else:
        _, lay = card.split(None)
        path = Path(root) / (lay.ground_truth or lay.annotations)
    if not path.is_file():
        hint = "" if ann is not None else f" (the standard {card.name} layout; pass --ann FILE otherwise)"
        raise UserError(f"annotation file not found: {path}{hint}")
    return path


@lru_cache(maxsize=2)
def _cached_dataset(card: DatasetCard, ann: str, mtime_ns: int, size: int) -> "EvalDataset":
    from ..datasets.sources import scoring_dataset

    return scoring_dataset(card, ann)


def cached_dataset(dataset: "str | DatasetCard", ann: str | os.PathLike) -> "EvalDataset":
    """The dataset's adapter on the ground truth ``ann``, memoised per process (worker processes
    load it once each)."""
    st = os.stat(ann)
    return _cached_dataset(resolve_card(dataset), str(ann), st.st_mtime_ns, st.st_size)


def load_ground_truth(dataset: "str | DatasetCard", ann: str | os.PathLike):
    """The scorer's ground truth: a pycocotools/xtcocotools ``COCO`` index, or an ``MPIIGroundTruth``."""
    from ..datasets.sources import scoring_dataset

    return scoring_dataset(dataset, ann).gt


def cached_ground_truth(dataset: "str | DatasetCard", ann: str | os.PathLike):
    """``load_ground_truth`` memoised per process."""
    return cached_dataset(dataset, ann).gt


def condition_rows(dataset: str, corruption: str, severity: int, metrics: dict[str, float | None]) -> list[dict]:
    """Keyed rows of one condition (clean: corruption 'clean', severity 0)."""
    return [make_row(dataset, corruption, severity, m, v) for m, v in metrics.items()]


def _prediction_file(folder: Path, names: Sequence[str]) -> Path:
    """The one prediction file of a condition folder: one of ``names`` (the adapter's ``prediction_files``)."""
    present = [folder / n for n in names if (folder / n).is_file()]
    if len(present) > 1:
        raise UserError(f"{folder}: both {' and '.join(p.name for p in present)}; keep one")
    if not present:
        extra = f" (or {', '.join(names[1:])})" if len(names) > 1 else ""
        raise UserError(f"prediction file missing: {folder / names[0]}{extra}")
    return present[0]


def discover_conditions(pred_dir: str | os.PathLike, dataset: "str | DatasetCard") -> list[tuple[str, int, Path]]:
    """(corruption, severity, file) for every condition under ``pred_dir``, clean first.

    Folders must be ``clean`` or a corruption name holding severity folders ``1``..``5``; anything
    else is an error rather than silently skipped. Plain files at the top are ignored.
    """
    from corruptions import CORRUPTIONS

    from ..datasets.sources import adapter_class

    names = adapter_class(resolve_card(dataset)).prediction_files
    root = Path(pred_dir)
    if not root.is_dir():
        raise UserError(f"predictions folder not found: {root}")
    found: list[tuple[str, int, Path]] = []
    order = {name: i for i, name in enumerate(CORRUPTIONS)}
    for entry in sorted(root.iterdir(), key=lambda p: (p.name != CLEAN, order.get(p.name, 99), p.name)):
        if not entry.is_dir() or entry.name.startswith("."):
            continue
        if entry.name == CLEAN:
            found.append((CLEAN, CLEAN_SEVERITY, _prediction_file(entry, names)))
            continue
        if entry.name not in CORRUPTIONS:
            raise UserError(f"{entry}: not 'clean' nor a corruption name (see `robustpose-bench list corruptions`)")
        for sev in sorted(entry.iterdir(), key=lambda p: p.name):
            if not sev.is_dir() or sev.name.startswith("."):
                continue
            if sev.name not in {str(s) for s in SEVERITIES}:
                raise UserError(f"{sev}: severity folders are 1..5 (an AdvMix-layout 0..4 tree must be renamed)")
            found.append((entry.name, int(sev.name), _prediction_file(sev, names)))
    if not found:
        raise UserError(f"{root}: no prediction folders (expected clean/{PREDICTION_FILE} and <corruption>/<severity>/{PREDICTION_FILE})")
    return found


def scoring_dataset_for(card: DatasetCard, ann: str | os.PathLike, images: str = "all") -> "EvalDataset":
    """The cached adapter on ``ann`` set to score ``images``: 'all', or 'with-keypoints' (ultralytics'
    protocol, by the rule ``eval --images-with-keypoints`` uses: ``CocoEval.use_images``); refused
    where the dataset's scorer covers every person (MPII, CrowdPose)."""
    ds = cached_dataset(card, ann)
    ds.use_images(images)
    return ds


def _score_one(card: DatasetCard, ann: str, corruption: str, severity: int, path: str,
               images: str = "all") -> tuple[list[dict], str]:
    from ..determinism import inject_jitter

    inject_jitter()  # the determinism tests' delay hook; a no-op otherwise
    ds = scoring_dataset_for(card, ann, images)
    metrics = ds.score(ds.read_predictions(Path(path)), source=path)
    return condition_rows(card.name, corruption, severity, metrics), sha256_file(path)


def score_prediction_dir(dataset: "str | DatasetCard", pred_dir: str | os.PathLike, ann: str | os.PathLike,
                         jobs: int = 1, progress: bool = True,
                         images: str = "all") -> tuple[list[dict], dict[str, str]]:
    """Keyed rows for every condition under ``pred_dir`` and the sha256 of each prediction file.

    ``images``: 'all' (every ground-truth image) or 'with-keypoints' (``scored_image_ids``).

    ``jobs`` > 1 scores conditions in joblib worker processes (COCOeval is single-threaded Python);
    each worker loads the ground truth once. A tqdm bar with ETA goes to stderr.
    """
    from joblib import Parallel, delayed
    from ..progress import progress_bar

    from ..evaluation.store import check_single_run

    card = resolve_card(dataset)
    conditions = discover_conditions(pred_dir, card)
    # files of one run only: a folder that mixes two models' or box sources' predictions is refused
    check_single_run(pred_dir, [CLEAN if c == CLEAN else f"{c}/{s}" for c, s, _ in conditions])
    ann = str(ann)
    scoring_dataset_for(card, ann, images)  # an image set the scorer cannot take is refused before any work
    tasks = (delayed(_score_one)(card, ann, c, s, str(p), images) for c, s, p in conditions)
    if jobs == 1:
        results: Iterator = (_score_one(card, ann, c, s, str(p), images) for c, s, p in conditions)
    else:
        results = Parallel(n_jobs=jobs, return_as="generator")(tasks)
    rows: list[dict] = []
    files: dict[str, str] = {}
    with progress_bar(total=len(conditions), desc=f"score {card.name}", unit="cond", enabled=progress) as bar:
        for (c, s, _), (cond_rows, sha) in zip(conditions, results):
            rows.extend(cond_rows)
            files[CLEAN if c == CLEAN else f"{c}/{s}"] = sha
            bar.update()
    return rows, files


def count_evaluated(dataset: "str | DatasetCard", gt) -> tuple[int | None, int]:
    """(num_images, num_persons) that scoring against ``gt`` covers: the sample size of a run.

    Recorded in results.json (``provenance.data``) so that a 4-image run is never mistaken for the
    5,000-image benchmark; the rule is the adapter's (``count_gt``): COCO-style sets count every
    ground-truth image and the non-crowd persons with a labelled keypoint (the ones COCOeval scores);
    MPII the persons of ``gt_valid.mat``, which holds no image names (images: None).
    """
    from ..datasets.sources import adapter_class

    return adapter_class(resolve_card(dataset)).count_gt(gt)


def summary_line(summary: dict, percent_factor: float) -> str:
    """'AP clean 71.2  mPC 45.0  rPC 63.2': the one-line summary the CLI prints."""
    def f(v: float | None, k: float) -> str:
        return "n/a" if v is None else f"{v * k:.1f}"

    from ..vocabulary import partial_joints_text

    extra = " (partial)" if summary.get("partial") else ""
    if summary.get("joints"):  # PCKh over the joints the model has, never to be read as a full PCKh
        extra += f" ({partial_joints_text(summary['joints'])})"
    return (f"{summary['metric']} clean {f(summary['clean'], percent_factor)}  "
            f"mPC {f(summary['mPC'], percent_factor)}  rPC {f(summary['rPC'], 1)}{extra}")


__all__: Sequence[str] = (
    "DATASETS", "resolve_annotations", "load_ground_truth", "cached_dataset", "cached_ground_truth",
    "scoring_dataset_for",
    "condition_rows", "discover_conditions", "score_prediction_dir", "count_evaluated", "summary_line",
)
