"""A user's own (carded) dataset is shown by its card's title and known by its card's split size.

A small synthetic COCO-format keypoint dataset is made here (no shared data): six images of garden
birds with four keypoints each. It is scored on the whole 15 x 5 grid through the CLI (``score
--dataset-card``), then tabulated, plotted, submitted, checked and rendered: the figure and the
page title it by its card's ``title``, and a run over as many images as the card's ``split_sizes``
declare is a full-split entry (``submit`` needs no ``--subset``).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cli_helpers import run_cli
from robustpose_bench.leaderboard.entries import BENCHMARK_ORDER

KEYPOINTS = ["head", "left_wing", "right_wing", "tail"]
TITLE = "Garden Birds_v2-C"  # the underscore must come out as text in Markdown and LaTeX
IMAGES = 6


def _card(name: str, **change) -> dict:
    card = {"schema": "robustpose-bench/dataset-card/1", "name": name, "title": TITLE, "format": "coco",
            "keypoints": KEYPOINTS, "flip_pairs": [[1, 2]], "sigmas": [0.03, 0.06, 0.06, 0.05],
            "upper_body": KEYPOINTS[:3], "primary_metric": "AP", "scorer": "pycocotools"}
    card.update(change)
    return card


def _annotations() -> dict:
    """Six 200 x 160 images, one or two birds each, every keypoint labelled."""
    rng = np.random.default_rng(0)
    images, anns = [], []
    for i in range(1, IMAGES + 1):
        images.append({"id": i, "file_name": f"{i:03d}.jpg", "width": 200, "height": 160})
        for _ in range(1 + i % 2):
            x, y = rng.uniform(20, 120), rng.uniform(20, 90)
            pts = [(x + dx, y + dy) for dx, dy in ((30, 5), (10, 30), (50, 30), (30, 55))]
            anns.append({"id": len(anns) + 1, "image_id": i, "category_id": 1, "iscrowd": 0,
                         "bbox": [x, y, 60.0, 60.0], "area": 3600.0, "num_keypoints": 4,
                         "keypoints": [v for p in pts for v in (round(p[0], 2), round(p[1], 2), 2)]})
    return {"images": images, "annotations": anns,
            "categories": [{"id": 1, "name": "bird", "keypoints": KEYPOINTS, "skeleton": [[1, 2], [1, 3], [1, 4]]}]}


def _predictions(ann: dict, out: Path) -> None:
    """Every condition's predictions: the ground truth moved by noise that grows with the condition."""
    keys = ["clean"] + [f"{c}/{s}" for c in BENCHMARK_ORDER for s in range(1, 6)]
    for i, key in enumerate(keys):
        rng = np.random.default_rng(i)
        preds = []
        for a in ann["annotations"]:
            k = np.asarray(a["keypoints"], dtype=float).reshape(-1, 3)
            k[:, :2] += rng.normal(0, 0.5 + (i % 9), size=(len(k), 2))
            k[:, 2] = 1.0
            preds.append({"image_id": a["image_id"], "category_id": 1, "keypoints": k.reshape(-1).tolist(),
                          "score": float(rng.uniform(0.5, 1.0))})
        (out / key).mkdir(parents=True)
        (out / key / "results.json").write_text(json.dumps(preds))


