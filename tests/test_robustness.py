"""mPC / rPC from keyed rows: hand-checkable answers, exact missing-item errors, the partial flag."""
from __future__ import annotations

import random

import pandas as pd
import pytest

from corruptions import BENCHMARK_CORRUPTIONS
from robustpose_bench.errors import UserError
from robustpose_bench.metrics.robustness import make_row, normalize_rows, rows_frame, summarize


def grid(dataset="coco-c", metric="AP", clean=80.0):
    """clean = 80; corruption i at severity s = 50 + i + s. So corruption i's mean is 53 + i, mPC is
    53 + mean(0..14) = 60, rPC = 100 * 60 / 80 = 75."""
    rows = [make_row(dataset, "clean", 0, metric, clean)]
    for i, c in enumerate(BENCHMARK_CORRUPTIONS):
        for s in range(1, 6):
            rows.append(make_row(dataset, c, s, metric, 50.0 + i + s))
    return rows


def test_hand_checked_answer():
    s = summarize(grid(), "AP")
    assert s.clean == 80.0
    assert s.mPC == 60.0
    assert s.rPC == 75.0
    assert list(s.per_corruption) == list(BENCHMARK_CORRUPTIONS)
    assert s.per_corruption["gaussian_noise"] == 53.0 and s.per_corruption["jpeg_compression"] == 67.0
    assert not s.partial and s.missing == ()


def test_order_of_rows_does_not_matter_and_dataframe_works():
    rows = grid()
    shuffled = rows[:]
    random.Random(0).shuffle(shuffled)
    assert summarize(shuffled, "AP") == summarize(rows, "AP")
    frame = pd.DataFrame(shuffled)
    assert summarize(frame, "AP") == summarize(rows, "AP")
    assert list(rows_frame(rows).columns) == ["dataset", "corruption", "severity", "metric", "value"]


def test_other_metrics_and_validation_corruptions_do_not_leak_in():
    rows = grid() + [make_row("coco-c", c, s, "AR", 1.0) for c in BENCHMARK_CORRUPTIONS for s in range(1, 6)]
    rows += [make_row("coco-c", "speckle_noise", s, "AP", 0.0) for s in range(1, 6)]
    s = summarize(rows, "AP")
    assert s.mPC == 60.0
    assert s.per_corruption["speckle_noise"] == 0.0  # reported, but not part of mPC


def test_missing_items_are_listed_exactly():
    rows = [r for r in grid()
            if r["corruption"] != "clean"
            and (r["corruption"], r["severity"]) != ("gaussian_noise", 3)
            and (r["corruption"], r["severity"]) != ("gaussian_noise", 5)
            and (r["corruption"], r["severity"]) != ("fog", 2)
            and r["corruption"] != "snow"]
    with pytest.raises(UserError) as err:
        summarize(rows, "AP")
    msg = str(err.value)
    assert "\n" not in msg
    assert ("missing clean; gaussian_noise severities 3,5; snow all severities; fog severity 2" in msg), msg
    assert "--partial" in msg


def test_partial_computes_over_what_exists():
    rows = [r for r in grid() if r["corruption"] != "snow" and (r["corruption"], r["severity"]) != ("gaussian_noise", 5)]
    s = summarize(rows, "AP", partial=True)
    assert s.partial
    assert s.missing == tuple(["gaussian_noise/5"] + [f"snow/{k}" for k in range(1, 6)])
    # gaussian_noise keeps severities 1..4: mean of 51..54 = 52.5; snow (i = 7) is absent
    assert s.per_corruption["gaussian_noise"] == 52.5
    assert "snow" not in s.per_corruption
    expected = (52.5 + sum(53.0 + i for i in range(1, 15) if i != 7)) / 14
    assert s.mPC == pytest.approx(expected, rel=1e-15)
    assert s.rPC == pytest.approx(100 * expected / 80.0, rel=1e-15)
    # without a clean row, rPC is undefined rather than invented
    no_clean = summarize([r for r in rows if r["corruption"] != "clean"], "AP", partial=True)
    assert no_clean.clean is None and no_clean.rPC is None and "clean" in no_clean.missing


def test_null_value_counts_as_missing():
    rows = grid()
    rows[3] = dict(rows[3], value=None)
    with pytest.raises(UserError, match="gaussian_noise severity 3"):
        summarize(rows, "AP")


@pytest.mark.parametrize(
    "row, message",
    [
        (dict(dataset="coco-c", corruption="fog", severity=0, metric="AP", value=1.0), "severity must be 1..5"),
        (dict(dataset="coco-c", corruption="fog", severity=6, metric="AP", value=1.0), "severity must be 1..5"),
        (dict(dataset="coco-c", corruption="clean", severity=1, metric="AP", value=1.0), "clean condition has severity 0"),
        (dict(dataset="coco-c", corruption="fogg", severity=1, metric="AP", value=1.0), "unknown corruption 'fogg'"),
        (dict(dataset="coco-c", corruption="fog", severity="2", metric="AP", value=1.0), "severity must be an integer"),
        (dict(dataset="coco-c", corruption="fog", severity=2, metric="AP", value="x"), "value must be a number"),
        (dict(dataset="coco-c", corruption="fog", severity=2, metric="AP"), "missing field"),
    ],
)
def test_bad_rows(row, message):
    with pytest.raises(UserError, match=message):
        normalize_rows([row])


def test_duplicates_and_mixed_datasets():
    with pytest.raises(UserError, match="duplicate row for coco-c fog/2 AP"):
        normalize_rows([make_row("coco-c", "fog", 2, "AP", 1.0)] * 2)
    rows = grid() + grid(dataset="ochuman-c")
    with pytest.raises(UserError, match="mix datasets"):
        summarize(rows, "AP")
    assert summarize(rows, "AP", dataset="ochuman-c").mPC == 60.0
