"""`score` and `table` end to end through the CLI, on prediction folders made from real ground truth."""
from __future__ import annotations

import contextlib
import copy
import io
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.io import savemat

from corruptions import BENCHMARK_CORRUPTIONS
from robustpose_bench.atomic import sha256_file
from robustpose_bench.cli import main
from robustpose_bench.results import load_results
from robustpose_bench.vocabulary import CORRUPTION_TITLE


def _perturbed(ann: dict, noise: float, rng: np.random.Generator) -> list[dict]:
    out = []
    for a in ann["annotations"]:
        if a.get("num_keypoints", 0) == 0:
            continue
        kp = np.asarray(a["keypoints"], dtype=np.float64).reshape(-1, 3)
        kp[:, :2] += rng.normal(0.0, noise * np.sqrt(a["area"]), size=(17, 2))
        kp[:, 2] = 1.0
        out.append({"image_id": a["image_id"], "category_id": 1, "keypoints": kp.ravel().tolist(),
                    "score": float(rng.uniform(0.2, 1.0))})
    return out


def _write(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))


def _pycocotools(ann_path, preds) -> float:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(ann_path))
        ev = COCOeval(gt, gt.loadRes(copy.deepcopy(preds)), "keypoints")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return float(ev.stats[0])


@pytest.fixture(scope="module")
def coco_ann(shared_dir) -> Path:
    return shared_dir / "data/coco_sample/test_coco.json"


@pytest.fixture(scope="module")
def coco_preds(tmp_path_factory, coco_ann):
    """A full clean + 15 x 5 prediction tree; noise grows with severity."""
    ann = json.loads(coco_ann.read_text())
    rng = np.random.default_rng(7)
    root = tmp_path_factory.mktemp("pred")
    preds = {("clean", 0): _perturbed(ann, 0.01, rng)}
    for c in BENCHMARK_CORRUPTIONS:
        for s in range(1, 6):
            preds[(c, s)] = _perturbed(ann, 0.015 * s, rng)
    for (c, s), p in preds.items():
        _write(root / ("clean" if c == "clean" else f"{c}/{s}") / "results.json", p)
    return root, preds


def run_cli(argv, capsys):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture(scope="module")
def scored(tmp_path_factory, coco_preds, coco_ann):
    root, _ = coco_preds
    out = tmp_path_factory.mktemp("res") / "results.json"
    rc = main(["score", "--dataset", "coco-c", "--ann", str(coco_ann), "--predictions", str(root),
               "-o", str(out), "--method", "SimpleBaseline", "--backbone", "ResNet-50", "--input-size", "256x192"])
    assert rc == 0
    return out


def test_score_matches_pycocotools_and_hand_summary(scored, coco_preds, coco_ann):
    root, preds = coco_preds
    res = load_results(scored)
    assert res["schema"] == "robustpose-results/1" and res["dataset"] == "coco-c" and res["metric"] == "AP"
    ap = {(r["corruption"], r["severity"]): r["value"] for r in res["rows"] if r["metric"] == "AP"}
    assert len(ap) == 76
    for key in [("clean", 0), ("gaussian_noise", 1), ("fog", 3), ("jpeg_compression", 5)]:
        assert ap[key] == _pycocotools(coco_ann, preds[key]), key
    per = {c: np.mean([ap[(c, s)] for s in range(1, 6)]) for c in BENCHMARK_CORRUPTIONS}
    s = res["summary"]
    assert s["clean"] == ap[("clean", 0)]
    assert s["mPC"] == pytest.approx(np.mean(list(per.values())), rel=1e-12)
    assert s["rPC"] == pytest.approx(100 * s["mPC"] / s["clean"], rel=1e-12)
    assert s["per_corruption"] == pytest.approx(per, rel=1e-12)
    assert s["clean"] > s["mPC"] > 0 and not s["partial"]
    # every metric, keyed
    assert {r["metric"] for r in res["rows"]} == {"AP", "AP50", "AP75", "APM", "APL", "AR", "AR50", "AR75", "ARM", "ARL"}
    prov = res["provenance"]
    assert prov["predictions"]["files"]["clean"] == sha256_file(root / "clean/results.json")
    assert prov["predictions"]["files"]["fog/3"] == sha256_file(root / "fog/3/results.json")
    assert prov["scorer"] == {"library": "pycocotools",
                              "annotations": {"path": str(coco_ann), "sha256": sha256_file(coco_ann)}}
    assert prov["model"] is None and prov["package_version"] and "pycocotools" in prov["libraries"]


