"""MPII PCKh exactly as HRNet's ``lib/dataset/mpii.py`` ``evaluate()`` computes it.

No library scores MPII, so this is hand-written to reproduce HRNet's arithmetic (the numbers every
MPII paper, and the AdvMix paper, report):

- ground truth from ``gt_valid.mat`` (``dataset_joints``, ``jnt_missing`` 16xN, ``pos_gt_src`` 16x2xN,
  ``headboxes_src`` 2x2xN), all in 1-based (MATLAB) pixel coordinates;
- predictions are compared in 1-based coordinates: HRNet adds 1.0 to its 0-based predictions;
- head size = ||headbox corner2 - corner1|| x SC_BIAS (0.6); a joint is correct when
  ||pred - gt|| / head size <= 0.5, counted only where ``jnt_missing`` is 0;
- per-joint PCKh = 100 x correct / visible; HRNet's groups (Head, Shoulder, ... Ankle) average the
  left/right joints; "Mean" weights every joint by its visible count with pelvis (6) and thorax (7)
  left out; "Mean@0.1" uses HRNet's ``np.arange(0, 0.51, 0.01)[11]`` threshold, which is 0.11, not
  0.1 (a quirk of the reference kept on purpose so the numbers match).

Partial PCKh: a model without some MPII joints (a COCO-17 model has no pelvis, thorax, upper neck
or head top) leaves them out: NaN in an array, ``null`` in a JSON prediction file, for every person.
PCKh is then HRNet's formula restricted to the joints present: per-joint values for those joints, a
group only when all its joints are present, and "Mean" weighting the present joints by their visible
counts with pelvis and thorax still left out. ``PCKhResult.joints`` lists the joints scored; with all
16 present the arithmetic is exactly HRNet's.

Prediction convention: arrays are (N, 16, 2) in MPII joint order, one row per ground-truth person in
``gt_valid.mat`` order. ``one_based=False`` (default) means 0-based pixel coordinates, as HRNet's
``preds`` before ``evaluate`` adds 1; ``one_based=True`` means already 1-based (HRNet's saved
``pred.mat`` and ``gt_valid.mat``'s ``pos_pred_src``), and nothing is added.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import UserError

SC_BIAS = 0.6
THRESHOLD = 0.5
# HRNet: rng = np.arange(0, 0.5 + 0.01, 0.01); pckAll[11] -> this threshold (0.11).
LOW_THRESHOLD = float(np.arange(0, 0.5 + 0.01, 0.01)[11])

MPII_JOINTS: tuple[str, ...] = (
    "rank", "rkne", "rhip", "lhip", "lkne", "lank", "pelv", "thor",
    "neck", "head", "rwri", "relb", "rsho", "lsho", "lelb", "lwri",
)
EXCLUDED_FROM_MEAN = (6, 7)  # pelvis and thorax, masked out of HRNet's "Mean"
# HRNet's name_value groups, in its order: (name, joints averaged).
GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Head", ("head",)),
    ("Shoulder", ("lsho", "rsho")),
    ("Elbow", ("lelb", "relb")),
    ("Wrist", ("lwri", "rwri")),
    ("Hip", ("lhip", "rhip")),
    ("Knee", ("lkne", "rkne")),
    ("Ankle", ("lank", "rank")),
)


@dataclass(frozen=True)
class MPIIGroundTruth:
    """The fields of HRNet's ``gt_valid.mat`` that PCKh needs (N persons)."""

    dataset_joints: tuple[str, ...]
    jnt_missing: np.ndarray  # (16, N)
    pos_gt_src: np.ndarray  # (16, 2, N), 1-based
    headboxes_src: np.ndarray  # (2, 2, N)
    source: str = "gt_valid.mat"
    pos_pred_src: np.ndarray | None = None  # (16, 2, N) when the file ships reference predictions

    @property
    def num_persons(self) -> int:
        return int(self.jnt_missing.shape[1])


