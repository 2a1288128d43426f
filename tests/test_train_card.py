"""Training on a dataset card: `train --dataset NAME` / `--dataset-card FILE.json` / the config's `dataset`.

The carded dataset is made here: the trainer tests' stick figures (tests/_advmix_synth.py) cut down
to five keypoints under names no registered set has, with a card of its own. A tiny net trains for
two iterations, is exported, and `eval --dataset-card` scores it on a build of the same data with
no spec edits. The flip augmentation must swap the card's flip pairs, and the registered sets must
keep HRNet's own tables (count, flip pairs, upper body).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from _advmix_synth import make_coco_dataset
from cli_helpers import run_cli
from robustpose_bench.advmix.config import TrainConfig, load_config
from robustpose_bench.advmix.data import AugmentConfig, TopDownDataset, keypoint_set, read_coco
from robustpose_bench.advmix.trainer import apply_card
from robustpose_bench.datasets.cards import load_card_file
from robustpose_bench.errors import UserError

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")

NAMES = ["beak", "left_wing", "right_wing", "left_foot", "right_foot"]
FROM_17 = [0, 5, 6, 15, 16]          # nose, shoulders, ankles of the stick figures
PAIRS = [[1, 2], [3, 4]]
H, W = 64, 64


def _card(**change) -> dict:
    card = {"schema": "robustpose-bench/dataset-card/1", "name": "birds-c", "title": "Birds-C", "format": "coco",
            "keypoints": NAMES, "flip_pairs": PAIRS, "sigmas": [0.03, 0.08, 0.08, 0.09, 0.09],
            "upper_body": NAMES[:3], "primary_metric": "AP", "scorer": "pycocotools"}
    card.update(change)
    return card


def _run(argv: list) -> tuple[int, str, str]:
    return run_cli(*argv)


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.fixture(scope="module")
def birds(tmp_path_factory) -> dict[str, Path]:
    """Six images of one 5-keypoint person each, in COCO format, with the card in a folder of its own."""
    root = tmp_path_factory.mktemp("birds")
    images, ann17 = make_coco_dataset(root, n_images=6)
    data = json.loads(ann17.read_text())
    for a in data["annotations"]:
        k = np.asarray(a["keypoints"], float).reshape(17, 3)[FROM_17]
        a["keypoints"] = k.reshape(-1).tolist()
        a["num_keypoints"] = int((k[:, 2] > 0).sum())
    data["categories"] = [{"id": 1, "name": "bird", "supercategory": "bird", "keypoints": NAMES, "skeleton": []}]
    ann = root / "birds.json"
    ann.write_text(json.dumps(data))
    cards = root / "cards"
    cards.mkdir()
    card = cards / "birds-c.json"
    card.write_text(json.dumps(_card()))
    return {"root": root, "images": images, "ann": ann, "card": card}


def _tiny(birds, *extra: str) -> list[str]:
    return ["train", "--arch", "simplebaseline_r18_small", "--images", str(birds["images"]), "--ann",
            str(birds["ann"]), "--image-size", f"{H}x{W}", "--batch-size", "2", "--epochs", "1", "--max-iters", "2",
            "--no-progress", "--device", "cpu", "--threads", "2", *extra]


@pytest.fixture(scope="module")
def trained(birds, tmp_path_factory) -> Path:
    """Two iterations on the carded set, the card named by a config file relative to that file."""
    cfg = birds["root"] / "cards" / "birds.yaml"
    cfg.write_text("dataset: birds-c.json\n")   # next to the config, not the working directory
    out = tmp_path_factory.mktemp("run") / "run"
    rc, _, err = _run(_tiny(birds, "--config", str(cfg), "--out", str(out)))
    assert rc == 0, err
    return out


def test_train_records_the_card(trained, birds):
    card = load_card_file(birds["card"])
    state = torch.load(trained / "last.pth", weights_only=True)
    assert state["dataset_card"]["name"] == "birds-c" and state["dataset_card"]["sha256"] == card.sha256
    assert state["dataset_card"]["text"] == birds["card"].read_text()
    assert state["config"]["keypoints"] == "birds-c" and state["config"]["dataset_format"] == "coco"
    assert state["config"]["dataset"] == str(birds["card"])   # resolved against the config file's folder
    final = [v for k, v in state["state_dict"].items() if k.endswith("weight")][-1]
    assert final.shape[0] == 5   # the head has the card's keypoint count
    run = json.loads((trained / "run.json").read_text())
    assert run["dataset_card"] == {"name": "birds-c", "sha256": card.sha256, "path": str(birds["card"])}


def test_train_export_eval_on_the_card(trained, birds, tmp_path):
    """train -> export -> build -> eval --dataset-card, with no spec edits."""
    onnx_path = tmp_path / "birds.onnx"
    rc, _, err = _run(["export", str(trained / "last.pth"), "-o", str(onnx_path)])
    assert rc == 0, err
    import onnx

    props = {p.key: p.value for p in onnx.load(str(onnx_path)).metadata_props}
    spec = json.loads(props["robustpose_spec"])
    assert spec["keypoints"] == {"num": 5, "names": NAMES, "dataset_map": {"birds-c": [0, 1, 2, 3, 4]}}
    assert spec["flip_pairs"] == PAIRS
    out = tmp_path / "out"
    rc, _, err = _run(["build", "--dataset-card", str(birds["card"]), "--images", str(birds["images"]),
                       "--ann", str(birds["ann"]), "--data", str(out), "--corruptions", "gaussian_noise",
                       "--severities", "1", "--jobs", "1", "--no-progress"])
    assert rc == 0, err
    results = tmp_path / "eval" / "results.json"
    rc, _, err = _run(["eval", str(onnx_path), "--dataset-card", str(birds["card"]), "--data", str(out),
                       "--images", str(birds["images"]), "--ann", str(birds["ann"]), "--partial",
                       "-o", str(results), "--no-progress", "--device", "cpu"])
    assert rc == 0, err
    res = json.loads(results.read_text())
    assert res["dataset"] == "birds-c"
    assert {(r["corruption"], r["severity"]) for r in res["rows"]} == {("clean", 0), ("gaussian_noise", 1)}
    preds = json.loads((results.parent / "predictions" / "clean" / "results.json").read_text())
    assert preds and all(len(p["keypoints"]) == 15 for p in preds)


def test_resume_with_another_card_is_refused(trained, birds, tmp_path):
    other = tmp_path / "birds2-c.json"
    other.write_text(json.dumps(_card(name="birds2-c")))
    before = {p.name: p.read_bytes() for p in trained.iterdir()}
    rc, _, err = _run(_tiny(birds, "--dataset-card", str(other), "--out", str(trained), "--resume",
                            "--max-iters", "3"))
    assert rc == 2
    line = _one_line(err)
    assert "dataset card birds-c" in line and "birds2-c" in line and str(trained / "last.pth") in line
    assert {p.name: p.read_bytes() for p in trained.iterdir()} == before


def test_flip_augmentation_swaps_the_cards_pairs(birds):
    """Whenever an item is flipped, each keypoint's target is its pair's: with only the left keypoints
    labelled, a flipped item's target weights sit on the right ones (the card's permutation)."""
    card = load_card_file(birds["card"])
    assert keypoint_set(card).flip_pairs == ((1, 2), (3, 4)) and keypoint_set(card).upper_body == (0, 1, 2)
    recs = read_coco(birds["ann"], birds["images"], W / H, card)
    for r in recs:
        r.visible = np.array([1, 1, 0, 1, 0], np.float32)
    aug = AugmentConfig(scale_factor=0.0, rot_factor=0.0, flip=True, prob_half_body=0.0)
    ds = TopDownDataset(recs, card, (W, H), (W // 4, H // 4), aug, seed=3)
    plain = TopDownDataset(recs, card, (W, H), (W // 4, H // 4), AugmentConfig(0.0, 0.0, False, 0.0), seed=3)
    perm = [0, 2, 1, 4, 3]
    seen = set()
    for epoch in range(3):
        ds.set_epoch(epoch)
        plain.set_epoch(epoch)
        for i in range(len(ds)):
            _, target, weight = ds[i]
            _, target0, weight0 = plain[i]
            w, w0 = weight[:, 0].tolist(), weight0[:, 0].tolist()
            assert w0 == [1, 1, 0, 1, 0]
            if w == w0:
                seen.add("kept")
                assert torch.equal(target, target0)
                continue
            seen.add("flipped")
            assert w == [w0[p] for p in perm] == [1, 0, 1, 0, 1]
            for j in (0, 2, 4):   # each flipped target peaks at the mirror of its pair's (one pixel: HRNet's flip)
                y, x = np.unravel_index(int(target[j].argmax()), target[j].shape)
                y0, x0 = np.unravel_index(int(target0[perm[j]].argmax()), target0[j].shape)
                assert y == y0 and abs(x - (W // 4 - 1 - x0)) <= 1
    assert seen == {"kept", "flipped"}


def test_registered_sets_keep_hrnet_tables():
    """COCO and MPII train with HRNet's lib/dataset/coco.py and mpii.py tables, now read from the cards."""
    coco, mpii = keypoint_set("coco"), keypoint_set("mpii")
    assert coco.num_joints == 17 and coco.upper_body == tuple(range(11))
    assert coco.flip_pairs == ((1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16))
    assert mpii.num_joints == 16 and mpii.upper_body == (7, 8, 9, 10, 11, 12, 13, 14, 15)
    assert mpii.flip_pairs == ((0, 5), (1, 4), (2, 3), (10, 15), (11, 14), (12, 13))