def test_score_to_stdout(coco_preds, coco_ann, capsys):
    root, _ = coco_preds
    rc, out, err = run_cli(["score", "--dataset", "coco-c", "--ann", coco_ann, "--predictions", root, "--jobs", "2"], capsys)
    assert rc == 0
    res = json.loads(out)  # stdout holds the results JSON alone; the summary line is a note on stderr
    assert res["summary"]["mPC"] > 0
    assert "robustpose-bench score: coco-c  AP clean" in err


def test_table_formats(scored, capsys):
    rc, md, _ = run_cli(["table", scored, scored, "--name", "A", "--name", "B", "--format", "md"], capsys)
    assert rc == 0
    header = md.splitlines()[0]
    cols = [c.strip() for c in header.strip("|").split("|")]
    assert cols == ["Model", "Backbone", "Input size", "Boxes", "Flip", "Sample", "AP (clean)", "mPC", "rPC",
                    *[CORRUPTION_TITLE[c] for c in BENCHMARK_CORRUPTIONS]]
    assert len(md.strip().splitlines()) == 4  # header, rule, two rows
    # text columns left-aligned, numbers right-aligned
    assert md.splitlines()[1] == "|" + "|".join(["---"] * 6 + ["---:"] * 18) + "|"

    res = load_results(scored)
    rc, csv, _ = run_cli(["table", scored, "--format", "csv"], capsys)
    frame = pd.read_csv(io.StringIO(csv))
    row = frame.iloc[0]
    assert row["Model"] == "SimpleBaseline" and row["Backbone"] == "ResNet-50" and row["Input size"] == "256x192"
    assert row["AP (clean)"] == pytest.approx(100 * res["summary"]["clean"])
    assert row["mPC"] == pytest.approx(100 * res["summary"]["mPC"])
    assert row["rPC"] == pytest.approx(res["summary"]["rPC"])
    assert row["fog"] == pytest.approx(100 * res["summary"]["per_corruption"]["fog"])

    rc, js, _ = run_cli(["table", scored, "--format", "json"], capsys)
    records = json.loads(js)
    assert records[0]["mPC"] == pytest.approx(100 * res["summary"]["mPC"], rel=1e-12)

    rc, tex, _ = run_cli(["table", scored, "--format", "latex"], capsys)
    assert rc == 0 and r"\begin{tabular}" in tex and "& Gauss &" in tex  # the paper's short titles
    assert f"{100 * res['summary']['mPC']:.1f}" in tex


def test_partial_grid(tmp_path, coco_preds, coco_ann, capsys):
    root, preds = coco_preds
    small = tmp_path / "pred"
    _write(small / "clean/results.json", preds[("clean", 0)])
    _write(small / "fog/1/results.json", preds[("fog", 1)])
    rc, _, err = run_cli(["score", "--dataset", "coco-c", "--ann", coco_ann, "--predictions", small], capsys)
    assert rc == 2
    err = err.strip().splitlines()[-1]  # after the progress bar
    assert err.startswith("robustpose-bench score: error: incomplete grid for AP on coco-c: missing gaussian_noise all severities;")
    assert "fog severities 2,3,4,5" in err
    out = tmp_path / "r.json"
    rc, stdout, err = run_cli(["score", "--dataset", "coco-c", "--ann", coco_ann, "--predictions", small,
                               "--partial", "-o", out], capsys)
    assert rc == 0 and "(partial)" in stdout  # data (the summary line) on stdout, the progress bar on stderr
    res = load_results(out)
    assert res["summary"]["partial"] and res["summary"]["mPC"] == res["summary"]["per_corruption"]["fog"]
    rc, md, _ = run_cli(["table", out], capsys)
    assert "(partial)" in md and "| –" in md


