"""``synth``: a procedurally generated person-keypoint dataset in COCO format, the embedded default.

Why: ``robustpose-bench build synth-c`` (and the demo and tests) must work on a fresh machine
with nothing downloaded. The figures are articulated stick-and-blob humans with the 17 COCO
keypoints, drawn over varied textured backgrounds; 1–3 persons per image, with visibility flags
(2 visible, 1 occluded by a later person or facing away, 0 outside the image), visible-mask area,
bbox and RLE segmentation.

Everything is a pure function of (seed, index): each image has its own
``np.random.default_rng([seed, index])``, so the bytes do not depend on the count or on the
order of generation. Files are written atomically and ``synth_info.json`` is written last, as
the commit marker that lets a later call reuse the folder.
"""
from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from .atomic import atomic_write_bytes, atomic_write_json, sha256_bytes, sha256_file

GENERATOR_VERSION = "synth/1"
DEFAULT_SEED = 2021
DEFAULT_COUNT = 300
SPLIT = "val"
ANNOTATION_NAME = "person_keypoints_synth.json"
JPEG_QUALITY = 92  # source images are JPEG like COCO's; high quality so the corruptions dominate
SIZES = ((256, 192), (288, 216), (320, 240), (192, 256), (240, 320))  # (width, height)

KEYPOINT_NAMES = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
)
SKELETON = (
    (16, 14), (14, 12), (17, 15), (15, 13), (12, 13), (6, 12), (7, 13), (6, 7), (6, 8),
    (7, 9), (8, 10), (9, 11), (2, 3), (1, 2), (1, 3), (2, 4), (3, 5), (4, 6), (5, 7),
)  # COCO's 1-based person skeleton
K = {name: i for i, name in enumerate(KEYPOINT_NAMES)}


@dataclass(frozen=True)
class Figure:
    """One person: keypoints (17×2, image pixels), head geometry, limb widths and colours."""

    kpts: np.ndarray
    head_center: tuple[float, float]
    head_radius: float
    facing: str  # "front", "back", "left", "right"
    limb_width: float
    torso_color: tuple[int, int, int]
    legs_color: tuple[int, int, int]
    skin_color: tuple[int, int, int]


def _color(rng: np.random.Generator, lo: int = 0, hi: int = 256) -> tuple[int, int, int]:
    return tuple(int(v) for v in rng.integers(lo, hi, size=3))