def load_mpii_gt(path: str | os.PathLike, indices: Sequence[int] | None = None) -> MPIIGroundTruth:
    """Read ``gt_valid.mat`` (or a subset file with the same fields) with ``scipy.io.loadmat``.

    ``indices`` keeps only those person columns (predictions must then follow that order).
    """
    from scipy.io import loadmat

    path = Path(path)
    if not path.is_file():
        raise UserError(f"MPII ground truth not found: {path}")
    try:
        mat = loadmat(str(path))
    except Exception as exc:  # scipy raises several types for a non-MAT file
        raise UserError(f"{path}: not a readable MATLAB .mat file ({exc})") from exc
    for field in ("dataset_joints", "jnt_missing", "pos_gt_src", "headboxes_src"):
        if field not in mat:
            raise UserError(f"{path}: field '{field}' missing (expected HRNet's gt_valid.mat layout)")
    joints = tuple(str(np.asarray(j).ravel()[0]) for j in np.asarray(mat["dataset_joints"]).ravel())
    if sorted(joints) != sorted(MPII_JOINTS):
        raise UserError(f"{path}: field 'dataset_joints' must name the 16 MPII joints, got {list(joints)}")
    missing = np.asarray(mat["jnt_missing"])
    pos = np.asarray(mat["pos_gt_src"], dtype=np.float64)
    heads = np.asarray(mat["headboxes_src"], dtype=np.float64)
    n = missing.shape[-1] if missing.ndim == 2 else -1
    if missing.shape != (16, n) or pos.shape != (16, 2, n) or heads.shape != (2, 2, n):
        raise UserError(
            f"{path}: inconsistent shapes jnt_missing {missing.shape}, pos_gt_src {pos.shape}, "
            f"headboxes_src {heads.shape} (expected (16,N), (16,2,N), (2,2,N))"
        )
    pred = mat.get("pos_pred_src")
    pred = np.asarray(pred, dtype=np.float64) if pred is not None and np.shape(pred) == (16, 2, n) else None
    if indices is not None:
        idx = np.asarray(list(indices), dtype=np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= n):
            raise UserError(f"{path}: person indices must lie in 0..{n - 1}")
        missing, pos, heads = missing[:, idx], pos[:, :, idx], heads[:, :, idx]
        pred = pred[:, :, idx] if pred is not None else None
    return MPIIGroundTruth(joints, missing, pos, heads, str(path), pred)


def _as_gt(gt: MPIIGroundTruth | str | os.PathLike) -> MPIIGroundTruth:
    return gt if isinstance(gt, MPIIGroundTruth) else load_mpii_gt(gt)


def _as_array(preds) -> np.ndarray:
    """float64 array of ``preds``; a ``null`` joint (a joint the model lacks) becomes NaN."""
    if isinstance(preds, (list, tuple)):
        def joint(j):
            return [math.nan, math.nan] if j is None else j
        preds = [[joint(j) for j in p] if isinstance(p, (list, tuple)) else p for p in preds]
    return np.asarray(preds, dtype=np.float64)


def check_predictions(preds, num_persons: int, source: str = "predictions") -> np.ndarray:
    """(N, 16, 2) float64 from ``preds`` ((N,16,2) or (N,16,3); the third column is ignored).

    A joint the model lacks is NaN (``null`` in JSON) for every person; a NaN elsewhere is an error.
    """
    try:
        arr = _as_array(preds)
    except (TypeError, ValueError) as exc:
        raise UserError(f"{source}: MPII predictions must be numbers shaped (N, 16, 2) (null for a joint "
                        "the model lacks)") from exc
    if arr.ndim != 3 or arr.shape[1] != 16 or arr.shape[2] not in (2, 3):
        raise UserError(f"{source}: MPII predictions must be shaped (N, 16, 2), got {arr.shape}")
    if arr.shape[0] != num_persons:
        raise UserError(
            f"{source}: {arr.shape[0]} persons predicted but the ground truth has {num_persons} "
            "(one prediction per ground-truth person, in gt_valid.mat order)"
        )
    arr = arr[:, :, :2]
    absent = np.isnan(arr).all(axis=(0, 2)) if arr.shape[0] else np.zeros(16, dtype=bool)
    if np.isinf(arr).any() or np.isnan(arr[:, ~absent]).any():
        raise UserError(f"{source}: MPII predictions contain NaN or infinite coordinates (a joint the model "
                        "lacks must be null for every person)")
    if absent.all():
        raise UserError(f"{source}: MPII predictions have no joint at all (every joint is null)")
    return arr


def present_joints(arr: np.ndarray) -> np.ndarray:
    """(16,) bool: the joints predicted (not NaN) in checked predictions."""
    return ~np.isnan(arr).all(axis=(0, 2)) if arr.shape[0] else np.ones(16, dtype=bool)


