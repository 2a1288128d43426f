"""Top-down training data, as HRNet's ``JointsDataset`` / ``coco.py`` / ``mpii.py`` prepare it.

Each person is cropped from its ground-truth box (centre and scale in units of 200 px, padded
1.25x to the model's aspect ratio), then augmented with random scale, rotation (with probability
0.6), horizontal flip with the dataset's flip pairs, and half-body crops. Targets are Gaussian
heatmaps (sigma 2, 3-sigma support) at 1/4 resolution with per-joint target weights: 0 for joints
that are unlabelled or whose Gaussian falls fully outside the heatmap.

For AdvMix, one item yields K+1 proposals that share the SAME geometric transform, so a single
heatmap target serves them all: the clean crop, AutoAugment on the uint8 crop, and GridMask on the
normalised crop (see ``augment.py``). Randomness comes from ``numpy.random.default_rng((seed,
epoch, index))``: an item is the same whatever the worker count or order, so runs are reproducible.

Readers: COCO-format keypoint json + image folder (COCO train2017, synth, anything COCO-format),
and MPII in HRNet's ``annot/train.json`` layout. The keypoint count, flip pairs and upper-body joints
come from the dataset card (``datasets/cards.py``; :class:`KeypointSet`), so COCO and MPII train with
HRNet's own tables, and any carded COCO-format set with its card's.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
import torch

from ..errors import UserError
from ..jsonfile import read_json
from .augment import autoaugment, gridmask

if TYPE_CHECKING:  # pragma: no cover
    from ..datasets.cards import DatasetCard

PIXEL_STD = 200.0
MEAN_RGB = np.array([123.675, 116.28, 103.53], np.float32)
STD_RGB = np.array([58.395, 57.12, 57.375], np.float32)



@dataclass
class PersonRecord:
    """One training person: image file, joints (K, 2) in image pixels, visibility (K,), centre, scale."""

    image: str
    joints: np.ndarray
    visible: np.ndarray
    center: np.ndarray
    scale: np.ndarray


@dataclass(frozen=True)
class KeypointSet:
    """What training needs of a dataset card: the keypoint count, the flip pairs (indices) that the flip
    augmentation swaps, and the upper-body joints (indices) of the half-body crops."""

    num_joints: int
    flip_pairs: tuple[tuple[int, int], ...]
    upper_body: tuple[int, ...]
    names: tuple[str, ...] = ()

    @classmethod
    def of(cls, card: "DatasetCard") -> "KeypointSet":
        return cls(card.num_keypoints, card.flip_pairs, card.upper_body_indices(), card.keypoints)


def keypoint_set(keypoints: "str | KeypointSet | DatasetCard") -> KeypointSet:
    """A KeypointSet from itself, a card, or a registered keypoint set's name ('coco', 'mpii', ...)."""
    from ..datasets.cards import DatasetCard, keypoint_sets

    if isinstance(keypoints, KeypointSet):
        return keypoints
    if isinstance(keypoints, DatasetCard):
        return KeypointSet.of(keypoints)
    sets = keypoint_sets()
    if keypoints not in sets:
        raise UserError(f"unknown keypoint set {keypoints!r} (known: {', '.join(sets)})")
    return KeypointSet.of(sets[keypoints])


def box_to_center_scale(x: float, y: float, w: float, h: float, aspect_ratio: float) -> tuple[np.ndarray, np.ndarray]:
    """HRNet's ``_xywh2cs``: box centre, and the box grown to ``aspect_ratio`` (w/h), x1.25, in 200 px."""
    center = np.array([x + w * 0.5, y + h * 0.5], np.float32)
    if w > aspect_ratio * h:
        h = w / aspect_ratio
    elif w < aspect_ratio * h:
        w = h * aspect_ratio
    scale = np.array([w / PIXEL_STD, h / PIXEL_STD], np.float32) * 1.25
    return center, scale


# Where training data sits in the tool's own layout: the training split beside the validation split
# that build / eval read (datasets/coco.py: ROOT/val2017/ + ROOT/annotations/person_keypoints_val2017.json;
# datasets/mpii.py: ROOT/images/ + ROOT/annot/valid.json).
TRAINING_LAYOUT: dict[str, tuple[str, str]] = {
    "coco": ("train2017/", "annotations/person_keypoints_train2017.json"),
    "mpii": ("images/", "annot/train.json"),
}


def training_layout(dataset_format: str) -> str:
    """'ROOT/train2017/ (--images) + ROOT/annotations/... (--ann)' for a dataset format."""
    images, ann = TRAINING_LAYOUT.get(dataset_format, TRAINING_LAYOUT["coco"])
    return f"ROOT/{images} (images) + ROOT/{ann} (ann)"


