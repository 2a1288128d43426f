"""Issue 19, classes 2, 4 and 5: one output-vs-inputs rule for every command that writes, one run
identity covering every input that changes predictions, and a lock per predictions folder.

Each test is a reproduction from the issue's sweep: before the fix each went through with rc 0
(and destroyed or mixed something); now each gives one line and exit status 2, nothing changed.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from cli_helpers import run_cli
from test_models import export_tiny

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")


@pytest.fixture(scope="module")
def run(built_samples, tmp_path_factory) -> dict:
    """A writable copy of the COCO sample build (images, annotation, build) and a tiny model, with one
    finished eval (results + predictions) to feed score / table / merge / plot."""
    root = tmp_path_factory.mktemp("rule")
    sample = built_samples["coco-c"]
    images = root / "images"
    shutil.copytree(sample["images"], images, ignore=shutil.ignore_patterns("*.json"))
    ann = root / "ann.json"
    shutil.copyfile(sample["ann"], ann)
    data = root / "data"
    shutil.copytree(sample["data"] / "coco-c", data / "coco-c")
    (root / "model").mkdir()
    model = export_tiny(root / "model")[0]
    work = root / "work"
    rc, _, err = run_cli("eval", model, "--dataset", "coco-c", "--images", images, "--ann", ann, "--data", data,
                         "--corruptions", "motion_blur", "--severities", "1", "--partial", "-o", work / "r.json",
                         "--no-progress")
    assert rc == 0, err
    return {"images": images, "ann": ann, "data": data, "model": model, "work": work,
            "results": work / "r.json", "preds": work / "predictions"}


def _eval(r: dict, *extra) -> tuple[int, str, str]:
    return run_cli("eval", r["model"], "--dataset", "coco-c", "--images", r["images"], "--ann", r["ann"],
                   "--data", r["data"], "--corruptions", "motion_blur", "--severities", "1", "--partial",
                   "--no-progress", *extra)


def _snapshot(*roots: Path) -> dict[Path, bytes]:
    out = {}
    for root in roots:
        for p in ([root] if root.is_file() else sorted(root.rglob("*"))):
            if p.is_file():
                out[p] = p.read_bytes()
    return out


def _refused(rc: int, out: str, err: str, *words: str) -> None:
    assert rc == 2 and len(err.strip().splitlines()) == 1, err
    for w in words:
        assert w in err, err


def test_eval_o_onto_a_source_image_or_the_manifest(run, tmp_path):
    keep = _snapshot(run["images"], run["data"], run["ann"])
    image = sorted(run["images"].glob("*.jpg"))[0]
    _refused(*_eval(run, "-o", image, "--predictions-out", tmp_path / "p1"), "inside the image folder")
    _refused(*_eval(run, "-o", run["data"] / "coco-c" / "manifest.json", "--predictions-out", tmp_path / "p2"),
             "inside the build folder")
    assert _snapshot(run["images"], run["data"], run["ann"]) == keep


def test_predictions_cannot_reach_the_image_folder_from_above(run, tmp_path):
    """The clean predictions go to PRED/clean/results.json: with the images in X/clean, --predictions-out X
    wrote into the image folder (the old check only asked whether PRED was inside it)."""
    clean = tmp_path / "x" / "clean"
    shutil.copytree(run["images"], clean)
    keep = _snapshot(clean)
    rc, _, err = run_cli("eval", run["model"], "--dataset", "coco-c", "--images", clean, "--ann", run["ann"],
                         "--partial", "--corruptions", "motion_blur", "--severities", "1", "--data", run["data"],
                         "-o", tmp_path / "r.json", "--predictions-out", tmp_path / "x", "--no-progress")
    _refused(rc, "", err, "inside the image folder")
    assert _snapshot(clean) == keep


def test_score_table_plot_merge_never_overwrite_their_inputs(run, tmp_path):
    keep = _snapshot(run["work"], run["ann"])
    pred = run["preds"] / "clean" / "results.json"
    for target, words in ((run["ann"], "is the annotation file"), (pred, "inside the predictions folder")):
        _refused(*run_cli("score", "--dataset", "coco-c", "--ann", run["ann"], "--predictions", run["preds"],
                          "--partial", "-o", target), *words)
    _refused(*run_cli("table", run["results"], "-o", run["results"]), "is an input")
    _refused(*run_cli("plot", run["results"], "-o", run["results"]), "is an input")
    assert _snapshot(run["work"], run["ann"]) == keep


def test_merge_o_onto_a_prediction_file_and_edited_rows(run, tmp_path):
    work = tmp_path / "w"
    shards = []
    for i in (1, 2):
        rc, _, err = _eval(run, "--shard", f"{i}/2", "-o", work / f"s{i}.json", "--predictions-out", work / "pred")
        assert rc == 0, err
        shards.append(work / f"s{i}.json")
    keep = _snapshot(work)
    _refused(*run_cli("merge", "--partial", *shards, "-o", work / "pred" / "clean" / "results.json"),
             "inside the run's predictions folder")
    assert _snapshot(work) == keep
    assert run_cli("merge", "--partial", *shards, "-o", work / "merged.json")[0] == 0
    # raise the clean AP in a shard, its summary made consistent: the rows no longer match the record
    from robustpose_bench.results import make_results

    s1 = json.loads(shards[0].read_text())
    key = s1["config"]["conditions"][0]
    rows = [dict(r, value=min(1.0, r["value"] + 0.1)) if (r["corruption"] == "clean" if key == "clean" else
            f"{r['corruption']}/{r['severity']}" == key) and r["value"] is not None and r["value"] >= 0 else r
            for r in s1["rows"]]
    forged = make_results(s1["dataset"], rows, partial=True, provenance=s1["provenance"], config=s1["config"])
    shards[0].write_text(json.dumps(forged))
    _refused(*run_cli("merge", "--partial", *shards, "-o", work / "m2.json"), "the results file was edited")
    # type-confused shard fields: one line, no traceback
    s2 = json.loads(shards[1].read_text())
    s2["config"]["shard"]["index"] = "2"
    shards[1].write_text(json.dumps(s2))
    _refused(*run_cli("merge", "--partial", shards[1], "-o", work / "m3.json"), "config.shard must hold integers")


def test_the_clean_image_folder_is_part_of_the_run_identity(run, tmp_path):
    """Another --images into the same predictions folder kept the old clean predictions."""
    other = tmp_path / "other"
    shutil.copytree(run["images"], other)
    preds = tmp_path / "pred"
    assert _eval(run, "-o", tmp_path / "a.json", "--predictions-out", preds)[0] == 0
    rc, _, err = run_cli("eval", run["model"], "--dataset", "coco-c", "--images", other, "--ann", run["ann"],
                         "--data", run["data"], "--corruptions", "motion_blur", "--severities", "1", "--partial",
                         "--no-progress", "-o", tmp_path / "b.json", "--predictions-out", preds)
    _refused(rc, "", err, "another run's predictions", "source_images")


def test_overwrite_into_a_folder_another_run_is_writing_is_refused(run, tmp_path):
    from robustpose_bench.evaluation.store import PredictionStore

    preds = tmp_path / "pred"
    other = PredictionStore(preds, {"another": "run"})
    other.claim()  # holds the folder's lock, as a running eval does
    try:
        _refused(*_eval(run, "-o", tmp_path / "a.json", "--predictions-out", preds, "--overwrite"),
                 "is being written by another run")
        assert json.loads((preds / "run.json").read_text())["identity"] == {"another": "run"}
    finally:
        other.close()
    assert _eval(run, "-o", tmp_path / "a.json", "--predictions-out", preds, "--overwrite")[0] == 0


def test_shards_of_one_run_share_the_folder_lock(run, tmp_path):
    """The lock refuses other runs, never the other shards of this one (one shared folder, docs/scale.md)."""
    from robustpose_bench.evaluation import store as store_mod

    preds = tmp_path / "pred"
    assert _eval(run, "--shard", "1/2", "-o", tmp_path / "s1.json", "--predictions-out", preds)[0] == 0
    ident = json.loads((preds / "run.json").read_text())["identity"]
    holder = store_mod.PredictionStore(preds, ident)
    holder.claim()  # shard 1 still running (same run id)
    try:
        rc, _, err = _eval(run, "--shard", "2/2", "-o", tmp_path / "s2.json", "--predictions-out", preds)
        assert rc == 0, err
    finally:
        holder.close()


def test_table_and_plot_refuse_scores_outside_their_range(run, tmp_path):
    res = json.loads(run["results"].read_text())
    res["rows"] = [dict(r, value=1.7) if r["metric"] == "AP" and r["corruption"] == "clean" else r
                   for r in res["rows"]]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(res))
    _refused(*run_cli("table", bad), "rows[", "outside 0..1")
    _refused(*run_cli("plot", bad, "-o", tmp_path / "f.png"), "outside 0..1")


def test_import_paper_overwrite_never_replaces_a_measured_entry(shared_dir, tmp_path):
    from robustpose_bench.leaderboard.entries import entry_path
    from robustpose_bench.leaderboard.importer import paper_entries

    csv = shared_dir / "reference" / "paper_results.csv"
    lb = tmp_path / "lb"
    assert run_cli("leaderboard", "import-paper", csv, "--dir", lb)[0] == 0
    first = paper_entries(csv)[0]
    path = entry_path(lb, first["dataset"], first["name"])
    measured = dict(json.loads(path.read_text()), origin={"kind": "measured"})
    path.write_text(json.dumps(measured))
    _refused(*run_cli("leaderboard", "import-paper", csv, "--dir", lb, "--overwrite"), "is not a paper entry")
    assert json.loads(path.read_text())["origin"] == {"kind": "measured"}


def test_a_built_image_replaced_after_the_build_is_refused(run, tmp_path):
    """eval never hashed build images: a replaced one was scored as if it were the build's."""
    data = tmp_path / "data"
    shutil.copytree(run["data"], data)
    built = sorted((data / "coco-c" / "motion_blur" / "1").glob("*.jpg"))
    shutil.copyfile(built[1], built[0])  # another valid image of the same build
    rc, _, err = run_cli("eval", run["model"], "--dataset", "coco-c", "--images", run["images"], "--ann", run["ann"],
                         "--data", data, "--corruptions", "motion_blur", "--severities", "1", "--partial",
                         "--no-progress", "-o", tmp_path / "r.json")
    _refused(rc, "", err, built[0].name, "differs from the build's manifest")
    assert not (tmp_path / "r.json").exists()