def test_ochuman_and_mpii(tmp_path, shared_dir, capsys):
    # OCHuman through pycocotools (equal to mmpose's xtcocotools scoring), clean only (partial)
    och = shared_dir / "data/ochuman_sample/test_ochuman.json"
    ann = json.loads(och.read_text())
    gt_preds = [{"image_id": a["image_id"], "category_id": 1, "keypoints": a["keypoints"], "score": 1.0}
                for a in ann["annotations"]]
    _write(tmp_path / "och/clean/results.json", gt_preds)
    out = tmp_path / "och.json"
    rc, _, err = run_cli(["score", "--dataset", "ochuman-c", "--ann", och, "--predictions", tmp_path / "och",
                          "--partial", "-o", out], capsys)
    assert rc == 0, err
    res = load_results(out)
    assert res["summary"]["clean"] == 1.0 and res["provenance"]["scorer"]["library"] == "pycocotools"

    # MPII: JSON (0-based) for clean, HRNet pred.mat (1-based) for a corruption; GT → 100 both ways
    from robustpose_bench.metrics.pckh import load_mpii_gt

    gt_path = shared_dir / "data/mpii_sample/gt_valid_subset5.mat"
    gt = load_mpii_gt(gt_path)
    one_based = np.transpose(gt.pos_gt_src, (2, 0, 1))
    _write(tmp_path / "mpii/clean/results.json", (one_based - 1.0).tolist())
    (tmp_path / "mpii/fog/2").mkdir(parents=True)
    savemat(str(tmp_path / "mpii/fog/2/pred.mat"), {"preds": one_based})
    shifted = one_based - 1.0
    shifted[:, :, 0] += 400.0  # every joint 400 px off: far beyond half a head
    _write(tmp_path / "mpii/fog/3/results.json", shifted.tolist())
    out = tmp_path / "mpii.json"
    rc, _, err = run_cli(["score", "--dataset", "mpii-c", "--ann", gt_path, "--predictions", tmp_path / "mpii",
                          "--partial", "-o", out], capsys)
    assert rc == 0, err
    res = load_results(out)
    pck = {(r["corruption"], r["severity"]): r["value"] for r in res["rows"] if r["metric"] == "PCKh"}
    assert pck[("clean", 0)] == 100.0 and pck[("fog", 2)] == 100.0 and pck[("fog", 3)] == 0.0
    assert res["metric"] == "PCKh" and res["percent_factor"] == 1
    assert res["provenance"]["scorer"]["library"] == "hrnet-pckh"
    rc, csv, _ = run_cli(["table", out, "--format", "csv"], capsys)
    assert "PCKh (clean)" in csv.splitlines()[0]


def test_standard_root_layout(tmp_path, coco_preds, coco_ann, capsys):
    root, _ = coco_preds
    rc, _, err = run_cli(["score", "--dataset", "coco-c", "--root", tmp_path, "--predictions", root], capsys)
    assert rc == 2 and "annotations/person_keypoints_val2017.json" in err and "--ann" in err