def _background(rng: np.random.Generator, width: int, height: int) -> Image.Image:
    """A textured background: value noise, stripes, checks or clutter, plus fine grain."""
    kind = int(rng.integers(0, 4))
    c0 = np.array(_color(rng), dtype=np.float64)
    c1 = np.array(_color(rng), dtype=np.float64)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    if kind == 0:  # smooth value noise (bicubic upsampling of a coarse random grid)
        cells = int(rng.integers(3, 10))
        coarse = rng.random((cells, cells))
        t = np.asarray(
            Image.fromarray((coarse * 255).astype(np.uint8)).resize((width, height), Image.BICUBIC),
            dtype=np.float64,
        ) / 255.0
    elif kind == 1:  # oriented stripes
        angle = rng.uniform(0, math.pi)
        period = rng.uniform(6, 40)
        t = 0.5 + 0.5 * np.sin((xx * math.cos(angle) + yy * math.sin(angle)) * 2 * math.pi / period)
    elif kind == 2:  # checkerboard
        cell = int(rng.integers(8, 40))
        t = ((xx // cell + yy // cell) % 2).astype(np.float64)
    else:  # vertical gradient
        t = yy / max(height - 1, 1)
    arr = c0[None, None, :] * (1 - t[..., None]) + c1[None, None, :] * t[..., None]
    img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(2, 9))):  # clutter: rectangles and ellipses
        x0, y0 = rng.uniform(-0.2, 1.0) * width, rng.uniform(-0.2, 1.0) * height
        w, h = rng.uniform(0.05, 0.4) * width, rng.uniform(0.05, 0.4) * height
        box = [x0, y0, x0 + w, y0 + h]
        (draw.rectangle if rng.random() < 0.5 else draw.ellipse)(box, fill=_color(rng))
    grain = rng.normal(0.0, rng.uniform(2, 10), size=(height, width, 3))
    arr = np.asarray(img, dtype=np.float64) + grain
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def _rot(v: np.ndarray, angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([c * v[0] - s * v[1], s * v[0] + c * v[1]])


def _figure(rng: np.random.Generator, cx: float, foot_y: float, height: float) -> Figure:
    """An articulated figure standing with its feet near ``foot_y``; angles are random but human."""
    facing = ("front", "front", "back", "left", "right")[int(rng.integers(0, 5))]
    down = np.array([0.0, 1.0])
    lean = rng.normal(0.0, 0.12)
    thigh, shin = 0.245 * height, 0.235 * height
    torso, neck = 0.30 * height, 0.085 * height
    upper_arm, forearm = 0.165 * height, 0.145 * height
    sideways = facing in ("left", "right")
    shoulder_half = (0.05 if sideways else 0.115) * height
    hip_half = (0.035 if sideways else 0.075) * height
    # Person's left is image right when they face the camera, image left when they face away.
    lr = {"front": 1.0, "back": -1.0, "left": 1.0, "right": -1.0}[facing]

    pelvis = np.array([cx, foot_y - (thigh + shin) * 0.97])
    torso_dir = _rot(-down, lean)
    neck_base = pelvis + torso_dir * torso
    across = _rot(np.array([1.0, 0.0]), lean)
    kp = np.zeros((17, 2))
    kp[K["left_shoulder"]] = neck_base + across * shoulder_half * lr
    kp[K["right_shoulder"]] = neck_base - across * shoulder_half * lr
    kp[K["left_hip"]] = pelvis + across * hip_half * lr
    kp[K["right_hip"]] = pelvis - across * hip_half * lr
    for side, sgn in (("left", lr), ("right", -lr)):
        a_up = lean - sgn * rng.uniform(0.05, 1.9)  # arm swing out from the body
        a_low = a_up - sgn * rng.uniform(-0.3, 1.6)  # elbow bend
        elbow = kp[K[f"{side}_shoulder"]] + _rot(down, a_up) * upper_arm
        kp[K[f"{side}_elbow"]] = elbow
        kp[K[f"{side}_wrist"]] = elbow + _rot(down, a_low) * forearm
        l_up = lean - sgn * rng.uniform(-0.15, 0.45)  # hip abduction / stride
        l_low = l_up + sgn * rng.uniform(0.0, 0.5)  # knee bend
        knee = kp[K[f"{side}_hip"]] + _rot(down, l_up) * thigh
        kp[K[f"{side}_knee"]] = knee
        kp[K[f"{side}_ankle"]] = knee + _rot(down, l_low) * shin
    r = 0.062 * height
    head = neck_base + torso_dir * (neck + r * 0.6)
    up = torso_dir
    side_dir = across
    # A profile turns the face toward the image side the person faces.
    toward = {"front": 0.0, "back": 0.0, "left": -1.0, "right": 1.0}[facing]
    face_c = head + side_dir * r * 0.45 * toward
    kp[K["nose"]] = face_c - up * r * 0.05 + side_dir * r * 0.4 * toward
    for side, sgn in (("left", lr), ("right", -lr)):
        squeeze = 0.45 if sideways else 1.0
        kp[K[f"{side}_eye"]] = face_c + up * r * 0.25 + side_dir * sgn * r * 0.38 * squeeze
        kp[K[f"{side}_ear"]] = head + up * r * 0.15 + side_dir * sgn * r * 0.92 * squeeze
    return Figure(
        kpts=kp,
        head_center=(float(head[0]), float(head[1])),
        head_radius=float(r),
        facing=facing,
        limb_width=float(max(3.0, 0.055 * height)),
        torso_color=_color(rng, 20, 236),
        legs_color=_color(rng, 10, 200),
        skin_color=_color(rng, 60, 256),
    )


def _draw_figure(draw: ImageDraw.ImageDraw, fig: Figure, mask: ImageDraw.ImageDraw) -> None:
    """Draw ``fig`` in colour on ``draw`` and as 255 on its own mask."""
    p = lambda name: tuple(float(v) for v in fig.kpts[K[name]])  # noqa: E731
    w = int(round(fig.limb_width))

    def limb(a: str, b: str, color: tuple[int, int, int], width: int) -> None:
        for d, col in ((draw, color), (mask, 255)):
            d.line([p(a), p(b)], fill=col, width=width)
            for q in (p(a), p(b)):
                rr = width / 2.0
                d.ellipse([q[0] - rr, q[1] - rr, q[0] + rr, q[1] + rr], fill=col)

    for side in ("left", "right"):
        limb(f"{side}_hip", f"{side}_knee", fig.legs_color, int(w * 1.3))
        limb(f"{side}_knee", f"{side}_ankle", fig.legs_color, int(w * 1.1))
    torso = [p("left_shoulder"), p("right_shoulder"), p("right_hip"), p("left_hip")]
    for d, col in ((draw, fig.torso_color), (mask, 255)):
        d.polygon(torso, fill=col)
    for side in ("left", "right"):
        limb(f"{side}_shoulder", f"{side}_elbow", fig.torso_color, w)
        limb(f"{side}_elbow", f"{side}_wrist", fig.skin_color, max(2, int(w * 0.85)))
    hx, hy = fig.head_center
    r = fig.head_radius
    neck = [(hx, hy), ((p("left_shoulder")[0] + p("right_shoulder")[0]) / 2, (p("left_shoulder")[1] + p("right_shoulder")[1]) / 2)]
    for d, col in ((draw, fig.skin_color), (mask, 255)):
        d.line(neck, fill=col, width=max(2, int(w * 0.8)))
        d.ellipse([hx - r, hy - r * 1.1, hx + r, hy + r * 1.1], fill=col)
    if fig.facing != "back":  # facial features help a model find the face keypoints
        for name in ("left_eye", "right_eye"):
            ex, ey = p(name)
            er = max(1.0, r * 0.12)
            draw.ellipse([ex - er, ey - er, ex + er, ey + er], fill=(20, 20, 20))


def render_image(seed: int, index: int) -> tuple[bytes, dict, list[dict]]:
    """JPEG bytes, the COCO ``images`` entry and its ``annotations`` (ids filled in by the caller)."""
    rng = np.random.default_rng([seed, index])
    width, height = SIZES[int(rng.integers(0, len(SIZES)))]
    img = _background(rng, width, height)
    n_persons = int(rng.integers(1, 4))
    slot = width / n_persons
    figures = []
    for i in range(n_persons):
        h = height * rng.uniform(0.55, 0.95) / (1.0 if n_persons == 1 else 1.15)
        cx = slot * (i + 0.5) + rng.uniform(-0.3, 0.3) * slot
        foot_y = height * rng.uniform(0.85, 1.08)
        figures.append(_figure(rng, cx, foot_y, h))
    draw = ImageDraw.Draw(img)
    masks = []
    for fig in figures:
        m = Image.new("L", (width, height), 0)
        _draw_figure(draw, fig, ImageDraw.Draw(m))
        masks.append(np.asarray(m) > 0)
    img = img.filter(ImageFilter.GaussianBlur(0.5))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=JPEG_QUALITY)

    from pycocotools import mask as mask_utils  # only needed for the RLE of the visible masks

    annotations = []
    for i, fig in enumerate(figures):
        later = np.zeros((height, width), dtype=bool)
        for m in masks[i + 1:]:
            later |= m
        visible = masks[i] & ~later
        area = int(visible.sum())
        if area < 50:  # fully hidden persons are not annotated, as in COCO
            continue
        ys, xs = np.nonzero(visible)
        bbox = [float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1), float(ys.max() - ys.min() + 1)]
        kpts = []
        for j, (x, y) in enumerate(fig.kpts):
            xi, yi = int(math.floor(x)), int(math.floor(y))
            if not (0 <= x < width and 0 <= y < height):
                kpts += [0, 0, 0]
                continue
            hidden = later[yi, xi] or (fig.facing == "back" and j in (0, 1, 2))
            hidden = hidden or (fig.facing == "left" and KEYPOINT_NAMES[j] in ("right_eye", "right_ear"))
            hidden = hidden or (fig.facing == "right" and KEYPOINT_NAMES[j] in ("left_eye", "left_ear"))
            kpts += [round(float(x), 2), round(float(y), 2), 1 if hidden else 2]
        num = sum(1 for v in kpts[2::3] if v > 0)
        rle = mask_utils.encode(np.asfortranarray(visible.astype(np.uint8)))
        annotations.append({
            "iscrowd": 0,
            "category_id": 1,
            "area": float(area),
            "bbox": bbox,
            "keypoints": kpts,
            "num_keypoints": num,
            "segmentation": {"size": [height, width], "counts": rle["counts"].decode("ascii")},
        })
    image_entry = {"width": width, "height": height}
    return buf.getvalue(), image_entry, annotations