def test_an_output_that_is_a_folder_a_device_or_under_a_file_is_refused_before_the_run(run, tmp_path):
    """Class 9: ``-o`` onto a folder ran the whole eval, then failed naming our temp file, already removed."""
    (tmp_path / "taken").mkdir()
    (tmp_path / "afile").write_text("keep")
    pred = tmp_path / "p"
    _refused(*_eval(run, "-o", tmp_path / "taken", "--predictions-out", pred), "-o", "is a folder; expected a file path")
    _refused(*_eval(run, "-o", "/dev/null", "--predictions-out", pred), "/dev/null is a character device")
    _refused(*_eval(run, "-o", tmp_path / "afile" / "r.json", "--predictions-out", pred), "afile is not a folder")
    assert not pred.exists()  # refused before anything was written
    _refused(*run_cli("table", run["results"], "-o", tmp_path / "taken"), "is a folder")
    assert (tmp_path / "afile").read_text() == "keep" and not any((tmp_path / "taken").iterdir())


def test_a_failed_atomic_write_names_the_destination_not_its_temp_file(tmp_path):
    from robustpose_bench.atomic import atomic_write_bytes

    (tmp_path / "d").mkdir()
    with pytest.raises(IsADirectoryError) as info:
        atomic_write_bytes(tmp_path / "d", b"x")
    assert info.value.filename == str(tmp_path / "d")
    assert [p.name for p in tmp_path.iterdir()] == ["d"]  # and the temp file is gone


