"""Dataset cards: the registry, a user's own keypoint dataset through --dataset-card, and bad cards.

The carded dataset is made here: the real COCO sample (../shared) cut down to five of COCO's
keypoints, with sigmas of their own. Its AP must be pycocotools' own COCOeval with
``params.kpt_oks_sigmas`` set to the card's sigmas, bit for bit.
"""
from __future__ import annotations

import contextlib
import copy
import io
import json
from pathlib import Path

import numpy as np
import pytest

from cli_helpers import run_cli
from robustpose_bench.cli import main
from robustpose_bench.datasets.cards import get_card, keypoint_sets, list_datasets, load_card_file
from robustpose_bench.errors import UserError

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")

FIVE = ["nose", "left_shoulder", "right_shoulder", "left_hip", "right_hip"]
FIVE_FROM_COCO = [0, 5, 6, 11, 12]
SIGMAS = [0.03, 0.081, 0.081, 0.11, 0.107]


def _card(**change) -> dict:
    card = {"schema": "robustpose-bench/dataset-card/1", "name": "five-c", "title": "Five-C", "format": "coco",
            "keypoints": FIVE, "flip_pairs": [[1, 2], [3, 4]], "sigmas": SIGMAS,
            "upper_body": FIVE[:3], "primary_metric": "AP", "scorer": "pycocotools"}
    card.update(change)
    return card


def _run(argv: list) -> tuple[int, str, str]:
    return run_cli(*argv)


@pytest.fixture(scope="module")
def five(tmp_path_factory, shared_dir) -> dict[str, Path]:
    """A 5-keypoint COCO-format dataset (the 4 real COCO sample images cut to five keypoints) and its card."""
    src = shared_dir / "data" / "coco_sample"
    root = tmp_path_factory.mktemp("five")
    data = json.loads((src / "test_coco.json").read_text())
    data["categories"] = [{**data["categories"][0], "keypoints": FIVE, "skeleton": [[2, 3], [4, 5], [2, 4], [3, 5]]}]
    for a in data["annotations"]:
        if not a.get("keypoints"):
            continue
        k = np.asarray(a["keypoints"], dtype=float).reshape(17, 3)[FIVE_FROM_COCO]
        a["keypoints"] = [int(v) if float(v).is_integer() else float(v) for v in k.reshape(-1)]
        a["num_keypoints"] = int((k[:, 2] > 0).sum())
    ann = root / "five.json"
    ann.write_text(json.dumps(data))
    card = root / "five-c.json"
    card.write_text(json.dumps(_card()))
    return {"images": src, "ann": ann, "card": card, "root": root, "coco17": src / "test_coco.json"}


def _perturbed(ann: dict, seed: int, noise: float) -> list[dict]:
    """Ground truth moved by Gaussian noise into COCO results (score by the person's visible count)."""
    rng = np.random.default_rng(seed)
    out = []
    for a in ann["annotations"]:
        k = np.asarray(a["keypoints"], dtype=float).reshape(-1, 3)
        if not (k[:, 2] > 0).any():
            continue
        k[:, :2] += rng.normal(0, noise, size=(len(k), 2))
        k[:, 2] = 1.0
        out.append({"image_id": a["image_id"], "category_id": 1, "keypoints": k.reshape(-1).tolist(),
                    "score": float(rng.uniform(0.5, 1.0))})
    return out


