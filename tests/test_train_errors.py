"""train, export and score on bad input: one line naming the file and what is wrong, exit 2, and
nothing written before the input is known to be good."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from _advmix_synth import make_coco_dataset
from robustpose_bench.cli import main

W, H = 32, 64


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> tuple[Path, Path]:
    return make_coco_dataset(tmp_path_factory.mktemp("train_errors"), n_images=4)


def _common(data) -> list[str]:
    images, ann = data
    return ["--arch", "simplebaseline_r18_small", "--images", str(images), "--ann", str(ann),
            "--image-size", f"{H}x{W}", "--batch-size", "2", "--no-progress"]


def _one_line_error(capsys, command: str) -> str:
    captured = capsys.readouterr()
    err = captured.err
    assert err.count("\n") == 1 and err.startswith(f"robustpose-bench {command}: error: "), err
    assert "Traceback" not in err
    return err


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run") / "run"
    assert main(["train", "--out", str(out), "--max-iters", "1", *_common(data)]) == 0
    return out


# ---------------------------------------------------------------- configs

@pytest.mark.parametrize("yaml_text, field", [
    ("lr: .inf", "lr"),
    ("lr: .nan", "lr"),
    ("lr: 0", "lr"),
    ("generator_lr: -1.0", "generator_lr"),
    ("max_iters: lots", "max_iters"),
    ("max_iters: true", "max_iters"),
    ("max_iters: 2.5", "max_iters"),
    ("lr_steps: [ninety, 120]", "lr_steps"),
    ("lr_steps: 90", "lr_steps"),
    ("lr_steps: [-1]", "lr_steps"),
    ("sigma: -2", "sigma"),
    ("sigma: 0", "sigma"),
    ("sigma: 1e9", "sigma"),
    ("scale_factor: 40", "scale_factor"),
    ("scale_factor: -0.1", "scale_factor"),
    ("rot_factor: 1e6", "rot_factor"),
    ("rot_factor: -5", "rot_factor"),
    ("lr_factor: 7", "lr_factor"),
    ("prob_half_body: 2", "prob_half_body"),
    ("alpha: .nan", "alpha"),
    ("adv_loss_weight: .inf", "adv_loss_weight"),
    ("workers: -1", "workers"),
    ("seed: -3", "seed"),
    ("checkpoint_every: -1", "checkpoint_every"),
    ("generator_levels: 0", "generator_levels"),
    ("pretrained: 5", "pretrained"),
])
def test_bad_config_values_are_refused_before_anything_is_written(data, tmp_path, capsys, yaml_text, field):
    config = tmp_path / "bad.yaml"
    config.write_text(yaml_text + "\n")
    out = tmp_path / "run"
    assert main(["train", "--config", str(config), "--out", str(out), "--max-iters", "1", *_common(data)]
                if field != "max_iters" else
                ["train", "--config", str(config), "--out", str(out), *_common(data)]) == 2
    err = _one_line_error(capsys, "train")
    assert f"'{field}'" in err, err
    assert not out.exists()


def test_bad_command_line_values_are_refused_too(data, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--out", str(out), "--lr", "inf", "--max-iters", "1", *_common(data)]) == 2
    assert "'lr'" in _one_line_error(capsys, "train")
    assert main(["train", "--out", str(out), "--max-iters", "0", *_common(data)]) == 2
    assert "'max_iters'" in _one_line_error(capsys, "train")
    assert not out.exists()


# ---------------------------------------------------------------- resume from a damaged checkpoint

def _truncated(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _foreign_state_dict(path: Path) -> None:  # a plain weights file, not a training checkpoint
    torch.save({"conv.weight": torch.zeros(2, 2)}, path)


def _foreign_object(path: Path) -> None:
    torch.save([1, 2, 3], path)


def _wrong_fields(path: Path) -> None:
    state = torch.load(path, weights_only=True)
    state["epoch"] = "three"
    torch.save(state, path)


def _other_optimizer(path: Path) -> None:
    state = torch.load(path, weights_only=True)
    state["optimizer"] = {"state": {}, "param_groups": [{"params": [0], "lr": 1.0}]}
    torch.save(state, path)


@pytest.mark.parametrize("damage", [_truncated, _empty, _foreign_state_dict, _foreign_object, _wrong_fields,
                                    _other_optimizer])
def test_resume_from_a_damaged_checkpoint_is_one_line(data, trained, tmp_path, capsys, damage):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(trained, run)
    damage(run / "last.pth")
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    assert main(["train", "--out", str(run), "--resume", "--max-iters", "2", *_common(data)]) == 2
    err = _one_line_error(capsys, "train")
    assert str(run / "last.pth") in err
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before  # nothing rewritten


# ---------------------------------------------------------------- export

@pytest.mark.parametrize("drop", ["arch", "keypoints", "image_size", "heatmap_size", "method"])
def test_export_of_a_checkpoint_whose_config_lacks_keys(trained, tmp_path, capsys, drop):
    state = torch.load(trained / "last.pth", weights_only=True)
    del state["config"][drop]
    ckpt = tmp_path / "partial.pth"
    torch.save(state, ckpt)
    assert main(["export", str(ckpt), "-o", str(tmp_path / "m.onnx")]) == 2
    err = _one_line_error(capsys, "export")
    assert str(ckpt) in err and f"'{drop}'" in err
    assert not (tmp_path / "m.onnx").exists()


@pytest.mark.parametrize("field, value", [("arch", "resnet_9000"), ("keypoints", "cats"),
                                          ("image_size", [32]), ("heatmap_size", "big")])
def test_export_of_a_checkpoint_with_bad_config_values(trained, tmp_path, capsys, field, value):
    state = torch.load(trained / "last.pth", weights_only=True)
    state["config"][field] = value
    ckpt = tmp_path / "odd.pth"
    torch.save(state, ckpt)
    assert main(["export", str(ckpt), "-o", str(tmp_path / "m.onnx")]) == 2
    err = _one_line_error(capsys, "export")
    assert str(ckpt) in err and f"'{field}'" in err


def test_export_of_a_non_dict_config(trained, tmp_path, capsys):
    state = torch.load(trained / "last.pth", weights_only=True)
    state["config"] = ["not", "a", "mapping"]
    ckpt = tmp_path / "odd.pth"
    torch.save(state, ckpt)
    assert main(["export", str(ckpt)]) == 2
    assert str(ckpt) in _one_line_error(capsys, "export")


# ---------------------------------------------------------------- score

@pytest.mark.parametrize("bbox", [5, "12,3,4,5", [1, 2, 3], [1, 2, "x", 4], [1, 2, float("nan"), 4], None])
def test_score_predictions_with_a_bad_bbox(tmp_path, bbox):
    from robustpose_bench.errors import UserError
    from robustpose_bench.metrics.coco import keypoint_ap

    images, ann = make_coco_dataset(tmp_path, n_images=1)
    gt = json.loads(ann.read_text())["annotations"][0]
    pred = {"image_id": 1, "category_id": 1, "keypoints": gt["keypoints"], "score": 0.9, "bbox": bbox}
    with pytest.raises(UserError, match=r"entry 0 .*'bbox'") as info:
        keypoint_ap(ann, [pred], source="preds.json")
    assert "\n" not in str(info.value) and "preds.json" in str(info.value)


def test_score_predictions_with_a_good_bbox_still_score(tmp_path):
    from robustpose_bench.metrics.coco import keypoint_ap

    images, ann = make_coco_dataset(tmp_path, n_images=1)
    gt = json.loads(ann.read_text())["annotations"][0]
    pred = {"image_id": 1, "category_id": 1, "keypoints": gt["keypoints"], "score": 0.9, "bbox": gt["bbox"]}
    assert keypoint_ap(ann, [pred])["AP"] == pytest.approx(1.0)


# ---------------------------------------------------------------- hostile checkpoints

class _Evil:
    """Unpickling this runs a shell command: a checkpoint must never be unpickled with full pickle."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("how", ["resume", "export", "pretrained"])
