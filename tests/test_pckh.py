"""MPII PCKh: HRNet's mpii.py numbers, checked against an independent re-computation written here."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.io import loadmat, savemat

from robustpose_bench.errors import UserError
from robustpose_bench.metrics.pckh import LOW_THRESHOLD, MPII_JOINTS, load_mpii_gt, pckh


@pytest.fixture(scope="module")
def full_gt_path(shared_dir):
    return shared_dir / "data/mpii_val_gt/gt_valid.mat"


@pytest.fixture(scope="module")
def full_gt(full_gt_path):
    return load_mpii_gt(full_gt_path)


def _reference_pckh(mat_path, preds_one_based: np.ndarray, threshold: float) -> dict:
    """HRNet's formula, re-derived with plain loops (a different code path from the package):
    for each joint, count visible persons whose prediction lies within threshold x 0.6 x head-box
    diagonal; Mean pools the counts of every joint but pelvis and thorax."""
    m = loadmat(str(mat_path))
    names = [str(x[0]) for x in m["dataset_joints"][0]]
    missing, gt, heads = m["jnt_missing"], m["pos_gt_src"], m["headboxes_src"]
    n = missing.shape[1]
    hits = {name: 0 for name in names}
    seen = {name: 0 for name in names}
    for p in range(n):
        (x1, y1), (x2, y2) = heads[0, :, p], heads[1, :, p]
        head = 0.6 * math.hypot(x2 - x1, y2 - y1)
        for j, name in enumerate(names):
            if missing[j, p]:
                continue
            seen[name] += 1
            dx = preds_one_based[p, j, 0] - gt[j, 0, p]
            dy = preds_one_based[p, j, 1] - gt[j, 1, p]
            if math.hypot(dx, dy) / head <= threshold:
                hits[name] += 1
    per = {k: (100.0 * hits[k] / seen[k] if seen[k] else None) for k in names}
    pooled = [k for k in names if k not in ("pelv", "thor")]
    mean = 100.0 * sum(hits[k] for k in pooled) / sum(seen[k] for k in pooled)
    return {"per_joint": per, "Mean": mean,
            "Head": per["head"],
            "Shoulder": (per["lsho"] + per["rsho"]) / 2, "Elbow": (per["lelb"] + per["relb"]) / 2,
            "Wrist": (per["lwri"] + per["rwri"]) / 2, "Hip": (per["lhip"] + per["rhip"]) / 2,
            "Knee": (per["lkne"] + per["rkne"]) / 2, "Ankle": (per["lank"] + per["rank"]) / 2}


def test_reference_predictions_match_independent_hrnet_formula(full_gt_path, full_gt):
    assert full_gt.num_persons == 2958
    # pos_pred_src is already 1-based (MATLAB), so it goes through the one_based path (no +1).
    preds = np.transpose(full_gt.pos_pred_src, (2, 0, 1))
    ours = pckh(full_gt, preds, one_based=True)
    ref = _reference_pckh(full_gt_path, preds, 0.5)
    for name in ("Head", "Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle", "Mean"):
        assert ours.summary[name] == pytest.approx(ref[name], rel=1e-12, abs=1e-12), name
    for name in MPII_JOINTS:
        assert ours.per_joint[name] == pytest.approx(ref["per_joint"][name], rel=1e-12, abs=1e-12), name
    # HRNet's "Mean@0.1" is pckAll[11] of np.arange(0, 0.51, 0.01), i.e. threshold 0.11.
    low = _reference_pckh(full_gt_path, preds, 0.11)
    assert LOW_THRESHOLD == 0.11
    assert ours.summary["Mean@0.1"] == pytest.approx(low["Mean"], rel=1e-12)
    # a real model, not a degenerate case
    assert 60.0 < ours.summary["Mean"] < 95.0
    assert ours.summary["Mean@0.1"] < ours.summary["Mean"]


def test_zero_based_path_adds_one(full_gt):
    one = np.transpose(full_gt.pos_pred_src, (2, 0, 1))
    a = pckh(full_gt, one, one_based=True)
    b = pckh(full_gt, one - 1.0, one_based=False)
    assert a.summary == pytest.approx(b.summary)
    # Forgetting the +1 changes the numbers: the convention matters.
    c = pckh(full_gt, one, one_based=False)
    assert c.summary["Mean@0.1"] != a.summary["Mean@0.1"]


def test_ground_truth_scores_100(full_gt, shared_dir):
    gt0 = np.transpose(full_gt.pos_gt_src, (2, 0, 1)) - 1.0
    res = pckh(full_gt, gt0)
    assert all(v == 100.0 for v in res.summary.values())
    sub = load_mpii_gt(shared_dir / "data/mpii_sample/gt_valid_subset5.mat")
    res = pckh(sub, np.transpose(sub.pos_gt_src, (2, 0, 1)) - 1.0)
    assert res.summary["Mean"] == 100.0 and res.per_joint["head"] == 100.0


def test_subset_file_is_columns_0_to_4(full_gt_path, shared_dir):
    sub = load_mpii_gt(shared_dir / "data/mpii_sample/gt_valid_subset5.mat")
    picked = load_mpii_gt(full_gt_path, indices=range(5))
    assert sub.num_persons == picked.num_persons == 5
    np.testing.assert_array_equal(sub.pos_gt_src, picked.pos_gt_src)
    np.testing.assert_array_equal(sub.headboxes_src, picked.headboxes_src)
    np.testing.assert_array_equal(sub.jnt_missing, picked.jnt_missing)
    # a subset scored on its own equals the independent formula on the same persons
    preds = np.transpose(picked.pos_pred_src, (2, 0, 1))
    ours = pckh(picked, preds, one_based=True)
    assert ours.summary["Mean"] == pytest.approx(
        _reference_pckh(shared_dir / "data/mpii_sample/gt_valid_subset5.mat", preds, 0.5)["Mean"], rel=1e-12)


def test_joint_never_visible_is_null_not_nan(tmp_path, full_gt_path):
    m = loadmat(str(full_gt_path))
    keep = slice(0, 3)
    missing = m["jnt_missing"][:, keep].copy()
    missing[0, :] = 1  # right ankle never visible
    path = tmp_path / "gt.mat"
    savemat(str(path), {"dataset_joints": m["dataset_joints"], "jnt_missing": missing,
                        "pos_gt_src": m["pos_gt_src"][:, :, keep], "headboxes_src": m["headboxes_src"][:, :, keep]})
    gt = load_mpii_gt(path)
    res = pckh(gt, np.transpose(gt.pos_gt_src, (2, 0, 1)), one_based=True)
    assert res.per_joint["rank"] is None and res.summary["Ankle"] is None
    assert res.summary["Mean"] == 100.0


def test_metric_names_for_rows(full_gt):
    res = pckh(full_gt, np.transpose(full_gt.pos_pred_src, (2, 0, 1)), one_based=True)
    names = res.metrics()
    assert names["PCKh"] == res.summary["Mean"] and names["PCKh@0.1"] == res.summary["Mean@0.1"]
    assert names["PCKh/Wrist"] == res.summary["Wrist"] and names["PCKh/lwri"] == res.per_joint["lwri"]
    assert len(names) == 2 + 7 + 16


def test_bad_inputs(full_gt, tmp_path):
    with pytest.raises(UserError, match="3 persons predicted but the ground truth has 2958"):
        pckh(full_gt, np.zeros((3, 16, 2)))
    with pytest.raises(UserError, match=r"shaped \(N, 16, 2\)"):
        pckh(full_gt, np.zeros((2958, 17, 2)))
    bad = np.zeros((2958, 16, 2))
    bad[5, 3, 0] = np.nan
    with pytest.raises(UserError, match="NaN"):
        pckh(full_gt, bad)
    with pytest.raises(UserError, match="not found"):
        load_mpii_gt(tmp_path / "gt_valid.mat")
    junk = tmp_path / "junk.mat"
    junk.write_bytes(b"this is not a mat file at all" * 10)
    with pytest.raises(UserError, match="junk.mat"):
        load_mpii_gt(junk)
    partial = tmp_path / "partial.mat"
    savemat(str(partial), {"jnt_missing": np.zeros((16, 2))})
    with pytest.raises(UserError, match="field 'dataset_joints' missing"):
        load_mpii_gt(partial)