@pytest.mark.parametrize(
    "setup, message",
    [
        (lambda d, p: None, "no prediction folders"),
        (lambda d, p: _write(d / "clean/results.json", {"not": "a list"}), "expected a JSON list"),
        (lambda d, p: (d / "clean").mkdir() or (d / "clean/results.json").write_text("[{"), "not valid JSON"),
        (lambda d, p: _write(d / "clean/results.json", [dict(p[0], image_id=999)]), "image_id"),
        (lambda d, p: _write(d / "fogg/1/results.json", p), "not 'clean' nor a corruption name"),
        (lambda d, p: _write(d / "fog/0/results.json", p), "severity folders are 1..5"),
        (lambda d, p: (d / "fog/2").mkdir(parents=True), "prediction file missing"),
    ],
)
def test_bad_prediction_trees(tmp_path, coco_preds, coco_ann, capsys, setup, message):
    _, preds = coco_preds
    d = tmp_path / "pred"
    d.mkdir()
    setup(d, preds[("clean", 0)])
    rc, out, err = run_cli(["score", "--dataset", "coco-c", "--ann", coco_ann, "--predictions", d, "--partial"], capsys)
    assert rc == 2 and out == ""
    last = err.strip().splitlines()[-1]  # the progress bar, if any, comes before
    assert last.startswith("robustpose-bench score: error: ") and message in last
    assert "Traceback" not in err


def test_bad_results_files(tmp_path, scored, capsys):
    res = json.loads(scored.read_text())
    res["summary"]["mPC"] = 0.99
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(res))
    rc, _, err = run_cli(["table", tampered], capsys)
    assert rc == 2 and "tampered.json: field summary.mPC" in err

    res = json.loads(scored.read_text())
    res["rows"][5]["severity"] = 7
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(res))
    rc, _, err = run_cli(["table", bad], capsys)
    assert rc == 2 and "bad.json: field rows[5].severity" in err

    res = json.loads(scored.read_text())
    del res["provenance"]["flip"]
    bad.write_text(json.dumps(res))
    rc, _, err = run_cli(["table", bad], capsys)
    assert rc == 2 and "field provenance" in err and "'flip'" in err

    rc, _, err = run_cli(["table", tmp_path / "missing.json"], capsys)
    assert rc == 2 and "results file not found" in err
    rc, _, err = run_cli(["table", scored, "--name", "A", "--name", "B"], capsys)
    assert rc == 2 and "--name given 2 time(s) for 1 results file(s)" in err


def test_results_api_round_trip(tmp_path):
    from robustpose_bench.errors import UserError
    from robustpose_bench.metrics.robustness import make_row
    from robustpose_bench.results import PROVENANCE_FIELDS, make_results, write_results

    rows = [make_row("mpii-c", "clean", 0, "PCKh", 90.0)]
    rows += [make_row("mpii-c", c, s, "PCKh", 60.0 + s) for c in BENCHMARK_CORRUPTIONS for s in range(1, 6)]
    res = make_results("mpii-c", rows, provenance={"device": "cpu", "flip": True,
                                                    "model": {"path": "m.onnx", "sha256": "0" * 64, "spec": {"name": "m"}}},
                       config={"backbone": "HRNet-W32"})
    assert res["summary"]["clean"] == 90.0 and res["summary"]["mPC"] == 63.0 and res["summary"]["rPC"] == 70.0
    assert all(k in res["provenance"] for k in PROVENANCE_FIELDS)
    assert res["provenance"]["scorer"]["library"] == "hrnet-pckh" and res["provenance"]["boxes"] is None
    path = tmp_path / "r.json"
    write_results(path, res)
    assert load_results(path) == res
    assert not list(tmp_path.glob(".*tmp"))  # atomic write leaves no temp file
    with pytest.raises(UserError, match="missing fog severity 5"):
        make_results("mpii-c", [r for r in rows if (r["corruption"], r["severity"]) != ("fog", 5)])
    with pytest.raises(UserError, match="unknown dataset"):
        make_results("coco", rows)
    with pytest.raises(UserError, match="field provenance.model.sha256|field provenance.model"):
        make_results("mpii-c", rows, provenance={"model": {"sha256": "abc"}})


