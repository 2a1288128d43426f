"""Issue 19, classes 8 and 9: unbounded work and tracebacks on hostile values, each one line (exit 2)."""
from __future__ import annotations

import json
import shutil
import time

import numpy as np
import pytest
from cli_helpers import run_cli
from PIL import Image
from test_models import export_tiny


def _one_line(rc: int, err: str, *words: str) -> None:
    assert rc == 2 and len(err.strip().splitlines()) == 1, err
    for w in words:
        assert w in err, err


@pytest.mark.parametrize("command", ["build", "eval"])
def test_a_huge_severity_range_is_refused_before_it_is_expanded(command, tmp_path):
    t0 = time.monotonic()
    argv = (["build", "synth-c", "--data", tmp_path, "--synth-count", "1"] if command == "build" else
            ["eval", tmp_path / "m.onnx", "--dataset", "synth-c", "--data", tmp_path])
    rc, _, err = run_cli(*argv, "--severities", "1-99999999999", "--no-progress")
    _one_line(rc, err, "--severities must be within 1..5")
    assert time.monotonic() - t0 < 10  # was a MemoryError after GBs


def test_deeply_nested_json_is_one_line(tmp_path):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 200_000 + "]" * 200_000)
    _one_line(*run_cli("table", deep)[::2], "nested too deeply")


@pytest.mark.parametrize("flag,value", [("--jobs", "-1"), ("--jobs", "0"), ("--intra-op-threads", "-2")])
def test_non_positive_counts_are_one_line(built_samples, tmp_path, flag, value):
    sample = built_samples["coco-c"]
    (tmp_path / "m").mkdir()
    model = export_tiny(tmp_path / "m")[0]
    rc, _, err = run_cli("eval", model, "--dataset", "coco-c", "--images", sample["images"], "--ann", sample["ann"],
                         "--partial", "-o", tmp_path / "r.json", "--no-progress", flag, value)
    _one_line(rc, err, f"{flag} must be a positive integer")


def test_dollar_signs_in_plot_names_are_text(built_samples, tmp_path):
    sample = built_samples["coco-c"]
    (tmp_path / "m").mkdir()
    model = export_tiny(tmp_path / "m")[0]
    assert run_cli("eval", model, "--dataset", "coco-c", "--images", sample["images"], "--ann", sample["ann"],
                   "--partial", "-o", tmp_path / "r.json", "--no-progress")[0] == 0
    rc, out, err = run_cli("plot", tmp_path / "r.json", "--name", r"$\frac{a}{$", "-o", tmp_path / "f.png")
    assert rc == 0, err
    assert (tmp_path / "f.png").stat().st_size > 1000


def test_eval_refuses_a_decompression_bomb_before_decoding_it(built_samples, tmp_path):
    """A 16000x16000 PNG (256 MP, 300 KB on disk) among the sources: build refuses it, eval decoded it."""
    sample = built_samples["coco-c"]
    images = tmp_path / "images"
    shutil.copytree(sample["images"], images, ignore=shutil.ignore_patterns("*.json"))
    ann = json.loads(sample["ann"].read_text())
    victim = ann["images"][0]["file_name"]
    Image.fromarray(np.zeros((16000, 16000), np.uint8)).save(images / victim, format="PNG")
    (tmp_path / "m").mkdir()
    model = export_tiny(tmp_path / "m")[0]
    rc, _, err = run_cli("eval", model, "--dataset", "coco-c", "--images", images, "--ann", sample["ann"],
                         "--partial", "-o", tmp_path / "r.json", "--no-progress")
    _one_line(rc, err, victim, "decompression bomb")


def test_a_persons_model_returning_thousands_of_candidates_keeps_max_det(built_samples, tmp_path):
    """Class 8: an end-to-end (RTMO-style) export that returns 2,000 persons per image.

    The persons codec keeps the best ``max_det`` (300) per image. Below the cap nothing changes,
    and since COCOeval scores only the best 20 per image, AP with the cap equals AP without it.
    """
    import dataclasses

    from model_factory import TinyRTMO, _export
    from test_onestage import cocoeval_direct

    from robustpose_bench.evaluation import predict_onestage
    from robustpose_bench.models.loader import load_model

    import torch

    torch.manual_seed(0)
    path = _export(TinyRTMO(persons=2000).eval(), torch.zeros(1, 3, 640, 640), tmp_path / "rtmo_2000.onnx",
                   ["input"], ["dets", "keypoints"])
    sample = built_samples["coco-c"]
    gt = json.loads(sample["ann"].read_text())
    files = [i["file_name"] for i in gt["images"]]
    capped = load_model(path, spec="rtmo", device="cpu")
    assert capped.spec.output.max_det == 300
    spec_all = dataclasses.replace(capped.spec, output=dataclasses.replace(capped.spec.output, max_det=10_000))
    uncapped = load_model(path, spec=spec_all, device="cpu")
    got = predict_onestage(capped, files, lambda f: sample["images"] / f, "coco", batch=2)
    full = predict_onestage(uncapped, files, lambda f: sample["images"] / f, "coco", batch=2)
    for p, q in zip(got, full):
        assert len(q) == 2000 and len(p) == 300
        best = np.sort(np.argsort(-q.scores, kind="stable")[:300])  # the best 300, in output order
        np.testing.assert_array_equal(p.scores, q.scores[best])
        np.testing.assert_array_equal(p.keypoints, q.keypoints[best])

    def records(persons):
        ids = {i["file_name"]: i["id"] for i in gt["images"]}
        return [{"image_id": ids[f], "category_id": 1, "score": float(s),
                 "keypoints": np.concatenate([k, v[:, None]], 1).ravel().tolist()}
                for f, p in zip(files, persons) for k, v, s in zip(p.keypoints, p.keypoint_scores, p.scores)]

    assert cocoeval_direct(sample["ann"], records(got)) == cocoeval_direct(sample["ann"], records(full))
