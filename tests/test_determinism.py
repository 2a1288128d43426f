"""Same model, same build, same bytes, whatever the scheduler does (issue 18).

Each test turns on the delay-injection hook (``RPB_TEST_JITTER_MS``, ``robustpose_bench/determinism.py``):
every load and decode step of the evaluator's pool, and every build task, first sleeps a random time.
That makes the threads interleave differently on every run, on a quiet machine as on a busy one, so a
result that depends on the interleaving differs between the runs here instead of only on a loaded CI
machine. Before the fix (OpenCV's own thread pool left on inside our pools), the top-down, SimCC and
HigherHRNet runs below differed in some of the noise conditions' prediction files in every run.
"""
from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pytest
from cli_helpers import build_coco_sample, run_cli
from model_factory import export_higherhrnet, export_rtmpose

from robustpose_bench import topdown
from robustpose_bench.determinism import JITTER_ENV, opencv_single_threaded

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")
RUNS = 3


@pytest.fixture(scope="module")
def noisy(shared_dir, tmp_path_factory) -> dict:
    """coco-c of the COCO sample with the noise conditions where near-ties live (flat heatmaps)."""
    return build_coco_sample(shared_dir, tmp_path_factory.mktemp("noisy"), "--corruptions",
                             "gaussian_noise,shot_noise", "--severities", "1,3", "--jobs", "1")


def prediction_bytes(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("results.json"))}


def repeated_evals(b: dict, model: Path, tmp_path: Path, monkeypatch, *extra: str) -> list[dict[str, bytes]]:
    monkeypatch.setenv(JITTER_ENV, "4")
    runs = []
    for r in range(RUNS):
        out = tmp_path / f"run{r}"
        rc, _, err = run_cli("eval", model, "--dataset", "coco-c", "--images", b["images"], "--ann", b["ann"],
                             "--data", b["data"], "--partial", "--no-progress", "--jobs", "4",
                             "--predictions-out", out / "predictions", "-o", out / "results.json", *extra)
        assert rc == 0, err
        runs.append(prediction_bytes(out / "predictions"))
        repro = json.loads((out / "results.json").read_text())["provenance"]["reproducibility"]
        assert repro["bitwise_repeatable"] and repro["opencv_threads"] == 1
    assert len(runs[0]) == 5  # clean + 2 corruptions x 2 severities
    return runs


def assert_same_bytes(runs: list[dict[str, bytes]]) -> None:
    for r, other in enumerate(runs[1:], 1):
        differ = sorted(k for k in runs[0] if other.get(k) != runs[0][k])
        assert not differ, f"run {r} wrote other predictions than run 0 in {differ}"


def test_topdown_eval_repeats_byte_for_byte_under_injected_delays(noisy, shared_dir, tmp_path, monkeypatch):
    """The issue's case: MoveNet on detected boxes; noise images put it near ties."""
    model = shared_dir / "models" / "movenet_lightning_int8.onnx"
    assert_same_bytes(repeated_evals(noisy, model, tmp_path, monkeypatch, "--spec", "movenet", "--boxes",
                                     str(noisy["dets"]), "--no-flip", "--intra-op-threads", "1"))


def test_simcc_eval_repeats_byte_for_byte_under_injected_delays(noisy, tmp_path, monkeypatch):
    """RTMPose's path: mmpose's float64 crop, SimCC decoding, flip test."""
    model = export_rtmpose(tmp_path)
    assert_same_bytes(repeated_evals(noisy, model, tmp_path, monkeypatch, "--spec", "rtmpose", "--boxes",
                                     str(noisy["dets"])))


def test_onestage_eval_repeats_byte_for_byte_under_injected_delays(noisy, tmp_path, monkeypatch):
    """HigherHRNet: each image resized by its own affine warp, decoded (grouped) in the pool."""
    model = export_higherhrnet(tmp_path)
    assert_same_bytes(repeated_evals(noisy, model, tmp_path, monkeypatch, "--spec", "higherhrnet", "--no-flip"))


def test_pool_warps_equal_one_piece_warps():
    """The mechanism, pinned: inside ``opencv_single_threaded`` a crop warped on any pool thread, while
    other threads warp too, has the pixels of the same crop warped alone at one OpenCV thread."""
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (480, 640, 3), dtype=np.uint8) for _ in range(4)]
    boxes = [(np.array([rng.uniform(100, 500), rng.uniform(100, 400)], np.float32),
              np.full(2, rng.uniform(0.3, 2.0), np.float32)) for _ in range(64)]

    def warp(i: int) -> str:
        c, s = boxes[i]
        return hashlib.sha256(topdown.warp_crop(images[i % 4], c, s, (192, 192)).tobytes()).hexdigest()

    before = cv2.getNumThreads()
    with opencv_single_threaded():
        alone = [warp(i) for i in range(64)]
        with ThreadPoolExecutor(4) as pool:
            for _ in range(3):
                assert list(pool.map(warp, range(64))) == alone
    assert cv2.getNumThreads() == before  # restored for the rest of the process