def test_table_names_from_model_spec():
    from robustpose_bench.metrics.robustness import make_row
    from robustpose_bench.results import make_results
    from robustpose_bench.tables import render_table, results_frame

    rows = [make_row("coco-c", "clean", 0, "AP", 0.5)]
    rows += [make_row("coco-c", c, s, "AP", 0.25) for c in BENCHMARK_CORRUPTIONS for s in range(1, 6)]
    spec = {"name": "movenet_lightning_int8", "input": {"height": 192, "width": 192}}
    res = make_results("coco-c", rows, provenance={"model": {"path": "x.onnx", "sha256": "a" * 64, "spec": spec}})
    frame = results_frame([res])
    row = frame.iloc[0]
    assert (row["Model"], row["Backbone"], row["Input size"]) == ("movenet_lightning_int8", None, "192x192")
    assert (row["AP (clean)"], row["mPC"], row["rPC"], row["snow"]) == (50.0, 25.0, 50.0, 25.0)
    tex = render_table(frame, "latex")
    assert r"movenet\_lightning\_int8 & -- & 192x192 & -- & -- & -- & 50.0 & 25.0 & 50.0" in tex


# ------------------------------------------------------------------------------------------------
# sample size and box source recorded by `score`; what `table` shows of them


def test_score_records_sample_size_and_box_source_by_name(scored, coco_preds, coco_ann, shared_dir, tmp_path, capsys):
    from robustpose_bench.metrics.scoring import count_evaluated, load_ground_truth

    # the 4-image sample: 4 images, 12 persons with keypoints (2 of its 14 annotations have none)
    assert load_results(scored)["provenance"]["data"] == {"num_images": 4, "num_persons": 12}
    assert count_evaluated("coco-c", load_ground_truth("coco-c", coco_ann)) == (4, 12)
    och = shared_dir / "data/ochuman_sample/test_ochuman.json"
    assert count_evaluated("ochuman-c", load_ground_truth("ochuman-c", och)) == (3, 5)
    mpii = shared_dir / "data/mpii_val_gt/gt_valid.mat"
    assert count_evaluated("mpii-c", load_ground_truth("mpii-c", mpii)) == (None, 2958)  # gt_valid.mat: no images

    root, _ = coco_preds
    dets = shared_dir / "data/coco_sample/test_coco_det_AP_H_56.json"
    out = tmp_path / "det.json"
    rc, stdout, _ = run_cli(["score", "--dataset", "coco-c", "--ann", coco_ann, "--predictions", root,
                             "--boxes", dets, "-o", out, "--method", "SimpleBaseline"], capsys)
    assert rc == 0 and stdout.startswith("coco-c  AP clean")
    boxes = load_results(out)["provenance"]["boxes"]
    assert boxes == {"source": dets.name, "sha256": sha256_file(dets)}  # the name, never the path
    rc, md, _ = run_cli(["table", scored, out], capsys)
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in md.splitlines()[2:]]
    assert [r[3] for r in rows] == ["–", r"detections: test\_coco\_det\_AP\_H\_56.json"]  # Markdown-escaped
    assert str(dets.parent) not in md


def _synthetic(dataset: str, metrics: dict[str, float], method: str = "Net", **prov):
    from robustpose_bench.metrics.robustness import make_row
    from robustpose_bench.results import make_results

    rows = []
    for m, clean in metrics.items():
        rows.append(make_row(dataset, "clean", 0, m, clean))
        # COCOeval's -1 ("no such person here") stays -1 under every corruption; a score drops with severity
        rows += [make_row(dataset, c, s, m, clean if clean < 0 else clean - s * (1 + i % 3) * 0.01 * clean)
                 for i, c in enumerate(BENCHMARK_CORRUPTIONS) for s in range(1, 6)]
    return make_results(dataset, rows, provenance=prov, config={"method": method})