def test_a_consistently_forged_manifest_is_caught_by_recompute(run, tmp_path):
    """Class 4: an image replaced and its manifest entry (and the sidecar) rewritten to match. Hashing
    cannot see it, so ``verify`` and ``eval`` pass; re-rendering from the source (``verify
    --recompute``) names it, in full and, with the forged output drawn, in a sample."""
    import io

    from PIL import Image

    from robustpose_bench.builder.manifest import manifest_bytes
    from robustpose_bench.builder.runner import _write_manifest

    data = tmp_path / "data"
    shutil.copytree(run["data"], data)
    mpath = data / "coco-c" / "manifest.json"
    manifest = json.loads(mpath.read_text())
    victim = next(it for it in manifest["items"] if it["corruption"] == "motion_blur")
    path = data / "coco-c" / victim["output"]
    with Image.open(path) as im:
        forged = im.transpose(Image.FLIP_LEFT_RIGHT)
    buf = io.BytesIO()
    forged.save(buf, "JPEG", quality=75)
    path.write_bytes(buf.getvalue())
    import hashlib

    victim["output_sha256"] = hashlib.sha256(buf.getvalue()).hexdigest()
    _write_manifest(mpath, manifest)
    assert manifest_bytes(json.loads(mpath.read_text())) == mpath.read_bytes()

    rc, out, err = run_cli("verify", "coco-c", "--data", data, "--no-progress")
    assert rc == 0 and "verify coco-c: OK" in out, out + err  # hashing alone is fooled
    rc, _, err = _eval({**run, "data": data}, "-o", tmp_path / "r.json", "--predictions-out", tmp_path / "p")
    assert rc == 0, err                                     # and so is eval's per-image check

    rc, out, err = run_cli("verify", "coco-c", "--data", data, "--recompute", "--images", run["images"], "--no-progress")
    assert rc == 1, out + err
    assert f"differs: {victim['output']}: the built file (sha256 {victim['output_sha256']}) is not what its source " \
           "renders to" in out
    assert "1 differ" in out.splitlines()[-1]
    n = len(manifest["items"])
    rc, out, _ = run_cli("verify", "coco-c", "--data", data, "--recompute", "--images", run["images"],
                         "--sample", str(n - 1), "--seed", "3", "--no-progress")
    assert f"of {n} outputs re-rendered from their sources (a random sample, --seed 3)" in out
    assert rc == (1 if victim["output"] in out else 0)

    rc, out, err = run_cli("verify", "coco-c", "--data", run["data"], "--recompute", "--images", run["images"],
                           "--no-progress")
    assert rc == 0 and f"{n} of {n} outputs re-rendered from their sources, 0 differ" in out, out + err
    _refused(*run_cli("verify", "coco-c", "--data", data, "--recompute"), "--recompute needs --images")
    _refused(*run_cli("verify", "coco-c", "--data", data, "--sample", "3"), "go with --recompute")


