"""HigherHRNet's bottom-up grouping (associative embedding), as its official test code does it.

Cheng et al., *HigherHRNet* (CVPR 2020), repository ``HRNet/HigherHRNet-Human-Pose-Estimation``:
``lib/core/group.py`` (``HeatmapParser.parse``: NMS, top-k, ``match_by_tag``, ``adjust``, ``refine``)
and ``lib/utils/transforms.py`` (``get_multi_scale_size``, ``get_final_preds``). Written here from
those formulas in numpy, because the grouping decides which joints form a person, and a grouping
that differs from the official one in any rule (a threshold compared in float32 instead of float64,
a solver that breaks ties otherwise, a refine that uses another tag) gives other persons and another
AP. No small library implements HigherHRNet's parser (mmpose's ``AssociativeEmbedding`` codec is
its own re-implementation inside mmcv/mmengine, not the official code), hence this module.
``tests/test_higherhrnet.py`` checks it against the official outputs of 40 synthetic cases
(``../shared/reference/higherhrnet_parser``).

Conventions: ``det`` is ``(K, H, W)`` float32 (the aggregated heatmaps), ``tag`` ``(K, H, W, T)``
float32 (T = 2 with the flip test); a person is ``(K, 3 + T)`` = ``(x, y, score, tag...)`` with x
the column and y the row, all zeros for a joint not found. Exactness notes, each as the official
code's arithmetic does it:

- the detection threshold is compared in float64 (``np.concatenate`` of int locations and float32
  values makes float64 joints); a float32 comparison would keep a peak of exactly ``float32(0.1)``;
- the assignment is munkres 1.1.4's ``Munkres().compute``, the solver ``group.py`` calls. The cost
  ``100 * round(distance) - score`` often has tied optima, and the solver's step order decides
  which one wins: scipy's ``linear_sum_assignment`` changes 5 of the 40 reference cases and munkres
  3.0.0 (a rewrite) 2 of them. We depend on the pinned ``munkres==1.1.4`` (pure Python) instead of
  re-implementing it: the same code gives the same tie-breaking by construction, where a
  re-implementation would have to reproduce every step's scan order and still could drift;
- the top-30 candidates of a joint are taken in descending score, ties by the lower flat index
  (torch's ``topk`` leaves the order of equal values unspecified, and CPU and CUDA differ);
- the person score is the float32 mean of the 17 joint scores after ``adjust`` and before
  ``refine``, as ``parse`` returns it (refined joints do not count).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import maximum_filter

#: The order in which ``match_by_tag`` visits the COCO joints (group.py ``Params.joint_order``):
#: head, shoulders, hips, then elbows, wrists, knees, ankles.
COCO_JOINT_ORDER = (0, 1, 2, 3, 4, 5, 6, 11, 12, 7, 8, 9, 10, 13, 14, 15, 16)


@dataclass(frozen=True)
class GroupingParams:
    """The official test settings (``w32_512_adam_lr1e-3.yaml`` and the 640 configs)."""

    detection_threshold: float = 0.1   # TEST.DETECTION_THRESHOLD
    tag_threshold: float = 1.0         # TEST.TAG_THRESHOLD
    max_people: int = 30               # DATASET.MAX_NUM_PEOPLE: the top-k per joint and the groups matched
    nms_kernel: int = 5                # TEST.NMS_KERNEL (padding (kernel - 1) / 2: NMS_PADDING 2)
    joint_order: tuple[int, ...] = COCO_JOINT_ORDER


def nms(det: np.ndarray, kernel: int) -> np.ndarray:
    """Keep the values that equal the maximum of their ``kernel`` x ``kernel`` window, zero the rest.

    torch's ``MaxPool2d(kernel, 1, (kernel - 1) // 2)`` pads with -inf; so does the filter here.
    A maximum is exact in any order, so the kept set equals the official one.
    """
    pooled = maximum_filter(det, size=(1, kernel, kernel), mode="constant", cval=-np.inf)
    return det * (pooled == det).astype(det.dtype)


def top_candidates(det_nms: np.ndarray, tag: np.ndarray, params: GroupingParams
                   ) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per joint: the NMS peaks among the top ``max_people`` that pass the detection threshold.

    Returns ``(joints, tags)`` per joint: ``joints`` float64 ``(n, 3 + T)`` = (x, y, value, tags),
    ``tags`` float32 ``(n, T)``, in descending value. The official code takes the top k of every
    map, then drops those not above the threshold; the peaks above it are the largest values, so
    taking them first and cutting at k is the same set in the same order.
    """
    k, h, w = det_nms.shape
    flat = det_nms.reshape(k, h * w)
    tag_flat = tag.reshape(k, h * w, tag.shape[-1])
    out = []
    for j in range(k):
        v = flat[j]
        idx = np.flatnonzero(v.astype(np.float64) > params.detection_threshold)
        idx = idx[np.lexsort((idx, -v[idx]))][: params.max_people]
        tags = tag_flat[j, idx]
        joints = np.column_stack([idx % w, idx // w, v[idx]]).astype(np.float64)
        out.append((np.concatenate([joints, tags.astype(np.float64)], axis=1), tags))
    return out


def _assign(cost: np.ndarray) -> list[tuple[int, int]]:
    """(row, column) pairs of munkres 1.1.4's optimal assignment (see the module docstring)."""
    from munkres import Munkres

    return Munkres().compute(cost.tolist())


def match_by_tag(candidates: list[tuple[np.ndarray, np.ndarray]], params: GroupingParams) -> np.ndarray:
    """Group the joint candidates into persons by their tags (group.py ``match_by_tag``).

    Joints are visited in ``joint_order``. The first joint with candidates starts one person per
    candidate; every later joint's candidates are assigned to the first ``max_people`` persons by
    the Hungarian algorithm on ``100 * round(|tag - mean person tag|) - value`` (extra candidates
    get columns of cost 1e10), and join their person when that tag distance is below the tag
    threshold, else start a new person. Persons are keyed by their first joint's first tag value
    (a dict, in insertion order), as the official code keys them: a new person whose key is taken
    overwrites that person's joint and restarts its tag list.
    """
    num_joints = len(params.joint_order)
    num_tags = candidates[0][1].shape[1]
    joint_dict: dict[float, np.ndarray] = {}
    tag_dict: dict[float, list[np.ndarray]] = {}

    def start(key: float, idx: int, joint: np.ndarray, tag: np.ndarray) -> None:
        joint_dict.setdefault(key, np.zeros((num_joints, 3 + num_tags)))[idx] = joint
        tag_dict[key] = [tag]

    for idx in params.joint_order:
        joints, tags = candidates[idx]
        if len(joints) == 0:
            continue
        if not joint_dict:
            for joint, tag in zip(joints, tags):
                start(float(tag[0]), idx, joint, tag)
            continue
        keys = list(joint_dict)[: params.max_people]
        person_tags = np.array([np.mean(tag_dict[key], axis=0) for key in keys])  # float32, as np.mean of float32
        dist = np.linalg.norm(joints[:, None, 3:] - person_tags[None, :, :], ord=2, axis=2)
        cost = np.round(dist) * 100 - joints[:, 2:3]
        n_add, n_grp = cost.shape
        if n_add > n_grp:
            cost = np.concatenate([cost, np.zeros((n_add, n_add - n_grp)) + 1e10], axis=1)
        for row, col in _assign(cost):
            if row < n_add and col < n_grp and dist[row][col] < params.tag_threshold:
                joint_dict[keys[col]][idx] = joints[row]
                tag_dict[keys[col]].append(tags[row])
            else:
                start(float(tags[row][0]), idx, joints[row], tags[row])
    if not joint_dict:
        return np.zeros((0, num_joints, 3 + num_tags), np.float32)
    return np.array([joint_dict[key] for key in joint_dict]).astype(np.float32)


def adjust(ans: np.ndarray, det: np.ndarray) -> np.ndarray:
    """A quarter pixel toward the higher neighbour on each axis, then +0.5 (group.py ``adjust``).

    Neighbours are clamped at the map's border; a tie moves the point a quarter pixel down/left.
    In place on ``ans`` (P, K, 3 + T); returns it.
    """
    p, j = np.nonzero(ans[:, :, 2] > 0)
    if len(p) == 0:
        return ans
    _, h, w = det.shape
    x, y = ans[p, j, 0], ans[p, j, 1]
    c, r = x.astype(np.int64), y.astype(np.int64)
    dx = np.where(det[j, r, np.minimum(c + 1, w - 1)] > det[j, r, np.maximum(c - 1, 0)], 0.25, -0.25)
    dy = np.where(det[j, np.minimum(r + 1, h - 1), c] > det[j, np.maximum(r - 1, 0), c], 0.25, -0.25)
    ans[p, j, 0] = x + dx + 0.5
    ans[p, j, 1] = y + dy + 0.5
    return ans


def refine(det: np.ndarray, tag: np.ndarray, person: np.ndarray, tag_planes: np.ndarray | None = None
           ) -> np.ndarray:
    """Fill a person's missing joints (group.py ``refine``); in place on ``person`` (K, 3 + T).

    The person's tag is the float32 mean of the tag maps at its found joints. For a missing joint,
    the location maximising ``heatmap - round(|tag - person tag|)`` is taken, with a quarter pixel
    toward the higher neighbour and +0.5, and kept when its heatmap value is positive; its tag
    columns stay zero. (The official code scores every joint and keeps only missing ones; the
    found joints' results are discarded, so they are not computed here.) ``tag_planes`` is ``tag``
    as (K, T, H, W), contiguous per plane (pass it when refining many persons: it is the same).
    """
    found = np.flatnonzero(person[:, 2] > 0)
    xy = person[found, :2].astype(np.int32)
    prev_tag = np.mean([tag[j, y, x] for j, (x, y) in zip(found, xy)], axis=0)
    planes = np.ascontiguousarray(np.moveaxis(tag, -1, 1)) if tag_planes is None else tag_planes
    _, h, w = det.shape
    for j in np.flatnonzero(person[:, 2] == 0):
        heat = det[j]
        # |tag - prev|: the official ((t - p) ** 2).sum(axis=2) ** 0.5, in float32, summing the T
        # planes in order (numpy's reduction over a short axis) and ``** 0.5`` being numpy's sqrt
        score = np.subtract(planes[j, 0], prev_tag[0])
        np.square(score, out=score)
        for t in range(1, planes.shape[1]):
            d = np.subtract(planes[j, t], prev_tag[t])
            score += np.square(d, out=d)
        np.sqrt(score, out=score)
        np.round(score, out=score)
        np.subtract(heat, score, out=score)
        r, c = np.unravel_index(np.argmax(score), heat.shape)
        val = heat[r, c]
        if not val > 0:
            continue
        x = c + 0.5 + (0.25 if heat[r, min(c + 1, w - 1)] > heat[r, max(c - 1, 0)] else -0.25)
        y = r + 0.5 + (0.25 if heat[min(r + 1, h - 1), c] > heat[max(0, r - 1), c] else -0.25)
        person[j, :3] = (x, y, val)
    return person


def parse(det: np.ndarray, tag: np.ndarray, params: GroupingParams = GroupingParams(), *,
          do_adjust: bool = True, do_refine: bool = True) -> tuple[np.ndarray, list[np.float32]]:
    """One image's persons ``(P, K, 3 + T)`` float32 in heatmap pixels, and their scores.

    ``det`` (K, H, W) and ``tag`` (K, H, W, T) are float32, ``K`` = ``len(params.joint_order)``.
    The scores are taken after ``adjust`` and before ``refine`` (``HeatmapParser.parse``).
    """
    det = np.asarray(det, dtype=np.float32)
    tag = np.asarray(tag, dtype=np.float32)
    ans = match_by_tag(top_candidates(nms(det, params.nms_kernel), tag, params), params)
    if do_adjust:
        adjust(ans, det)
    scores = [person[:, 2].mean() for person in ans]
    if do_refine and len(ans):
        planes = np.ascontiguousarray(np.moveaxis(tag, -1, 1))
        for person in ans:
            refine(det, tag, person, planes)
    return ans, scores