def _pycocotools_direct(ann_path: Path, preds: list[dict], sigmas) -> list[float]:
    """pycocotools itself, with the card's sigmas (the reference)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(ann_path))
        dt = gt.loadRes(copy.deepcopy(preds))
        ev = COCOeval(gt, dt, "keypoints")
        ev.params.kpt_oks_sigmas = np.array(sigmas)
        ev.evaluate(); ev.accumulate(); ev.summarize()
    return [float(v) for v in ev.stats]


# ----------------------------------------------------------------------------------------------
# the registry


def test_registry_lists_the_shipped_cards_and_names_the_closest_on_a_typo(capsys):
    assert {"coco-c", "mpii-c", "ochuman-c", "synth-c"} <= set(list_datasets())
    assert list_datasets("mpii*") == ["mpii-c"]
    with pytest.raises(UserError, match=r"unknown dataset 'cocoo-c'; did you mean coco-c.*--dataset-card"):
        get_card("cocoo-c")
    assert main(["list", "datasets", "*ochuman*"]) == 0
    out = capsys.readouterr().out
    assert "ochuman-c" in out and "OCHuman-C" in out and "coco-c" not in out
    assert main(["list", "datasets", "ochumn*"]) == 1
    assert "did you mean ochuman-c" in capsys.readouterr().err


def test_the_shipped_cards_hold_the_reference_numbers():
    from pycocotools.cocoeval import Params

    from robustpose_bench.metrics.coco import COCO_SIGMAS
    from robustpose_bench.topdown import COCO_SIGMAS as TD_SIGMAS

    coco = get_card("coco-c")
    # pycocotools' own floats, bit for bit: COCO-C scores exactly as COCOeval's defaults
    np.testing.assert_array_equal(np.array(coco.sigmas), Params(iouType="keypoints").kpt_oks_sigmas)
    np.testing.assert_array_equal(np.array(coco.sigmas), COCO_SIGMAS)
    np.testing.assert_array_equal(np.array(coco.sigmas), TD_SIGMAS)
    assert coco.flip_pairs == ((1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16))
    mpii = get_card("mpii-c")
    assert mpii.sigmas is None and mpii.primary_metric == "PCKh" and mpii.num_keypoints == 16
    assert mpii.upper_body_indices() == (7, 8, 9, 10, 11, 12, 13, 14, 15)  # HRNet's MPII upper body
    assert coco.upper_body_indices() == tuple(range(11))
    assert keypoint_sets()["coco"].name == "coco-c"
    assert get_card("ochuman-c").keypoints == coco.keypoints
    assert dict((s, (i, p)) for s, i, p in get_card("ochuman-c").split_sizes) == {"val": (2500, None),
                                                                                 "test": (2231, None)}


# ----------------------------------------------------------------------------------------------
# bad cards and annotation files: one line naming the file and the field, nothing written


@pytest.mark.parametrize("change, field, words", [
    ({"sigmas": SIGMAS[:4]}, "sigmas", "has 4 values but the card has 5 keypoints"),
    ({"sigmas": [0.03, 0.08, 0.0, 0.1, 0.1]}, "sigmas[2]", "must be a positive number"),
    ({"sigmas": [0.03, -0.08, 0.08, 0.1, 0.1]}, "sigmas[1]", "must be a positive number"),
    ({"flip_pairs": [[1, 2], [3, 5]]}, "flip_pairs[1]", "out of range: the card has 5 keypoints"),
    ({"keypoints": ["nose", "hip", "hip", "a", "b"]}, "keypoints[2]", "'hip' is a duplicate name"),
    ({"name": "Five C"}, "name", "lower-case letters"),
    ({"scorer": "hrnet-pckh"}, "scorer", "does not score the coco format"),
    ({"name": "coco-c"}, "name", "is a registered dataset"),
])
def test_bad_cards_are_one_line_and_nothing_is_written(five, tmp_path, change, field, words):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(_card(**change)))
    out = tmp_path / "out"
    for argv in (["build", "--dataset-card", str(bad), "--images", str(five["images"]), "--ann", str(five["ann"]),
                  "--data", str(out), "--jobs", "1", "--no-progress"],
                 ["score", "--dataset-card", str(bad), "--ann", str(five["ann"]), "--predictions", str(tmp_path),
                  "-o", str(out / "r.json")]):
        rc, stdout, err = _run(argv)
        assert rc == 2 and stdout == ""
        assert err.count("\n") == 1 and f"{bad}: field {field}: " in err and words in err, err
        assert not out.exists()


def test_an_annotation_file_with_another_keypoint_count_is_refused(five, tmp_path):
    coco17 = five["coco17"]
    out = tmp_path / "out"
    rc, stdout, err = _run(["build", "--dataset-card", str(five["card"]), "--images", str(five["images"]),
                            "--ann", str(coco17), "--data", str(out), "--jobs", "1", "--no-progress"])
    assert rc == 2 and err.count("\n") == 1 and not out.exists()
    assert f"{coco17}: field categories[0].keypoints: lists 17 keypoints; dataset five-c has 5" in err
    data = json.loads(five["ann"].read_text())
    data["annotations"][1]["keypoints"] = data["annotations"][1]["keypoints"][:12]
    short = tmp_path / "short.json"
    short.write_text(json.dumps(data))
    rc, _, err = _run(["build", "--dataset-card", str(five["card"]), "--images", str(five["images"]),
                       "--ann", str(short), "--data", str(out), "--jobs", "1", "--no-progress"])
    assert rc == 2 and "field annotations[1].keypoints: has 12 values; dataset five-c's 5 keypoints need 15" in err
    assert not out.exists()


def test_an_unknown_dataset_name_names_the_closest(capsys):
    assert main(["score", "--dataset", "ochuman", "--ann", "x.json", "--predictions", "p"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown dataset 'ochuman'; did you mean ochuman-c?" in err
    with pytest.raises(UserError, match="did you mean mpii-c"):
        from robustpose_bench.results import make_results
        make_results("mpii", [])


# ----------------------------------------------------------------------------------------------
# a user's own dataset, end to end


def test_score_of_a_carded_dataset_equals_pycocotools_with_its_sigmas(five, tmp_path):
    ann = json.loads(five["ann"].read_text())
    pred = tmp_path / "pred"
    want = {}
    for key, seed in (("clean", 1), ("gaussian_noise/1", 2), ("motion_blur/3", 3)):
        preds = _perturbed(ann, seed, noise=1.5 + seed)
        (pred / key).mkdir(parents=True)
        (pred / key / "results.json").write_text(json.dumps(preds))
        want[key] = _pycocotools_direct(five["ann"], preds, SIGMAS)
    rc, _, err = _run(["score", "--dataset-card", str(five["card"]), "--ann", str(five["ann"]),
                       "--predictions", str(pred), "--partial", "-o", str(tmp_path / "r.json")])
    assert rc == 0, err
    res = json.loads((tmp_path / "r.json").read_text())
    assert res["dataset"] == "five-c" and res["metric"] == "AP"
    names = ("AP", "AP50", "AP75", "APM", "APL", "AR", "AR50", "AR75", "ARM", "ARL")
    for key, stats in want.items():
        c, s = ("clean", 0) if key == "clean" else (key.split("/")[0], int(key.split("/")[1]))
        got = {r["metric"]: r["value"] for r in res["rows"] if (r["corruption"], r["severity"]) == (c, s)}
        assert got == dict(zip(names, stats))  # bit-equal
    assert want["clean"][0] < 1.0  # the noise matters: a test that can fail
    # COCO's default sigmas give other numbers: the card's are the ones used
    default = _pycocotools_direct(five["ann"], json.loads((pred / "clean" / "results.json").read_text()),
                                  [0.026, 0.079, 0.079, 0.107, 0.107])
    assert default != want["clean"]
    card = res["provenance"]["dataset_card"]
    assert card["name"] == "five-c" and card["sigmas"] == SIGMAS and card["path"] == str(five["card"])
    assert card["sha256"] == load_card_file(five["card"]).sha256


def test_build_eval_table_plot_submit_on_a_carded_dataset(five, tmp_path, shared_dir):
    """build -> eval (a real COCO-17 model, MoveNet, mapped onto the card's 5 keypoints by name, GT boxes)
    -> table -> plot -> submit, and the eval's AP is pycocotools' on the predictions it wrote, with the
    card's sigmas."""
    onnx_path = shared_dir / "models" / "movenet_lightning_int8.onnx"
    out = tmp_path / "out"
    rc, stdout, err = _run(["build", "--dataset-card", str(five["card"]), "--images", str(five["images"]),
                            "--ann", str(five["ann"]), "--data", str(out), "--corruptions", "gaussian_noise",
                            "--severities", "1", "--jobs", "1", "--no-progress"])
    assert rc == 0, err
    manifest = out / "five-c" / "manifest.json"
    assert manifest.is_file() and json.loads(manifest.read_text())["spec_sha256"] == load_card_file(five["card"]).sha256
    rc, _, err = _run(["verify", "--dataset-card", str(five["card"]), "--data", str(out), "--no-progress"])
    assert rc == 0, err
    results = tmp_path / "run" / "results.json"
    rc, stdout, err = _run(["eval", str(onnx_path), "--dataset-card", str(five["card"]), "--data", str(out),
                            "--images", str(five["images"]), "--ann", str(five["ann"]), "--partial", "--spec", "movenet",
                            "-o", str(results), "--no-progress", "--device", "cpu"])
    assert rc == 0, err
    res = json.loads(results.read_text())
    assert res["dataset"] == "five-c" and {(r["corruption"], r["severity"]) for r in res["rows"]} == {
        ("clean", 0), ("gaussian_noise", 1)}
    for key in ("clean", "gaussian_noise/1"):
        preds = json.loads((results.parent / "predictions" / key / "results.json").read_text())
        assert preds and all(len(p["keypoints"]) == 15 for p in preds)
        c, s = ("clean", 0) if key == "clean" else ("gaussian_noise", 1)
        got = [r["value"] for r in res["rows"] if (r["corruption"], r["severity"]) == (c, s)]
        assert got == _pycocotools_direct(five["ann"], preds, SIGMAS)
        assert got[0] > 0.2  # a real model on real persons: the comparison is not of zeros
    # a changed card (other sigmas) is another run: it does not resume the old predictions
    other = tmp_path / "five-c-other.json"
    other.write_text(json.dumps(_card(sigmas=[0.05] * 5)))
    rc, _, err = _run(["eval", str(onnx_path), "--dataset-card", str(other), "--data", str(out), "--spec", "movenet",
                       "--images", str(five["images"]), "--ann", str(five["ann"]), "--partial",
                       "-o", str(results), "--no-progress", "--device", "cpu"])
    assert rc == 2 and "--overwrite" in err, err

    rc, stdout, err = _run(["table", str(results), "--format", "md"])
    assert rc == 0 and "| AP (clean) |" in stdout and "4 images, 12 persons" in stdout, err
    rc, stdout, err = _run(["plot", str(results), "-o", str(tmp_path / "fig.png")])
    assert rc == 0 and (tmp_path / "fig.png").is_file(), err
    board = tmp_path / "board"
    rc, stdout, err = _run(["submit", str(results), "--name", "tiny", "--dir", str(board), "--subset"])
    assert rc != 0 and "partial" in err  # a partial run is no entry: build and score the whole grid for one


def test_a_model_whose_keypoints_do_not_fit_the_card_is_one_line(five, tmp_path):
    from test_models import export_tiny

    odd = tmp_path / "odd.json"
    odd.write_text(json.dumps(_card(name="odd-c", keypoints=["nose", "tail", "left_hip", "right_hip", "fin"],
                                    flip_pairs=[[2, 3]], upper_body=["nose"])))
    onnx_path, _, _ = export_tiny(tmp_path)
    rc, _, err = _run(["eval", str(onnx_path), "--dataset-card", str(odd), "--images", str(five["images"]),
                       "--ann", str(five["ann"]), "--partial", "-o", str(tmp_path / "r.json"), "--no-progress"])
    assert rc == 2 and err.count("\n") == 1, err
    assert "do not fit dataset odd-c by name" in err and "[nose, left_eye" in err and "named tail, fin" in err
    assert "[nose, tail, left_hip, right_hip, fin]" in err


def test_submit_of_a_complete_carded_run(five, tmp_path):
    """score on the whole 15 x 5 grid -> submit -> leaderboard check and render know the dataset by name."""
    from robustpose_bench.leaderboard.entries import BENCHMARK_ORDER

    ann = json.loads(five["ann"].read_text())
    pred = tmp_path / "pred"
    keys = ["clean"] + [f"{c}/{s}" for c in BENCHMARK_ORDER for s in range(1, 6)]
    for i, key in enumerate(keys):
        (pred / key).mkdir(parents=True)
        (pred / key / "results.json").write_text(json.dumps(_perturbed(ann, i, noise=1.0 + i % 7)))
    results = tmp_path / "r.json"
    rc, _, err = _run(["score", "--dataset-card", str(five["card"]), "--ann", str(five["ann"]),
                       "--predictions", str(pred), "-o", str(results), "--boxes", "gt", "--method", "noisy-gt"])
    assert rc == 0, err
    model = tmp_path / "model.onnx"
    model.write_bytes(b"not a model, cited by sha256")
    manifest = tmp_path / "manifest.json"
    manifest.write_text("{}")
    board = tmp_path / "board"
    rc, stdout, err = _run(["submit", str(results), "--name", "Noisy GT", "--dir", str(board), "--subset",
                            "--model", str(model), "--manifest", str(manifest)])
    assert rc == 0, err
    entry = json.loads((board / "five-c" / "Noisy_GT.json").read_text()) if (board / "five-c" / "Noisy_GT.json").is_file() \
        else json.loads(next((board / "five-c").glob("*.json")).read_text())
    assert entry["dataset"] == "five-c" and entry["metric"] == "AP"
    rc, stdout, err = _run(["table", str(results), "--format", "csv"])
    assert rc == 0, err
    rc, stdout, err = _run(["leaderboard", "check", "--dir", str(board)])
    assert rc == 0, err + stdout
    rc, stdout, err = _run(["leaderboard", "render", "--dir", str(board)])
    assert rc == 0, err


def test_eval_shards_of_a_carded_dataset_merge_into_the_single_run(five, tmp_path, shared_dir):
    """eval --shard 1/2 and 2/2 on a user's card, then merge: the rows of one unsharded run. merge finds
    the card the shards recorded; when it has moved it says to pass --dataset-card, which then works."""
    onnx_path = shared_dir / "models" / "movenet_lightning_int8.onnx"
    out = tmp_path / "out"
    card = tmp_path / "five-c.json"
    card.write_bytes(five["card"].read_bytes())
    common = ["--dataset-card", str(card), "--images", str(five["images"]), "--ann", str(five["ann"])]
    rc, _, err = _run(["build", *common, "--data", str(out), "--corruptions", "gaussian_noise", "--severities", "1",
                       "--jobs", "1", "--no-progress"])
    assert rc == 0, err
    run = ["eval", str(onnx_path), *common, "--data", str(out), "--partial", "--spec", "movenet",
           "--no-progress", "--device", "cpu"]
    rc, _, err = _run([*run, "-o", str(tmp_path / "whole" / "results.json")])
    assert rc == 0, err
    shards = []
    for i in (1, 2):
        shards.append(tmp_path / f"s{i}" / "results.json")
        rc, _, err = _run([*run, "--shard", f"{i}/2", "-o", str(shards[-1])])
        assert rc == 0, err
    whole = json.loads((tmp_path / "whole" / "results.json").read_text())

    merged = tmp_path / "merged.json"
    rc, _, err = _run(["merge", *map(str, shards), "--partial", "-o", str(merged)])
    assert rc == 0, err
    got = json.loads(merged.read_text())
    assert got["dataset"] == "five-c" and got["rows"] == whole["rows"] and got["summary"] == whole["summary"]
    assert got["provenance"]["dataset_card"]["title"] == "Five-C"

    moved = tmp_path / "elsewhere.json"
    card.rename(moved)
    again = tmp_path / "again.json"
    rc, _, err = _run(["merge", *map(str, shards), "--partial", "-o", str(again)])
    assert rc == 2 and not again.exists(), err
    assert err.count("\n") == 1 and "user's card" in err and "--dataset-card" in err, err
    rc, _, err = _run(["merge", *map(str, shards), "--partial", "--dataset-card", str(moved), "-o", str(again)])
    assert rc == 0, err
    assert json.loads(again.read_text())["rows"] == whole["rows"]
    other = tmp_path / "other.json"
    other.write_text(json.dumps(_card(sigmas=[0.05] * 5)))
    rc, _, err = _run(["merge", *map(str, shards), "--partial", "--dataset-card", str(other), "-o",
                       str(tmp_path / "third.json")])
    assert rc == 2 and "provenance.dataset_card.sha256" in err and not (tmp_path / "third.json").exists(), err


def test_eval_of_a_carded_dataset_with_detections_equals_pycocotools(five, tmp_path, shared_dir):
    """eval on a user's card with a person detection file (HRNet's format) instead of GT boxes: the run
    records the detections, and its AP is pycocotools' on the predictions it wrote, with the card's sigmas."""
    onnx_path = shared_dir / "models" / "movenet_lightning_int8.onnx"
    dets = five["images"] / "test_coco_det_AP_H_56.json"
    out = tmp_path / "out"
    common = ["--dataset-card", str(five["card"]), "--images", str(five["images"]), "--ann", str(five["ann"])]
    rc, _, err = _run(["build", *common, "--data", str(out), "--corruptions", "fog", "--severities", "2",
                       "--jobs", "1", "--no-progress"])
    assert rc == 0, err
    results = tmp_path / "run" / "results.json"
    rc, _, err = _run(["eval", str(onnx_path), *common, "--data", str(out), "--partial", "--spec", "movenet",
                       "--boxes", str(dets), "-o", str(results), "--no-progress", "--device", "cpu"])
    assert rc == 0, err
    res = json.loads(results.read_text())
    boxes = res["provenance"]["boxes"]
    assert boxes["source"] == dets.name and boxes["detections"] > 0
    for key, cond in (("clean", ("clean", 0)), ("fog/2", ("fog", 2))):
        preds = json.loads((results.parent / "predictions" / key / "results.json").read_text())
        assert preds and all(len(p["keypoints"]) == 15 for p in preds)
        got = [r["value"] for r in res["rows"] if (r["corruption"], r["severity"]) == cond]
        assert got == _pycocotools_direct(five["ann"], preds, SIGMAS)
    clean = [r["value"] for r in res["rows"] if r["corruption"] == "clean"]
    assert clean[0] > 0.1  # real detections of real persons: not a comparison of zeros