def test_runs_without_o_get_run_folders_that_never_collide(run, tmp_path, monkeypatch):
    """Issue 24: the default predictions folder made every second model fail ("holds another run's
    predictions"). Without -o each run gets runs/<dataset>/<model>-N/; giving its results.json again
    resumes it; a run refused before writing leaves no folder behind."""
    monkeypatch.chdir(tmp_path)
    stem = run["model"].stem
    outs = []
    for _ in range(2):
        rc, out, err = _eval(run)
        assert rc == 0, err
        outs.append(out.splitlines()[-1])
    first, second = (tmp_path / "runs" / "coco-c" / f"{stem}-{n}" for n in (1, 2))
    assert f"results: runs/coco-c/{stem}-1/results.json" in outs[0]
    assert f"results: runs/coco-c/{stem}-2/results.json" in outs[1]
    assert (first / "results.json").is_file() and (second / "predictions" / "clean" / "results.json").is_file()
    assert (first / "results.json").read_bytes() != b"" and json.loads((first / "results.json").read_text())["rows"]
    # resume: the same folder given again keeps its predictions (nothing recomputed, same bytes)
    before = _snapshot(first / "predictions")
    rc, _, err = _eval(run, "-o", first / "results.json")
    assert rc == 0, err
    assert _snapshot(first / "predictions") == before
    # refused runs leave no run folder
    _refused(*_eval(run, "--corruptions", "nosuch"), "unknown corruption")
    _refused(*_eval(run, "--shard", "1/2"), "--shard needs -o")
    assert sorted(p.name for p in (tmp_path / "runs" / "coco-c").iterdir()) == [f"{stem}-1", f"{stem}-2"]
