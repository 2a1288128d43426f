"""Partial PCKh: a model without some MPII joints is scored by HRNet's formula over the joints it has."""
from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.io import loadmat

from robustpose_bench.errors import UserError
from robustpose_bench.metrics.pckh import MPII_JOINTS, load_mpii_gt, pckh

DROPPED = ("head", "neck", "rwri", "lkne")  # 4 joints, one alone in its group (head), two halving a group


@pytest.fixture(scope="module")
def gt_path(shared_dir):
    return shared_dir / "data/mpii_val_gt/gt_valid.mat"


def _hrnet_evaluate(mat_path, preds_one_based: np.ndarray, dropped: tuple[str, ...], threshold: float = 0.5) -> dict:
    """HRNet's ``mpii.py`` ``evaluate`` written out again (masked arrays, as HRNet), with the joints the
    model lacks masked out of the Mean beside pelvis and thorax, and of the per-joint results."""
    m = loadmat(str(mat_path))
    names = [str(x[0]) for x in m["dataset_joints"][0]]
    jnt_visible = 1 - m["jnt_missing"]
    pos_pred_src = np.transpose(preds_one_based, [1, 2, 0])
    uv_err = np.linalg.norm(pos_pred_src - m["pos_gt_src"], axis=1)
    headsizes = np.linalg.norm(m["headboxes_src"][1, :, :] - m["headboxes_src"][0, :, :], axis=0) * 0.6
    scaled_uv_err = np.divide(uv_err, headsizes * np.ones((len(uv_err), 1)))
    scaled_uv_err = np.multiply(scaled_uv_err, jnt_visible)
    jnt_count = np.sum(jnt_visible, axis=1)
    less_than_threshold = np.multiply(scaled_uv_err <= threshold, jnt_visible)
    pck = np.divide(100.0 * np.sum(less_than_threshold, axis=1), jnt_count)
    mask = np.zeros(16, dtype=bool)
    mask[6:8] = True  # HRNet: PCKh.mask[6:8] = True
    for name in dropped:
        mask[names.index(name)] = True
    masked = np.ma.array(pck, mask=mask)
    count = np.ma.array(jnt_count, mask=mask).astype(np.float64)
    ratio = count / np.sum(count)
    kept = [n for n in names if n not in dropped]
    return {"Mean": float(np.sum(masked * ratio)), "per_joint": {n: float(pck[names.index(n)]) for n in kept}}


def _drop(preds: np.ndarray, dropped: tuple[str, ...]) -> np.ndarray:
    out = preds.copy()
    out[:, [MPII_JOINTS.index(n) for n in dropped]] = np.nan
    return out


def test_partial_equals_hrnet_restricted_to_the_joints(gt_path):
    gt = load_mpii_gt(gt_path)
    preds = np.transpose(gt.pos_pred_src, (2, 0, 1))  # HRNet's own predictions, 1-based
    ours = pckh(gt, _drop(preds, DROPPED), one_based=True)
    ref = _hrnet_evaluate(gt_path, preds, DROPPED)
    assert ours.partial and ours.joints == tuple(n for n in MPII_JOINTS if n not in DROPPED)
    assert ours.summary["Mean"] == pytest.approx(ref["Mean"], rel=1e-12, abs=1e-12)
    assert set(ours.per_joint) == set(ref["per_joint"])
    for name, v in ref["per_joint"].items():
        assert ours.per_joint[name] == pytest.approx(v, rel=1e-12), name
    # groups with a joint missing are not reported; the others are HRNet's averages
    assert not {"Head", "Wrist", "Knee"} & set(ours.summary)
    assert ours.summary["Ankle"] == pytest.approx((ref["per_joint"]["lank"] + ref["per_joint"]["rank"]) / 2)
    low = _hrnet_evaluate(gt_path, preds, DROPPED, threshold=0.11)
    assert ours.summary["Mean@0.1"] == pytest.approx(low["Mean"], rel=1e-12)
    # dropping joints changes the number: the restriction is real
    full = pckh(gt, preds, one_based=True)
    assert not full.partial and full.summary["Mean"] != pytest.approx(ours.summary["Mean"], abs=1e-3)
    assert full.summary["Mean"] == pytest.approx(_hrnet_evaluate(gt_path, preds, ())["Mean"], rel=1e-12)
    rows = ours.metrics()
    assert "PCKh/head" not in rows and "PCKh/Head" not in rows and rows["PCKh"] == ours.summary["Mean"]
    assert len(rows) == 2 + 4 + 12  # PCKh, PCKh@0.1, Shoulder/Elbow/Hip/Ankle, 12 joints


def test_coco_joints_from_json_nulls(gt_path):
    """A COCO-17 model's 12 joints, as `eval` writes them (null for the 4 MPII joints COCO lacks)."""
    from robustpose_bench.models.spec import MPII_KEYPOINT_NAMES, mpii_map_from_coco

    gt = load_mpii_gt(gt_path)
    preds0 = np.transpose(gt.pos_pred_src, (2, 0, 1)) - 1.0
    mpii_map = mpii_map_from_coco(tuple(range(17)))
    lacking = tuple(MPII_JOINTS[i] for i, j in enumerate(mpii_map) if j < 0)
    assert [MPII_KEYPOINT_NAMES[MPII_JOINTS.index(n)] for n in lacking] == ["pelvis", "thorax", "upper_neck", "head_top"]
    as_json = json.loads(json.dumps([[None if MPII_JOINTS[j] in lacking else xy for j, xy in enumerate(p)]
                                     for p in preds0.tolist()]))
    ours = pckh(gt, as_json)
    assert len(ours.joints) == 12
    assert ours.summary["Mean"] == pytest.approx(_hrnet_evaluate(gt_path, preds0 + 1.0, lacking)["Mean"], rel=1e-12)


def test_partial_errors(gt_path):
    gt = load_mpii_gt(gt_path)
    preds = np.transpose(gt.pos_pred_src, (2, 0, 1))
    some = preds.copy()
    some[:10, 3] = np.nan  # a joint null for some persons only
    with pytest.raises(UserError, match="null for every person"):
        pckh(gt, some, one_based=True)
    only_torso = np.full_like(preds, np.nan)
    only_torso[:, 6:8] = preds[:, 6:8]
    with pytest.raises(UserError, match="only pelvis and thorax"):
        pckh(gt, only_torso, one_based=True)
    with pytest.raises(UserError, match="no joint at all"):
        pckh(gt, np.full_like(preds, np.nan), one_based=True)
