"""synth: deterministic, valid COCO person keypoints, reused when intact, regenerated when not."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from robustpose_bench import synth

# pycocotools 2.0.11 warns about numpy 2's copy keyword inside mask.decode; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def _tree_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def synth8(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synth8")
    synth.generate(root, count=8)
    return root


def test_same_seed_same_bytes_and_images_independent_of_count(synth8, tmp_path):
    again = tmp_path / "again"
    synth.generate(again, count=8)
    assert _tree_bytes(again) == _tree_bytes(synth8)
    fewer = tmp_path / "fewer"
    synth.generate(fewer, count=3)
    for i in range(3):
        name = synth.file_name(i)
        assert (fewer / "images" / name).read_bytes() == (synth8 / "images" / name).read_bytes()
    other = tmp_path / "other"
    synth.generate(other, count=1, seed=synth.DEFAULT_SEED + 1)
    assert (other / "images" / synth.file_name(0)).read_bytes() != (synth8 / "images" / synth.file_name(0)).read_bytes()


def test_valid_coco_person_keypoints(synth8):
    from PIL import Image
    from pycocotools import mask as mask_utils
    from pycocotools.coco import COCO

    ann_path = synth8 / "annotations" / synth.ANNOTATION_NAME
    coco = COCO(str(ann_path))  # the reference loader accepts it
    assert coco.getCatIds() == [1]
    cat = coco.loadCats(1)[0]
    assert cat["keypoints"] == list(synth.KEYPOINT_NAMES) and len(cat["keypoints"]) == 17
    assert len(coco.getImgIds()) == 8
    n_persons = []
    seen_vis = set()
    for img in coco.loadImgs(coco.getImgIds()):
        w, h = img["width"], img["height"]
        assert (w, h) in synth.SIZES
        with Image.open(synth8 / "images" / img["file_name"]) as im:
            assert im.size == (w, h) and im.mode == "RGB"
        anns = coco.loadAnns(coco.getAnnIds(imgIds=img["id"]))
        n_persons.append(len(anns))
        for a in anns:
            k = np.array(a["keypoints"], dtype=float).reshape(17, 3)
            seen_vis.update(k[:, 2].astype(int).tolist())
            assert set(k[:, 2]) <= {0, 1, 2}
            assert a["num_keypoints"] == int((k[:, 2] > 0).sum())
            assert np.all(k[k[:, 2] == 0, :2] == 0)
            vis = k[k[:, 2] > 0]
            assert np.all((vis[:, 0] >= 0) & (vis[:, 0] < w) & (vis[:, 1] >= 0) & (vis[:, 1] < h))
            x, y, bw, bh = a["bbox"]
            assert 0 <= x and 0 <= y and x + bw <= w and y + bh <= h and bw > 0 and bh > 0
            v2 = k[k[:, 2] == 2]
            assert np.all((v2[:, 0] >= x - 2) & (v2[:, 0] <= x + bw + 2) & (v2[:, 1] >= y - 2) & (v2[:, 1] <= y + bh + 2))
            m = mask_utils.decode({"size": a["segmentation"]["size"], "counts": a["segmentation"]["counts"].encode()})
            assert int(m.sum()) == a["area"] > 0
            assert a["iscrowd"] == 0 and a["category_id"] == 1
    assert all(1 <= n <= 3 for n in n_persons)
    assert max(n_persons) > 1
    assert {1, 2} <= seen_vis  # occluded and visible keypoints both occur


def test_ensure_reuses_intact_folder_and_regenerates_a_tampered_one(tmp_path):
    root = tmp_path / "s"
    synth.ensure_synth(root, count=2)
    img = root / "images" / synth.file_name(1)
    good = img.read_bytes()
    stamp = img.stat().st_mtime_ns
    synth.ensure_synth(root, count=2)
    assert img.stat().st_mtime_ns == stamp  # reused, not rewritten
    img.write_bytes(good[:-10])
    synth.ensure_synth(root, count=2)
    assert img.read_bytes() == good
    info = json.loads((root / "synth_info.json").read_text())
    assert info["count"] == 2 and info["seed"] == synth.DEFAULT_SEED
    synth.ensure_synth(root, count=3)  # a different count regenerates
    assert (root / "images" / synth.file_name(2)).is_file()
    assert not any(name.endswith(".tmp") for name in os.listdir(root / "images"))