def test_table_metric_sets(tmp_path, scored, capsys):
    res = load_results(scored)
    value = {(r["metric"], r["corruption"], r["severity"]): r["value"] for r in res["rows"]}

    rc, csv, _ = run_cli(["table", scored, "--metrics", "ap,ap50,ar", "--format", "csv"], capsys)
    frame = pd.read_csv(io.StringIO(csv))
    assert list(frame.columns) == ["Model", "Backbone", "Input size", "Boxes", "Flip", "Sample",
                                   "AP (clean)", "AP mPC", "AP rPC", "AP50 (clean)", "AP50 mPC", "AP50 rPC",
                                   "AR (clean)", "AR mPC", "AR rPC"]
    row = frame.iloc[0]
    assert row["AP mPC"] == pytest.approx(100 * res["summary"]["mPC"])
    ar = {c: np.mean([value[("AR", c, s)] for s in range(1, 6)]) for c in BENCHMARK_CORRUPTIONS}
    assert row["AR (clean)"] == pytest.approx(100 * value[("AR", "clean", 0)])
    assert row["AR mPC"] == pytest.approx(100 * np.mean(list(ar.values())))
    assert row["AR rPC"] == pytest.approx(100 * np.mean(list(ar.values())) / value[("AR", "clean", 0)])

    # one set: the paper's layout for that metric, per corruption
    rc, md, _ = run_cli(["table", scored, "--metrics", "AP75"], capsys)
    cols = [c.strip() for c in md.splitlines()[0].strip("|").split("|")]
    assert cols[6:9] == ["AP75 (clean)", "mPC", "rPC"] and cols[9] == "Gauss"
    cells = [c.strip() for c in md.splitlines()[2].strip("|").split("|")]
    fog = 100 * np.mean([value[("AP75", "fog", s)] for s in range(1, 6)])
    assert cells[cols.index("Fog")] == f"{fog:.1f}"

    # MPII: PCKh@0.1 and HRNet's per-joint PCKh
    groups = ("Head", "Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle")
    mpii = tmp_path / "mpii.json"
    from robustpose_bench.results import write_results

    write_results(mpii, _synthetic("mpii-c", {"PCKh": 90.0, "PCKh@0.1": 40.0,
                                              **{f"PCKh/{g}": 80.0 + i for i, g in enumerate(groups)}}))
    rc, csv, _ = run_cli(["table", mpii, "--metrics", "pckh@0.1,joints", "--format", "csv"], capsys)
    frame = pd.read_csv(io.StringIO(csv))
    assert [c for c in frame.columns if c.endswith("(clean)")] == ["PCKh@0.1 (clean)",
                                                                   *[f"PCKh/{g} (clean)" for g in groups]]
    assert frame.iloc[0]["PCKh/Wrist (clean)"] == 83.0 and frame.iloc[0]["PCKh@0.1 (clean)"] == 40.0

    rc, _, err = run_cli(["table", mpii, "--metrics", "ap50"], capsys)
    assert rc == 2 and "--metrics: 'ap50' is not a column set of mpii-c" in err


def test_table_ap_by_area_undefined_is_a_dash(tmp_path, capsys):
    # COCOeval reports -1 for APM when no medium-sized person exists: not a score, shown as unknown
    from robustpose_bench.results import write_results

    path = tmp_path / "r.json"
    write_results(path, _synthetic("coco-c", {"AP": 0.5, "APM": -1.0}))
    rc, md, _ = run_cli(["table", path, "--metrics", "ap,apm"], capsys)
    cells = [c.strip() for c in md.splitlines()[2].strip("|").split("|")]
    assert cells[6:9] == ["50.0", f"{100 * load_results(path)['summary']['mPC']:.1f}",
                          f"{load_results(path)['summary']['rPC']:.1f}"]
    assert cells[9:] == ["–", "–", "–"]