def _per_joint(scaled_err: np.ndarray, visible: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-joint PCKh (percent, NaN where no joint is visible) and the visible counts."""
    count = visible.sum(axis=1).astype(np.float64)
    hits = ((scaled_err <= threshold) * visible).sum(axis=1).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return 100.0 * hits / count, count


def _weighted_mean(pck: np.ndarray, count: np.ndarray, present: np.ndarray) -> float:
    """HRNet's "Mean": sum of PCKh x count / total count over the present joints other than pelvis and
    thorax (all 16 present: exactly HRNet's masked sum)."""
    keep = present.copy()
    keep[list(EXCLUDED_FROM_MEAN)] = False
    if not count[keep].sum():
        return math.nan
    ratio = np.where(keep, count, 0.0) / count[keep].sum()
    # A joint never visible (possible on a subset) has weight 0; HRNet's NaN would poison the sum.
    terms = np.where(keep & (count > 0), pck * ratio, 0.0)
    return float(np.sum(terms))


@dataclass(frozen=True)
class PCKhResult:
    """HRNet's ``name_value`` (``summary``) plus PCKh of each scored joint (``per_joint``).

    A value is None where no joint of that kind is visible in the ground truth (HRNet gives NaN).
    Partial PCKh (``joints`` shorter than the 16): ``per_joint`` holds the scored joints only and
    ``summary`` the groups whose joints are all scored.
    """

    summary: dict[str, float | None]
    per_joint: dict[str, float | None]
    joints: tuple[str, ...] = MPII_JOINTS

    @property
    def partial(self) -> bool:
        return len(self.joints) < len(MPII_JOINTS)

    def metrics(self) -> dict[str, float | None]:
        """Flat metric names for keyed rows: PCKh (= Mean), PCKh@0.1, PCKh/Head..., PCKh/rank..."""
        out: dict[str, float | None] = {"PCKh": self.summary["Mean"], "PCKh@0.1": self.summary["Mean@0.1"]}
        for name, _ in GROUPS:
            if name in self.summary:
                out[f"PCKh/{name}"] = self.summary[name]
        for name, v in self.per_joint.items():
            out[f"PCKh/{name}"] = v
        return out


def _none_if_nan(x: float) -> float | None:
    return None if not np.isfinite(x) else float(x)


def pckh(
    gt: MPIIGroundTruth | str | os.PathLike,
    preds,
    one_based: bool = False,
    threshold: float = THRESHOLD,
    source: str = "predictions",
) -> PCKhResult:
    """PCKh@``threshold`` of ``preds`` against ``gt`` (see the module docstring for conventions)."""
    g = _as_gt(gt)
    arr = check_predictions(preds, g.num_persons, source)
    if not one_based:
        arr = arr + 1.0  # HRNet: "convert 0-based index to 1-based index"
    present = present_joints(arr)
    pos_pred = np.transpose(arr, (1, 2, 0))  # (16, 2, N), the layout of pos_gt_src
    visible = 1 - g.jnt_missing.astype(np.int64)
    err = np.linalg.norm(pos_pred - g.pos_gt_src, axis=1)  # (16, N)
    head = np.linalg.norm(g.headboxes_src[1, :, :] - g.headboxes_src[0, :, :], axis=0) * SC_BIAS  # (N,)
    with np.errstate(invalid="ignore", divide="ignore"):
        scaled = (err / head[None, :]) * visible
    pck, count = _per_joint(scaled, visible, threshold)
    pck_low, _ = _per_joint(scaled, visible, LOW_THRESHOLD)

    j = {name: g.dataset_joints.index(name) for name in MPII_JOINTS}
    # The masked positions are fixed indices 6:8 in HRNet; check the file really puts pelvis/thorax there.
    if (j["pelv"], j["thor"]) != EXCLUDED_FROM_MEAN:
        raise UserError(f"{g.source}: dataset_joints must list pelvis and thorax at positions 6 and 7")
    scored = tuple(name for name in MPII_JOINTS if present[j[name]])
    if not any(present[j[name]] for name in MPII_JOINTS if j[name] not in EXCLUDED_FROM_MEAN):
        raise UserError(f"{source}: only pelvis and thorax are predicted; PCKh's Mean leaves both out, so "
                        "nothing would be scored")
    summary: dict[str, float | None] = {}
    for name, members in GROUPS:
        if not all(m in scored for m in members):
            continue  # a group of joints the model lacks (or half lacks) is not reported
        vals = [pck[j[m]] for m in members]
        summary[name] = _none_if_nan(vals[0] if len(vals) == 1 else 0.5 * (vals[0] + vals[1]))
    summary["Mean"] = _none_if_nan(_weighted_mean(pck, count, present))
    summary["Mean@0.1"] = _none_if_nan(_weighted_mean(pck_low, count, present))
    per_joint = {name: _none_if_nan(pck[j[name]]) for name in scored}
    return PCKhResult(summary, per_joint, scored)


def scored_joints_of_rows(rows: Sequence[dict]) -> tuple[str, ...] | None:
    """The MPII joints that keyed PCKh rows score (their ``PCKh/<joint>`` rows), in MPII order; None
    when the rows hold no per-joint row (a file that records only PCKh: nothing to tell)."""
    names = {r["metric"].split("/", 1)[1] for r in rows if r["metric"].startswith("PCKh/")}
    found = tuple(name for name in MPII_JOINTS if name in names)
    return found or None