@pytest.mark.parametrize("name, fmt, kps, n", [
    ("coco", "coco", "coco", 17), ("mpii", "mpii", "mpii", 16), ("coco-c", "coco", "coco", 17),
    ("ochuman-c", "coco", "coco", 17), ("synth-c", "coco", "coco", 17), ("mpii-c", "mpii", "mpii", 16),
    ("crowdpose-c", "coco", "crowdpose", 14), ("crowdpose", "coco", "crowdpose", 14)])
def test_registered_names_pick_format_and_keypoints(name, fmt, kps, n):
    cfg = TrainConfig(dataset=name, dataset_format="mpii" if fmt == "coco" else "coco")
    cfg.validate()
    card = apply_card(cfg)
    assert (cfg.dataset_format, cfg.keypoints, card.num_keypoints) == (fmt, kps, n)


def test_mismatched_annotation_keypoint_count(birds, tmp_path):
    data = json.loads(birds["ann"].read_text())
    data["annotations"][2]["keypoints"] = data["annotations"][2]["keypoints"][:12]   # 4 keypoints
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    out = tmp_path / "run"
    rc, _, err = _run(_tiny(birds, "--dataset-card", str(birds["card"]), "--out", str(out)) + ["--ann", str(bad)])
    assert rc == 2
    line = _one_line(err)
    ann_id = data["annotations"][2]["id"]
    assert str(bad) in line and f"annotation {ann_id} has 4 keypoints" in line and "birds-c has 5" in line
    assert not out.exists()
    # COCO's 17 keypoints read under a 5-keypoint card are refused the same way (categories first)
    with pytest.raises(UserError, match="names 17 keypoints, but dataset birds-c has 5"):
        data17 = json.loads(birds["ann"].read_text())
        data17["categories"][0]["keypoints"] = [f"k{i}" for i in range(17)]
        p = tmp_path / "c17.json"
        p.write_text(json.dumps(data17))
        read_coco(p, birds["images"], 0.75, load_card_file(birds["card"]))


def test_unknown_dataset_name_names_the_closest(birds, tmp_path):
    out = tmp_path / "run"
    rc, _, err = _run(_tiny(birds, "--dataset", "cocoo", "--out", str(out)))
    assert rc == 2
    line = _one_line(err)
    assert "unknown dataset 'cocoo'" in line and "did you mean coco" in line and "--dataset-card" in line
    assert not out.exists()
    cfg = tmp_path / "c.yaml"
    cfg.write_text("dataset: ochuman\n")
    with pytest.raises(UserError, match="did you mean ochuman-c"):
        apply_card(load_config(cfg))