def test_table_tells_equal_model_names_apart(tmp_path, capsys):
    from robustpose_bench.results import write_results

    gt = tmp_path / "gt.json"
    det = tmp_path / "det.json"
    write_results(gt, _synthetic("coco-c", {"AP": 0.5}, method="movenet", boxes={"source": "gt", "sha256": None}))
    write_results(det, _synthetic("coco-c", {"AP": 0.4}, method="movenet",
                                  boxes={"source": "/home/me/dets.json", "sha256": "c" * 64}))
    rc, md, _ = run_cli(["table", gt, det], capsys)
    models = [line.split("|")[1].strip() for line in md.splitlines()[2:]]
    assert models == ["movenet (GT boxes)", "movenet (detections: dets.json)"]
    from robustpose_bench.vocabulary import box_source_label

    assert [box_source_label(s) for s in ("gt", "mpii-annotation", "none", "model", "none (bottom-up)",
                                          "C:\\data\\d.json")] == [
        "GT boxes", "GT centre and scale", "none (one-stage)", "none (one-stage)", "none (one-stage)",
        "detections: d.json"]
    assert "/home/me" not in md

    # same boxes and the same time: the results file tells them apart
    res = load_results(gt)
    again = tmp_path / "again" / "gt.json"
    again.parent.mkdir()
    write_results(again, res)
    rc, md, _ = run_cli(["table", gt, again], capsys)
    models = [line.split("|")[1].strip() for line in md.splitlines()[2:]]
    from robustpose_bench.escape import md as md_escaped

    assert models == [md_escaped(f"movenet ({gt})"), md_escaped(f"movenet ({again})")]


def test_table_names_are_text_in_every_format(tmp_path, capsys):
    """Item 12: a model name is never markup, a link or a spreadsheet formula."""
    from robustpose_bench.results import write_results

    names = ["<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "[x](javascript:alert(1))",
             "=HYPERLINK(\"http://evil\",\"x\")", "@SUM(1+1)", "+cmd", "-2+3", "\\input{/etc/passwd} 100%"]
    paths = []
    for i, name in enumerate(names):
        paths.append(tmp_path / f"r{i}.json")
        write_results(paths[-1], _synthetic("coco-c", {"AP": 0.5}, method=name))
    rc, md, _ = run_cli(["table", *paths], capsys)
    assert rc == 0
    assert "<script" not in md and "<img" not in md
    assert not re.search(r"(?<!\\)\]\(javascript:", md)  # a link needs an unescaped [text](url)
    assert "&lt;script&gt;" in md and r"\[x\](javascript:alert(1))" in md

    rc, csv, _ = run_cli(["table", *paths, "--format", "csv"], capsys)
    import csv as csvmod

    cells = [c for row in csvmod.reader(io.StringIO(csv)) for c in row]
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@")]
    assert "'=HYPERLINK(\"http://evil\",\"x\")" in cells and "'-2+3" in cells

    rc, tex, _ = run_cli(["table", *paths, "--format", "latex"], capsys)
    assert r"\input" not in tex and r"\textbackslash{}input\{/etc/passwd\} 100\%" in tex


def test_table_shows_the_flip_setting_and_marks_subset_runs_in_every_format(capsys, tmp_path):
    """Issue 24: a 16-person run read like a paper row, and nothing showed whether a model was flip-tested."""
    from robustpose_bench.metrics.robustness import make_row
    from robustpose_bench.results import make_results, write_results

    rows = [make_row("coco-c", "clean", 0, "AP", 0.5)]
    rows += [make_row("coco-c", c, s, "AP", 0.25) for c in BENCHMARK_CORRUPTIONS for s in range(1, 6)]
    write_results(tmp_path / "small.json", make_results(
        "coco-c", rows, provenance={"data": {"num_images": 4, "num_persons": 12}}, config={"method": "A", "flip": False}))
    write_results(tmp_path / "full.json", make_results(
        "coco-c", rows, provenance={"data": {"num_images": 5000, "num_persons": 6352}}, config={"method": "B", "flip": True}))
    want = {"A": ("no flip", "4 images, 12 persons (subset)"), "B": ("flip", "5,000 images, 6,352 persons")}
    for fmt in ("md", "csv", "latex", "json"):
        rc, text, err = run_cli(["table", tmp_path / "small.json", tmp_path / "full.json", "--format", fmt], capsys)
        assert rc == 0, err
        if fmt == "json":
            got = {r["Model"]: (r["Flip"], r["Sample"]) for r in json.loads(text)}
            assert got == want
        else:
            for flip, sample in want.values():
                assert flip in text and sample in text, (fmt, text)
            assert "no flip" in text and "(subset)" in text
