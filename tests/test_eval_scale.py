"""Eval at scale: a killed eval resumes to byte-identical files; shards merge into the single-process
results; merge refuses what does not belong together (issue 12)."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import build_coco_sample, run_cli
from test_models import export_tiny


pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")
CORRUPTIONS = "gaussian_noise,motion_blur,fog"




@pytest.fixture(scope="module")
def build7(shared_dir, tmp_path_factory) -> dict:
    """coco-c of the COCO sample: clean + 3 corruptions x 2 severities = 7 conditions."""
    return build_coco_sample(shared_dir, tmp_path_factory.mktemp("build7"), "--corruptions", CORRUPTIONS,
                             "--severities", "1,2", "--jobs", "1")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return export_tiny(tmp_path_factory.mktemp("tiny"))[0]


def eval_argv(b: dict, model: Path, folder: Path, *extra) -> list:
    return ["eval", model, "--dataset", "coco-c", "--images", b["images"], "--ann", b["ann"], "--data", b["data"],
            "--partial", "--predictions-out", folder / "predictions", "--no-progress", *extra]


def without_time(path: Path) -> dict:
    res = json.loads(path.read_text())
    res["provenance"].pop("timestamp_utc")
    return res


def files_of(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_shards_merge_into_the_single_process_results(build7, tiny, tmp_path):
    run = tmp_path / "run"
    assert run_cli(*eval_argv(build7, tiny, run, "-o", run / "results.json"))[0] == 0
    single, single_bytes = without_time(run / "results.json"), (run / "results.json").read_bytes()
    single_preds = files_of(run / "predictions")
    shutil.rmtree(run)
    for i in (1, 2, 3):  # three shards into one predictions folder (a shared file system)
        rc, _, err = run_cli(*eval_argv(build7, tiny, run, "--shard", f"{i}/3", "-o", run / f"shard{i}.json"))
        assert rc == 0, err
    shard1 = json.loads((run / "shard1.json").read_text())
    assert shard1["config"]["conditions"] == ["clean", "motion_blur/1", "fog/2"]  # conditions 0, 3, 6 of 7
    assert shard1["config"]["shard"]["index"] == 1 and len(shard1["config"]["shard"]["conditions"]) == 7
    rc, out, err = run_cli("merge", run / "shard2.json", run / "shard3.json", run / "shard1.json", "--partial",
                           "-o", run / "results.json")
    assert rc == 0, err
    assert without_time(run / "results.json") == single
    merged = (run / "results.json").read_bytes()
    assert len(merged) == len(single_bytes)  # byte for byte but the timestamp (same length)
    assert files_of(run / "predictions") == single_preds


def test_merge_refuses_what_does_not_belong_together(build7, tiny, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for i in (1, 2):
        assert run_cli(*eval_argv(build7, tiny, a, "--shard", f"{i}/2", "-o", a / f"s{i}.json"))[0] == 0
    assert run_cli(*eval_argv(build7, tiny, b, "--shard", "2/2", "--no-flip", "-o", b / "s2.json"))[0] == 0
    cases = [
        ((a / "s1.json", b / "s2.json"), "is a shard of another run"),
        ((a / "s1.json", a / "s1.json"), "shard 1/2 given twice"),
        ((a / "s1.json",), "3 condition(s) missing, e.g. gaussian_noise/1, motion_blur/1, fog/1 (shard 2 of 2 not given)"),
    ]
    for shards, message in cases:
        rc, _, err = run_cli("merge", *shards, "-o", tmp_path / "m.json")
        assert rc == 2 and message in err and len(err.strip().splitlines()) == 1, err
        assert not (tmp_path / "m.json").exists()
    rc, _, err = run_cli("merge", a / "s1.json", "--partial", "-o", tmp_path / "m.json")
    assert rc == 0 and json.loads((tmp_path / "m.json").read_text())["summary"]["partial"] is True


@pytest.mark.parametrize("shard", ["0/3", "4/3", "1/0", "a/b", "2"])
def test_invalid_shard_is_one_line_and_writes_nothing(build7, tiny, tmp_path, shard):
    rc, _, err = run_cli(*eval_argv(build7, tiny, tmp_path, "--shard", shard, "-o", tmp_path / "r.json"))
    assert rc == 2 and "--shard" in err and len(err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_killed_eval_resumes_to_byte_identical_files(build7, shared_dir, tmp_path):
    """kill -9 at seeded random moments, re-run the same command each time: the predictions, records and
    results equal an uninterrupted run's byte for byte (the results' timestamp aside)."""
    spec = tmp_path / "movenet.spec.json"
    from test_models import doc_specs

    spec.write_text(json.dumps(doc_specs()["movenet_lightning_int8"]))
    model = shared_dir / "models" / "movenet_lightning_int8.onnx"
    work = tmp_path / "work"
    cmd = [sys.executable, "-m", "robustpose_bench", *map(str, eval_argv(
        build7, model, work, "--spec", spec, "--boxes", build7["dets"], "--no-flip", "-o", work / "results.json"))]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, env=env, timeout=600)
    full = time.perf_counter() - t0
    ref_results = without_time(work / "results.json")
    ref_files = files_of(work / "predictions")
    assert len([k for k in ref_files if k.endswith("condition.json")]) == 7
    shutil.rmtree(work)

    rng = np.random.default_rng(12)
    kills = 0
    for _ in range(4):
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        time.sleep(float(rng.uniform(0.2, 0.9)) * full)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
    assert kills >= 1
    done = subprocess.run(cmd, capture_output=True, env=env, timeout=600, text=True)
    assert done.returncode == 0, done.stderr
    assert files_of(work / "predictions") == ref_files
    assert without_time(work / "results.json") == ref_results
    assert not [p for p in work.rglob("*.tmp")]  # no temp file of a killed write is left


@pytest.fixture(scope="module")
def cluster():
    """Two CPU worker processes on 127.0.0.1, each offering eval=1 (one condition at a time)."""
    from dask.distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      resources={"eval": 1}, dashboard_address=None) as c:
        yield c


def test_dask_local_cluster_equals_local_backend(build7, tiny, tmp_path, cluster):
    assert run_cli(*eval_argv(build7, tiny, tmp_path / "local", "--intra-op-threads", "1",
                              "-o", tmp_path / "local" / "r.json"))[0] == 0
    rc, _, err = run_cli(*eval_argv(build7, tiny, tmp_path / "dask", "--backend", "dask", "--scheduler",
                                    cluster.scheduler_address, "--intra-op-threads", "1",
                                    "-o", tmp_path / "dask" / "r.json"))
    assert rc == 0, err
    a, b = (json.loads((tmp_path / d / "r.json").read_text()) for d in ("local", "dask"))
    assert a["rows"] == b["rows"] and a["summary"] == b["summary"]
    assert b["provenance"]["backend"] == {"kind": "dask", "scheduler": cluster.scheduler_address}
    assert a["provenance"]["predictions"]["files"] == b["provenance"]["predictions"]["files"]
    assert files_of(tmp_path / "local" / "predictions") == files_of(tmp_path / "dask" / "predictions")


def test_unreachable_scheduler_is_reported_within_10_s(build7, tiny, tmp_path):
    t0 = time.perf_counter()
    rc, _, err = run_cli(*eval_argv(build7, tiny, tmp_path, "--backend", "dask", "--scheduler", "tcp://127.0.0.1:9",
                                    "-o", tmp_path / "r.json"))
    assert rc == 2 and "cannot reach the dask scheduler at tcp://127.0.0.1:9 within 10 s" in err
    assert time.perf_counter() - t0 < 15 and not (tmp_path / "r.json").exists()


def test_workers_without_the_eval_resource_are_refused(build7, tiny, tmp_path):
    from dask.distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as c:
        rc, _, err = run_cli(*eval_argv(build7, tiny, tmp_path, "--backend", "dask", "--scheduler",
                                        c.scheduler_address, "-o", tmp_path / "r.json"))
    assert rc == 2 and "no dask worker offers the resource eval=1" in err


def test_a_worker_killed_mid_condition_is_retried_elsewhere(build7, shared_dir, tmp_path):
    """kill -9 a dask worker while it predicts a condition: that condition runs again on the other worker
    and the results equal the local backend's."""
    import threading

    import dask
    from dask.distributed import Client, LocalCluster
    from test_models import doc_specs

    spec = tmp_path / "movenet.spec.json"
    spec.write_text(json.dumps(doc_specs()["movenet_lightning_int8"]))
    model = shared_dir / "models" / "movenet_lightning_int8.onnx"
    # the same onnxruntime thread count for both: an int8 model's outputs depend on it
    extra = ("--spec", spec, "--boxes", build7["dets"], "--no-flip", "--intra-op-threads", "1")
    assert run_cli(*eval_argv(build7, model, tmp_path / "local", *extra, "-o", tmp_path / "local" / "r.json"))[0] == 0
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}), \
            LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                         resources={"eval": 1}, dashboard_address=None) as cluster, \
            Client(cluster, set_as_default=False) as watcher:
        result: dict = {}
        t = threading.Thread(target=lambda: result.update(rc=run_cli(*eval_argv(
            build7, model, tmp_path / "dask", *extra, "--backend", "dask", "--scheduler", cluster.scheduler_address,
            "-o", tmp_path / "dask" / "r.json"))))
        t.start()
        killed = None
        deadline = time.time() + 120
        while killed is None and time.time() < deadline and t.is_alive():
            busy = {w: ts for w, ts in watcher.processing().items() if ts}
            if busy:
                time.sleep(0.3)  # well inside the condition (each takes about a second)
                addr = next(iter(busy))
                pids = watcher.run(os.getpid, workers=[addr])
                os.kill(pids[addr], signal.SIGKILL)
                killed = addr
            time.sleep(0.05)
        t.join(timeout=300)
    assert killed is not None, "no condition was seen running"
    rc, _, err = result["rc"]
    assert rc == 0, err
    a, b = (json.loads((tmp_path / d / "r.json").read_text()) for d in ("local", "dask"))
    assert a["rows"] == b["rows"]
    assert files_of(tmp_path / "local" / "predictions") == files_of(tmp_path / "dask" / "predictions")