def test_a_malicious_pickle_is_refused_unrun(data, trained, tmp_path, capsys, how):
    import shutil

    marker = tmp_path / "pwned"
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    torch.save({"state_dict": _Evil(marker), "config": {}}, run / "last.pth")
    if how == "resume":
        argv = ["train", "--out", str(run), "--resume", "--max-iters", "2", *_common(data)]
    elif how == "export":
        argv = ["export", str(run / "last.pth")]
    else:
        argv = ["train", "--out", str(tmp_path / "new"), "--pretrained", str(run / "last.pth"), "--max-iters", "1",
                *_common(data)]
    assert main(argv) == 2
    assert "last.pth" in _one_line_error(capsys, argv[0])
    assert not marker.exists()


@pytest.mark.parametrize("what", ["export", "config"])
def test_a_fifo_checkpoint_or_config_is_refused_not_waited_on(tmp_path, what):
    import os
    import subprocess
    import sys

    fifo = tmp_path / ("last.pth" if what == "export" else "cfg.yaml")
    os.mkfifo(fifo)
    argv = ["export", str(fifo)] if what == "export" else ["train", "--config", str(fifo), "--out", str(tmp_path / "o")]
    proc = subprocess.run([sys.executable, "-m", "robustpose_bench", *argv], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "not a regular file" in proc.stderr