def file_name(index: int) -> str:
    return f"{index + 1:012d}.jpg"


def generate(root: str | Path, count: int = DEFAULT_COUNT, seed: int = DEFAULT_SEED) -> tuple[Path, Path]:
    """Write ``count`` images and the COCO annotation file under ``root``; returns (images, ann)."""
    if count < 1:
        raise ValueError(f"synth count must be at least 1, got {count}")
    root = Path(root)
    image_dir = root / "images"
    ann_path = root / "annotations" / ANNOTATION_NAME
    images, annotations, hashes = [], [], {}
    for index in range(count):
        data, entry, anns = render_image(seed, index)
        name = file_name(index)
        atomic_write_bytes(image_dir / name, data)
        hashes[name] = sha256_bytes(data)
        image_id = index + 1
        images.append({"id": image_id, "file_name": name, **entry})
        for ann in anns:
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, **ann})
    coco = {
        "info": {
            "description": "robustpose-bench synth: procedurally generated person keypoints",
            "version": GENERATOR_VERSION,
            "seed": seed,
        },
        "licenses": [],
        "images": images,
        "annotations": annotations,
        "categories": [{
            "id": 1, "name": "person", "supercategory": "person",
            "keypoints": list(KEYPOINT_NAMES), "skeleton": [list(e) for e in SKELETON],
        }],
    }
    atomic_write_json(ann_path, coco, indent=None)
    atomic_write_json(root / "synth_info.json", {
        "generator": GENERATOR_VERSION, "seed": seed, "count": count,
        "annotation_sha256": sha256_file(ann_path), "images": hashes,
    })
    return image_dir, ann_path


def ensure_synth(root: str | Path, count: int = DEFAULT_COUNT, seed: int = DEFAULT_SEED) -> tuple[Path, Path]:
    """Reuse a complete, unmodified synth folder for (count, seed), or (re)generate it."""
    root = Path(root)
    info_path = root / "synth_info.json"
    image_dir, ann_path = root / "images", root / "annotations" / ANNOTATION_NAME
    try:
        info = json.loads(info_path.read_text())
        ok = (
            info.get("generator") == GENERATOR_VERSION and info.get("seed") == seed
            and info.get("count") == count and sha256_file(ann_path) == info.get("annotation_sha256")
            and all(sha256_file(image_dir / n) == h for n, h in info["images"].items())
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        ok = False
    if ok:
        return image_dir, ann_path
    return generate(root, count=count, seed=seed)