def test_build_with_two_jobs_under_injected_delays_equals_one_job(shared_dir, tmp_path, monkeypatch):
    """Every written image and the manifest's items are the same bytes, whatever order the two worker
    processes finish in (the delays reach the loky workers through the environment)."""
    from joblib.externals.loky import get_reusable_executor

    monkeypatch.setenv(JITTER_ENV, "30")
    get_reusable_executor().shutdown(wait=True)  # new workers, started with the hook's environment
    opts = ("--corruptions", "gaussian_noise,glass_blur,fog,frost,elastic_transform,jpeg_compression",
            "--severities", "2,5")
    one = build_coco_sample(shared_dir, tmp_path / "one", *opts, "--jobs", "1")
    two = build_coco_sample(shared_dir, tmp_path / "two", *opts, "--jobs", "2")
    files = {p.relative_to(one["data"]) for p in (one["data"] / "coco-c").rglob("*.jpg")}
    assert len(files) == 4 * 6 * 2
    for rel in sorted(files):
        assert (two["data"] / rel).read_bytes() == (one["data"] / rel).read_bytes(), rel
    m1 = json.loads((one["data"] / "coco-c" / "manifest.json").read_text())
    m2 = json.loads((two["data"] / "coco-c" / "manifest.json").read_text())
    assert m1["items"] == m2["items"]


def test_score_with_two_jobs_under_injected_delays_equals_one_job(noisy, tmp_path, monkeypatch):
    """``score --jobs 2``: conditions scored in worker processes, finishing in any order, give the
    rows of ``--jobs 1`` in the same order."""
    from joblib.externals.loky import get_reusable_executor

    from test_models import export_tiny

    model = export_tiny(tmp_path)[0]
    rc, _, err = run_cli("eval", model, "--dataset", "coco-c", "--images", noisy["images"], "--ann", noisy["ann"],
                         "--data", noisy["data"], "--partial", "--no-progress", "--predictions-out",
                         tmp_path / "preds", "-o", tmp_path / "eval.json")
    assert rc == 0, err
    monkeypatch.setenv(JITTER_ENV, "50")
    get_reusable_executor().shutdown(wait=True)
    rows = {}
    for jobs in ("1", "2"):
        out = tmp_path / f"score{jobs}.json"
        rc, so, err = run_cli("score", "--dataset", "coco-c", "--ann", noisy["ann"], "--predictions", tmp_path / "preds",
                              "--jobs", jobs, "--partial", "-o", out)
        assert rc == 0, so + err
        rows[jobs] = json.loads(out.read_text())["rows"]
    assert len(rows["1"]) > 5 and rows["2"] == rows["1"]


def test_corruptions_do_not_depend_on_opencv_threads(shared_dir):
    """The corruption engine called outside the builder (its own users) gives the builder's bytes: no
    kernel depends on OpenCV's thread split, so a 1-core and a many-core machine build the same images."""
    from corruptions import BENCHMARK_CORRUPTIONS, corrupt
    from PIL import Image

    with Image.open(shared_dir / "data" / "coco_sample" / "000000000785.jpg") as im:
        image = np.asarray(im.convert("RGB"))[:160, :224]
    before = cv2.getNumThreads()
    try:
        for name in BENCHMARK_CORRUPTIONS:
            outs = []
            for threads in (1, 2, 4):
                cv2.setNumThreads(threads)
                outs.append(np.asarray(corrupt(image, name, 3, 11)).tobytes())
            assert outs[1] == outs[0] and outs[2] == outs[0], name
    finally:
        cv2.setNumThreads(before)


def test_results_record_what_they_repeat_under(tmp_path):
    """CPU runs say they repeat bit for bit (and under which conditions); a GPU provider's known
    nondeterminism is named in the results, never silent."""
    from robustpose_bench.determinism import eval_reproducibility

    cpu = eval_reproducibility({"CPUExecutionProvider"})
    assert cpu["bitwise_repeatable"] and cpu["opencv_threads"] == 1 and cpu["nondeterminism"] is None
    gpu = eval_reproducibility({"CPUExecutionProvider", "CUDAExecutionProvider"})
    assert not gpu["bitwise_repeatable"] and "cuDNN" in gpu["nondeterminism"][0]
    assert "torch CUDA" in eval_reproducibility({"torch-cuda"})["nondeterminism"][0]
