"""`eval-external`: a user's own predictor command, once per condition, scored as `eval` scores.

The predictor is a small Python script written here: it writes the ground truth with a condition-
dependent perturbation (heavier for higher severities), so every condition has a known, different
AP; one variant fails on one condition.
"""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_helpers import build_coco_sample, run_cli


PREDICTOR = r'''
import json, random, sys, zlib
from pathlib import Path
images, ann, out = sys.argv[1:4]
fail_on = sys.argv[4] if len(sys.argv) > 4 else None
cond = "/".join(Path(images).parts[-2:])
if fail_on and fail_on in images:
    print("simulated crash while reading", images, file=sys.stderr)
    sys.exit(3)
sev = int(Path(images).name) if Path(images).name.isdigit() else 0
rng = random.Random(zlib.crc32(images.encode()))
gt = json.loads(Path(ann).read_text())
preds = []
for a in gt["annotations"]:
    if a.get("iscrowd") or not a.get("num_keypoints"):
        continue
    kp = [v + (rng.gauss(0, 2 + 6 * sev) if i % 3 != 2 else 0) for i, v in enumerate(a["keypoints"])]
    preds.append({"image_id": a["image_id"], "category_id": 1, "keypoints": kp, "score": 0.9})
Path(out).write_text(json.dumps(preds))
'''




@pytest.fixture(scope="module")
def full_build(shared_dir, tmp_path_factory) -> dict:
    """The full 15 x 5 grid of COCO-C for the 4 COCO sample images (76 conditions with clean)."""
    b = build_coco_sample(shared_dir, tmp_path_factory.mktemp("full"), "--jobs", "2")
    b["script"] = b["data"] / "predict.py"
    b["script"].write_text(PREDICTOR)
    return b


def argv(b: dict, work: Path, *extra, command=None) -> list:
    cmd = command or [sys.executable, b["script"], "{images}", "{ann}", "{out}"]
    return ["eval-external", "--dataset", "coco-c", "--images", b["images"], "--ann", b["ann"], "--data", b["data"],
            "-o", work / "results.json", "--no-progress", *extra, "--", *cmd]


def test_all_76_conditions_scored_and_recorded(full_build, tmp_path):
    rc, out, err = run_cli(*argv(full_build, tmp_path, "--boxes", "gt"))
    assert rc == 0, err
    res = json.loads((tmp_path / "results.json").read_text())
    assert res["summary"]["partial"] is False and len(res["config"]["conditions"]) == 76
    ap = {(r["corruption"], r["severity"]): r["value"] for r in res["rows"] if r["metric"] == "AP"}
    assert ap[("clean", 0)] > ap[("fog", 5)]  # the perturbation grows with the severity
    assert res["provenance"]["boxes"]["source"] == "gt" and res["config"]["boxes"] == "gt"
    runs = res["provenance"]["external"]["runs"]
    assert set(runs) == set(res["config"]["conditions"]) and all(r["returncode"] == 0 for r in runs.values())
    assert runs["fog/3"]["command"].endswith(f"{full_build['data']}/coco-c/fog/3 {full_build['ann']} "
                                             f"{tmp_path}/predictions/fog/3/.results.json.external")
    # `score` on the same predictions gives the same rows
    rc, _, _ = run_cli("score", "--dataset", "coco-c", "--ann", full_build["ann"], "--predictions",
                       tmp_path / "predictions", "-o", tmp_path / "scored.json")
    assert rc == 0 and json.loads((tmp_path / "scored.json").read_text())["rows"] == res["rows"]


def test_a_failing_condition_stops_or_is_reported(full_build, tmp_path):
    cmd = [sys.executable, full_build["script"], "{images}", "{ann}", "{out}", "motion_blur/2"]
    rc, _, err = run_cli(*argv(full_build, tmp_path / "stop", command=cmd))
    assert rc == 2 and len(err.strip().splitlines()) == 1
    assert "condition motion_blur/2:" in err and "exited with status 3: simulated crash while reading" in err
    assert not (tmp_path / "stop" / "results.json").exists()
    rc, out, err = run_cli(*argv(full_build, tmp_path / "go", "--keep-going", command=cmd))
    assert rc == 1 and "1 condition(s) failed: motion_blur/2" in out
    res = json.loads((tmp_path / "go" / "results.json").read_text())
    assert res["summary"]["partial"] is True and "motion_blur/2" not in res["config"]["conditions"]
    assert "exited with status 3" in res["provenance"]["external"]["failed"]["motion_blur/2"]


@pytest.mark.parametrize("command, message", [
    (["python", "{images}", "{unknown}", "{out}"], "unknown placeholder {unknown}"),
    (["python", "{images}", "{ann}"], "the command never names {out}"),
    (["definitely-not-a-program-rpb", "{images}", "{out}"], "command not found: definitely-not-a-program-rpb"),
    ([sys.executable, "-c", "pass", "{images}", "{out}"], "wrote no predictions file"),
    ([sys.executable, "-c", "import sys; open(sys.argv[2], 'w').write('[{{\"image_id\": 1}}]')", "{images}", "{out}"],
     "wrote invalid predictions"),  # literal braces are doubled, as in str.format
])
def test_bad_commands_are_one_line(full_build, tmp_path, command, message):
    rc, _, err = run_cli(*argv(full_build, tmp_path, "--corruptions", "fog", "--severities", "1", "--partial",
                               command=command))
    assert rc == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "results.json").exists()


def test_resumes_after_a_kill(full_build, tmp_path):
    """kill -9 mid-run; the same command again keeps the finished conditions and ends like one run."""
    args = [sys.executable, "-m", "robustpose_bench", *map(str, argv(full_build, tmp_path))]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and len(list((tmp_path / "predictions").rglob("condition.json"))) < 20:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished = {p.parent: p.stat().st_mtime_ns for p in (tmp_path / "predictions").rglob("condition.json")}
    assert 20 <= len(finished) < 76
    done = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    for folder, mtime in finished.items():  # kept, not rerun
        assert (folder / "condition.json").stat().st_mtime_ns == mtime
    res = json.loads((tmp_path / "results.json").read_text())
    assert len(res["config"]["conditions"]) == 76 and not res["summary"]["partial"]
    assert not list(tmp_path.rglob(".results.json.external"))