def read_coco(ann_file: str | os.PathLike, images_dir: str | os.PathLike, aspect_ratio: float,
              card: "DatasetCard | None" = None) -> list[PersonRecord]:
    """Persons with at least one labelled keypoint from a COCO keypoint json (HRNet's coco.py rules).

    Boxes are clipped to the image; crowd annotations, empty boxes and persons with no labelled
    keypoints are skipped, as in HRNet's ``_load_coco_keypoint_annotation_kernal``. Every annotation
    must hold the card's keypoint count (default: COCO's 17), and the categories that name keypoints
    are the ones read (COCO: person, id 1; a file whose categories name none: id 1).
    """
    from ..datasets.cards import keypoint_sets

    card = card if card is not None else keypoint_sets()["coco"]
    k = card.num_keypoints
    ann_file = Path(ann_file)
    data = read_json(ann_file, "annotation file")
    if not isinstance(data, dict):
        raise UserError(f"{ann_file}: expected a COCO keypoint annotation file (a JSON object)")
    for key in ("images", "annotations"):
        if key not in data:
            raise UserError(f"{ann_file}: missing '{key}' (expected a COCO keypoint annotation file)")
    categories = [c for c in data.get("categories") or [] if isinstance(c, dict) and "keypoints" in c]
    for i, cat in enumerate(categories):
        if isinstance(cat["keypoints"], list) and len(cat["keypoints"]) != k:
            raise UserError(f"{ann_file}: category {cat.get('id')} names {len(cat['keypoints'])} keypoints, but "
                            f"dataset {card.name} has {k}")
    wanted = {c.get("id") for c in categories} or {1}
    images = {im["id"]: im for im in data["images"]}
    records = []
    for ann in data["annotations"]:
        if ann.get("iscrowd", 0) or "keypoints" not in ann or ann.get("category_id", 1) not in wanted:
            continue
        values = ann["keypoints"]
        if not isinstance(values, list) or len(values) != 3 * k:
            n = f"{len(values) / 3:g}" if isinstance(values, list) else "no list of"
            raise UserError(f"{ann_file}: annotation {ann.get('id')} has {n} keypoints, but dataset {card.name} "
                            f"has {k} ({3 * k} values: x, y, v each)")
        kp = np.asarray(values, np.float32).reshape(-1, 3)
        if kp[:, 2].max() <= 0:
            continue
        im = images.get(ann["image_id"])
        if im is None:
            raise UserError(f"{ann_file}: annotation {ann.get('id')} names unknown image_id {ann['image_id']}")
        width, height = im["width"], im["height"]
        x, y, w, h = ann["bbox"]
        x1, y1 = max(0.0, x), max(0.0, y)
        x2 = min(width - 1.0, x1 + max(0.0, w - 1))
        y2 = min(height - 1.0, y1 + max(0.0, h - 1))
        if ann.get("area", w * h) <= 0 or x2 < x1 or y2 < y1:
            continue
        center, scale = box_to_center_scale(x1, y1, x2 - x1, y2 - y1, aspect_ratio)
        records.append(PersonRecord(
            image=str(Path(images_dir) / im["file_name"]),
            joints=kp[:, :2].copy(),
            visible=np.minimum(kp[:, 2], 1.0),
            center=center, scale=scale,
        ))
    if not records:
        raise UserError(f"{ann_file}: no person annotations with labelled keypoints")
    return records


def read_mpii(ann_file: str | os.PathLike, images_dir: str | os.PathLike) -> list[PersonRecord]:
    """Persons from HRNet's MPII json (``image, center, scale, joints, joints_vis``; 1-based pixels).

    As HRNet's mpii.py: centre moved down by 15*scale px, scale x1.25, everything shifted to 0-based.
    """
    ann_file = Path(ann_file)
    data = read_json(ann_file, "annotation file")
    if not isinstance(data, list):
        raise UserError(f"{ann_file}: expected a list of MPII entries in HRNet's annot/*.json layout")
    records = []
    for i, a in enumerate(data):
        try:
            c = np.asarray(a["center"], np.float32)
            s = float(a["scale"])
            joints = np.asarray(a["joints"], np.float32)
            vis = np.asarray(a["joints_vis"], np.float32)
            image = a["image"]
        except KeyError as exc:
            raise UserError(f"{ann_file}: entry {i} lacks field {exc.args[0]!r}") from None
        if joints.shape != (16, 2):
            raise UserError(f"{ann_file}: entry {i} has joints of shape {joints.shape}, expected (16, 2)")
        if c[0] != -1:
            c[1] = c[1] + 15 * s
            s = s * 1.25
        records.append(PersonRecord(
            image=str(Path(images_dir) / image), joints=joints - 1, visible=np.minimum(vis, 1.0),
            center=c - 1, scale=np.array([s, s], np.float32),
        ))
    if not records:
        raise UserError(f"{ann_file}: no entries")
    return records


