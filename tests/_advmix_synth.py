"""A tiny COCO-format keypoint dataset drawn here, for the AdvMix trainer tests only.

Stick figures with 17 COCO keypoints on noisy backgrounds; deliberately independent of the
project's `synth` dataset so these tests exercise the COCO reader on a file we fully control.
"""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

# A standing figure in a unit box (x, y): COCO order nose..right_ankle.
_TEMPLATE = np.array([
    [0.50, 0.08], [0.46, 0.06], [0.54, 0.06], [0.42, 0.08], [0.58, 0.08],
    [0.36, 0.22], [0.64, 0.22], [0.28, 0.38], [0.72, 0.38], [0.24, 0.52], [0.76, 0.52],
    [0.42, 0.55], [0.58, 0.55], [0.40, 0.75], [0.60, 0.75], [0.40, 0.95], [0.60, 0.95],
], np.float32)
_LIMBS = ((5, 7), (7, 9), (6, 8), (8, 10), (5, 6), (11, 12), (5, 11), (6, 12), (11, 13), (13, 15),
          (12, 14), (14, 16), (0, 1), (0, 2), (1, 3), (2, 4))


def make_coco_dataset(root: Path, n_images: int = 6, size: tuple[int, int] = (96, 128), seed: int = 0) -> tuple[Path, Path]:
    """Write ``root/images/*.png`` and ``root/ann.json``; returns (images dir, annotation file)."""
    rng = np.random.default_rng(seed)
    img_dir = root / "images"
    img_dir.mkdir(parents=True, exist_ok=True)
    w, h = size
    images, anns = [], []
    for i in range(n_images):
        img = rng.integers(0, 60, (h, w, 3), dtype=np.uint8)
        bw, bh = rng.uniform(0.45, 0.7) * w, rng.uniform(0.6, 0.85) * h
        x0, y0 = rng.uniform(0, w - bw), rng.uniform(0, h - bh)
        kp = _TEMPLATE * [bw, bh] + [x0, y0] + rng.normal(0, 1.5, _TEMPLATE.shape)
        for a, b in _LIMBS:
            cv2.line(img, tuple(int(v) for v in kp[a]), tuple(int(v) for v in kp[b]), (220, 180, 40), 3)
        for j, p in enumerate(kp):
            cv2.circle(img, (int(p[0]), int(p[1])), 2, (40 + 12 * j, 255 - 10 * j, 200), -1)
        name = f"{i:03d}.png"
        cv2.imwrite(str(img_dir / name), img[:, :, ::-1])
        images.append({"id": i + 1, "file_name": name, "width": w, "height": h})
        x1, y1 = kp.min(0) - 3
        x2, y2 = kp.max(0) + 3
        keypoints = np.concatenate([kp, np.full((17, 1), 2.0)], 1).round(2).ravel().tolist()
        anns.append({"id": i + 1, "image_id": i + 1, "category_id": 1, "iscrowd": 0,
                     "bbox": [float(x1), float(y1), float(x2 - x1), float(y2 - y1)],
                     "area": float((x2 - x1) * (y2 - y1)), "num_keypoints": 17, "keypoints": keypoints})
    ann_file = root / "ann.json"
    ann_file.write_text(json.dumps({
        "images": images, "annotations": anns,
        "categories": [{"id": 1, "name": "person", "supercategory": "person"}],
    }))
    return img_dir, ann_file