@pytest.fixture(scope="module")
def birds(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("birds")
    ann = _annotations()
    (root / "birds.json").write_text(json.dumps(ann))
    _predictions(ann, root / "pred")
    (root / "model.onnx").write_bytes(b"not a model, cited by sha256")
    (root / "manifest.json").write_text("{}")
    return {"root": root, "ann": root / "birds.json", "pred": root / "pred",
            "model": root / "model.onnx", "manifest": root / "manifest.json"}


def _score(birds: dict[str, Path], name: str, **card) -> tuple[Path, Path]:
    """(card file, results.json) of a complete score run of the birds under a card named ``name``."""
    root = birds["root"]
    card_path = root / f"{name}.json"
    card_path.write_text(json.dumps(_card(name, **card)))
    results = root / f"{name}.results.json"
    rc, _, err = run_cli("score", "--dataset-card", card_path, "--ann", birds["ann"], "--predictions", birds["pred"],
                         "-o", results, "--boxes", "gt", "--method", "noisy-gt")
    assert rc == 0, err
    return card_path, results


def _submit(birds: dict[str, Path], results: Path, board: Path, *more: str) -> tuple[int, str, str]:
    return run_cli("submit", results, "--name", "Noisy GT", "--dir", board, "--model", birds["model"],
                   "--manifest", birds["manifest"], *more)


def _figure_title(results: Path) -> str:
    from robustpose_bench.leaderboard.results_view import read_results
    from robustpose_bench.plots import build_figure

    return build_figure([read_results(results)])._suptitle.get_text()


def test_a_card_that_declares_its_split_size_is_titled_and_submitted_as_a_full_split(birds, tmp_path):
    card, results = _score(birds, "birds-c", split_sizes={"val": {"images": IMAGES}},
                           layout={"default_split": "val",
                                   "splits": {"val": {"images": "images", "annotations": "birds.json"}}})
    recorded = json.loads(results.read_text())["provenance"]["dataset_card"]
    assert recorded["title"] == TITLE and recorded["split_sizes"] == {"val": {"images": IMAGES}}
    assert recorded["default_split"] == "val"

    rc, out, err = run_cli("table", results)
    assert rc == 0, err
    assert "6 images, 9 persons" in out and "subset" not in out  # the card's size: a full split
    assert _figure_title(results).startswith(f"Robustness on {TITLE} (6 images, 9 persons): AP (%)")
    rc, _, err = run_cli("plot", results, "-o", tmp_path / "fig.png")
    assert rc == 0 and (tmp_path / "fig.png").is_file(), err

    board = tmp_path / "board"
    rc, out, err = _submit(birds, results, board)  # no --subset: the run covered the card's full split
    assert rc == 0, err
    entry = json.loads(Path(out.strip()).read_text())
    assert entry.get("subset") is False and entry["paradigm"] == "top-down"
    assert entry["dataset_card"] == {"title": TITLE, "sha256": recorded["sha256"], "default_split": "val",
                                     "split_sizes": {"val": {"images": IMAGES}}}
    rc, out, err = run_cli("leaderboard", "check", "--dir", board)
    assert rc == 0, out + err
    site = tmp_path / "site"
    rc, _, err = run_cli("leaderboard", "render", "--dir", board, "--out", site)
    assert rc == 0, err
    md = (site / "LEADERBOARD.md").read_text("utf-8")
    assert "## Garden Birds\\_v2-C\n" in md and "## birds-c" not in md and "subset runs" not in md
    html = (site / "index.html").read_text("utf-8")
    assert f'data-dataset="birds-c" aria-pressed="true">{TITLE}</button>' in html
    assert f"<h2>{TITLE}</h2>" in html and f"Provenance of measured {TITLE} entries" in html
    assert "Robustness on Garden Birds\\_v2-C:" in (site / "leaderboard.tex").read_text("utf-8")

    # the entry's card must be the one its results recorded: a raised split size is caught
    path = next((board / "birds-c").glob("*.json"))
    tampered = json.loads(path.read_text())
    tampered["dataset_card"]["split_sizes"] = {"val": {"images": 3}}
    path.write_text(json.dumps(tampered))
    rc, out, err = run_cli("leaderboard", "check", "--dir", board)
    assert rc == 1 and "dataset_card.split_sizes" in out + err


def test_a_run_below_the_cards_split_size_is_a_subset_entry(birds, tmp_path):
    _, results = _score(birds, "birds-big-c", split_sizes={"val": {"images": 10}})
    rc, out, _ = run_cli("table", results)
    assert rc == 0 and "6 images, 9 persons (subset)" in out
    assert f"Robustness on {TITLE} (6 images, 9 persons; subset)" in _figure_title(results)
    board = tmp_path / "board"
    rc, _, err = _submit(birds, results, board)
    assert rc == 2 and err.count("\n") == 1
    assert "evaluated 6 images, 9 persons, fewer than the full birds-big-c split (10 images (val))" in err
    rc, _, err = _submit(birds, results, board, "--subset")
    assert rc == 0, err
    rc, out, err = run_cli("leaderboard", "check", "--dir", board)
    assert rc == 0, out + err
    rc, _, err = run_cli("leaderboard", "render", "--dir", board)
    assert rc == 0, err
    md = (board / "LEADERBOARD.md").read_text("utf-8")
    assert "### Garden Birds\\_v2-C: subset runs" in md and "full split (10 images (val))" in md


def test_a_card_without_split_sizes_says_which_field_to_add(birds, tmp_path):
    card, results = _score(birds, "birds-nosize-c")
    assert json.loads(results.read_text())["provenance"]["dataset_card"]["split_sizes"] == {}
    board = tmp_path / "board"
    rc, stdout, err = _submit(birds, results, board)
    assert rc == 2 and stdout == "" and err.count("\n") == 1, err
    assert f"its card {card} declares no split size: add \"split_sizes\": {{\"val\": {{\"images\": N}}}}" in err
    assert "--subset" in err and not board.exists()
    rc, _, err = _submit(birds, results, board, "--subset")
    assert rc == 0, err
    rc, out, err = run_cli("leaderboard", "check", "--dir", board)
    assert rc == 0, out + err


def test_results_written_before_the_card_was_recorded_in_full_stay_readable(birds, tmp_path):
    """A results file without the card's split sizes reads them from the card file it names, while that
    file still has the recorded sha256; one without a title is shown by the dataset's name."""
    card, results = _score(birds, "birds-old-c", split_sizes={"val": {"images": IMAGES}})
    obj = json.loads(results.read_text())
    for key in ("split_sizes", "default_split"):
        del obj["provenance"]["dataset_card"][key]
    old = tmp_path / "old.results.json"
    old.write_text(json.dumps(obj))
    rc, out, _ = run_cli("table", old)
    assert rc == 0 and "6 images, 9 persons" in out and "subset" not in out
    board = tmp_path / "board"
    rc, _, err = _submit(birds, old, board)
    assert rc == 0, err
    del obj["provenance"]["dataset_card"]["title"]
    card.write_text(card.read_text() + "\n")  # the card changed since: its sizes are no longer the run's
    older = tmp_path / "older.results.json"
    older.write_text(json.dumps(obj))
    assert _figure_title(older).startswith("Robustness on birds-old-c (6 images, 9 persons): ")
    rc, _, err = run_cli("submit", older, "--name", "Older", "--dir", board, "--model", birds["model"],
                         "--manifest", birds["manifest"])
    assert rc == 2 and err.count("\n") == 1, err
    assert f"the results predate recording the card's split sizes and its card {card} is not at hand unchanged" in err