# ----------------------------------------------------------------------------------------------
# geometry (HRNet's lib/utils/transforms.py, re-derived)


def _rotate(pt: np.ndarray, rad: float) -> np.ndarray:
    sn, cs = math.sin(rad), math.cos(rad)
    return np.array([pt[0] * cs - pt[1] * sn, pt[0] * sn + pt[1] * cs], np.float32)


def _third_point(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = a - b
    return b + np.array([-d[1], d[0]], np.float32)


def get_affine_transform(center: np.ndarray, scale: np.ndarray, rot: float, output_size: tuple[int, int],
                         inv: bool = False) -> np.ndarray:
    """2x3 matrix taking the box (centre, scale*200 px wide, rotated by ``rot`` deg) to output (w, h)."""
    src_w = scale[0] * PIXEL_STD
    dst_w, dst_h = output_size
    src_dir = _rotate(np.array([0, src_w * -0.5], np.float32), math.pi * rot / 180)
    dst_dir = np.array([0, dst_w * -0.5], np.float32)
    src = np.zeros((3, 2), np.float32)
    dst = np.zeros((3, 2), np.float32)
    src[0] = center
    src[1] = center + src_dir
    dst[0] = [dst_w * 0.5, dst_h * 0.5]
    dst[1] = dst[0] + dst_dir
    src[2] = _third_point(src[0], src[1])
    dst[2] = _third_point(dst[0], dst[1])
    return cv2.getAffineTransform(dst, src) if inv else cv2.getAffineTransform(src, dst)


def affine_points(pts: np.ndarray, t: np.ndarray) -> np.ndarray:
    return pts @ t[:, :2].T + t[:, 2]


def gaussian_targets(joints: np.ndarray, visible: np.ndarray, image_size: tuple[int, int],
                     heatmap_size: tuple[int, int], sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """HRNet's gaussian ``generate_target``: (K, h, w) heatmaps and (K, 1) weights.

    The peak sits at the integer heatmap pixel nearest joint/stride; weight 0 for unlabelled joints
    and those whose 3-sigma square lies fully outside the heatmap.
    """
    k = joints.shape[0]
    hw, hh = heatmap_size
    target = np.zeros((k, hh, hw), np.float32)
    weight = visible.astype(np.float32).copy()
    tmp = sigma * 3
    size = int(2 * tmp + 1)
    xs = np.arange(size, dtype=np.float32)
    c0 = size // 2
    g = np.exp(-((xs[None, :] - c0) ** 2 + (xs[:, None] - c0) ** 2) / (2 * sigma ** 2))
    stride = (image_size[0] / hw, image_size[1] / hh)
    for j in range(k):
        mu_x = int(joints[j, 0] / stride[0] + 0.5)
        mu_y = int(joints[j, 1] / stride[1] + 0.5)
        ul = (int(mu_x - tmp), int(mu_y - tmp))
        br = (int(mu_x + tmp + 1), int(mu_y + tmp + 1))
        if ul[0] >= hw or ul[1] >= hh or br[0] < 0 or br[1] < 0:
            weight[j] = 0
            continue
        if weight[j] > 0.5:
            gx = max(0, -ul[0]), min(br[0], hw) - ul[0]
            gy = max(0, -ul[1]), min(br[1], hh) - ul[1]
            ix = max(0, ul[0]), min(br[0], hw)
            iy = max(0, ul[1]), min(br[1], hh)
            target[j, iy[0]:iy[1], ix[0]:ix[1]] = g[gy[0]:gy[1], gx[0]:gx[1]]
    return target, weight[:, None]


# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AugmentConfig:
    """Geometric augmentation (HRNet config names in comments)."""

    scale_factor: float = 0.35       # DATASET.SCALE_FACTOR
    rot_factor: float = 45.0         # DATASET.ROT_FACTOR
    flip: bool = True                # DATASET.FLIP
    prob_half_body: float = 0.3      # DATASET.PROB_HALF_BODY (<= 0: off)
    num_joints_half_body: int = 8    # DATASET.NUM_JOINTS_HALF_BODY
    sigma: float = 2.0               # MODEL.SIGMA


#: Proposal recipes: ``standard`` = clean crop only; ``advmix`` = clean, AutoAugment, GridMask;
#: ``sequential`` = clean, and one crop with AutoAugment then GridMask applied one after the other.
PROPOSAL_MODES = ("standard", "advmix", "sequential")


def load_rgb(path: str) -> np.ndarray:
    img = cv2.imread(path, cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if img is None:
        raise UserError(f"cannot read image {path}")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def normalise(img: np.ndarray) -> np.ndarray:
    """uint8 HxWx3 RGB -> float32 3xHxW, ImageNet mean/std on 0..255 (= ToTensor + Normalize)."""
    return ((img.astype(np.float32) - MEAN_RGB) / STD_RGB).transpose(2, 0, 1)


class TopDownDataset(torch.utils.data.Dataset):
    """Training crops. Item: (proposals (P,3,H,W) float32, target (K,h,w), target_weight (K,1))."""

    def __init__(self, records: list[PersonRecord], keypoints: "str | KeypointSet | DatasetCard",
                 image_size: tuple[int, int], heatmap_size: tuple[int, int], augment: AugmentConfig,
                 proposals: str = "standard", seed: int = 0, train: bool = True):
        if proposals not in PROPOSAL_MODES:
            raise ValueError(f"proposals must be one of {PROPOSAL_MODES}, got {proposals!r}")
        self.records = records
        self.kps = keypoint_set(keypoints)   # from the dataset card: count, flip pairs, upper body
        n = records[0].joints.shape[0]
        if n != self.kps.num_joints:
            raise UserError(f"the annotations have {n} joints but the dataset's keypoint set has {self.kps.num_joints}")
        self.image_size = tuple(image_size)   # (w, h)
        self.heatmap_size = tuple(heatmap_size)
        self.aug = augment
        self.proposals = proposals
        self.seed = seed
        self.epoch = 0
        self.train = train
        self.aspect_ratio = image_size[0] / image_size[1]

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.records)

    def _half_body(self, joints: np.ndarray, vis: np.ndarray, rng: np.random.Generator):
        upper = [joints[j] for j in range(len(joints)) if vis[j] > 0 and j in self.kps.upper_body]
        lower = [joints[j] for j in range(len(joints)) if vis[j] > 0 and j not in self.kps.upper_body]
        # HRNet compares a standard-normal draw with 0.5 here (not a uniform one); kept as is.
        if rng.standard_normal() < 0.5 and len(upper) > 2:
            sel = upper
        else:
            sel = lower if len(lower) > 2 else upper
        if len(sel) < 2:
            return None
        sel = np.asarray(sel, np.float32)
        center = sel.mean(axis=0)
        lt, rb = sel.min(axis=0), sel.max(axis=0)
        w, h = rb[0] - lt[0], rb[1] - lt[1]
        if w > self.aspect_ratio * h:
            h = w / self.aspect_ratio
        elif w < self.aspect_ratio * h:
            w = h * self.aspect_ratio
        return center, np.array([w / PIXEL_STD, h / PIXEL_STD], np.float32) * 1.5

    def __getitem__(self, index: int):
        rng = np.random.default_rng((self.seed, self.epoch, index))
        rec = self.records[index]
        img = load_rgb(rec.image)
        joints = rec.joints.copy()
        vis = rec.visible.copy()
        c, s = rec.center.copy(), rec.scale.copy()
        r = 0.0
        if self.train:
            a = self.aug
            if a.prob_half_body > 0 and vis.sum() > a.num_joints_half_body and rng.random() < a.prob_half_body:
                hb = self._half_body(joints, vis, rng)
                if hb is not None:
                    c, s = hb
            sf, rf = a.scale_factor, a.rot_factor
            s = s * float(np.clip(rng.standard_normal() * sf + 1, 1 - sf, 1 + sf))
            r = float(np.clip(rng.standard_normal() * rf, -2 * rf, 2 * rf)) if rng.random() <= 0.6 else 0.0
            if a.flip and rng.random() <= 0.5:
                width = img.shape[1]
                img = img[:, ::-1]
                joints[:, 0] = width - joints[:, 0] - 1
                for p, q in self.kps.flip_pairs:
                    joints[[p, q]] = joints[[q, p]]
                    vis[[p, q]] = vis[[q, p]]
                joints = joints * vis[:, None]
                c[0] = width - c[0] - 1
        t = get_affine_transform(c, s, r, self.image_size)
        crop = cv2.warpAffine(np.ascontiguousarray(img), t, self.image_size, flags=cv2.INTER_LINEAR)
        pts = joints.copy()
        pts[vis > 0] = affine_points(joints[vis > 0], t)
        target, weight = gaussian_targets(pts, vis, self.image_size, self.heatmap_size, self.aug.sigma)
        if self.proposals == "standard":
            props = [normalise(crop)]
        elif self.proposals == "advmix":
            props = [normalise(crop), normalise(autoaugment(crop, rng)), gridmask(normalise(crop), rng)]
        else:  # sequential: the clean crop (the teacher's input) and the composed augmentation
            props = [normalise(crop), gridmask(normalise(autoaugment(crop, rng)), rng)]
        return torch.from_numpy(np.stack(props)), torch.from_numpy(target), torch.from_numpy(weight)
