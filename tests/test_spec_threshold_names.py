"""One name per threshold across the spec's output kinds: older names are read as today's, written as
today's, and both at once is a one-line error."""
from __future__ import annotations

import json

import pytest

from robustpose_bench.errors import UserError
from robustpose_bench.models.spec import OLD_OUTPUT_FIELDS, OUTPUT_KINDS, parse_spec

COCO = {"num": 17, "dataset_map": {"coco": list(range(17))}}
FLIPS = [[1, 2], [3, 4], [5, 6], [7, 8], [9, 10], [11, 12], [13, 14], [15, 16]]
INPUTS = {
    "yolo-pose": {"height": 64, "width": 64, "layout": "NCHW", "dtype": "float32", "channel_order": "RGB",
                  "mean": [0, 0, 0], "std": [255, 255, 255], "resize": "letterbox", "align": "center"},
    "persons": {"height": 64, "width": 64, "layout": "NCHW", "dtype": "float32", "channel_order": "BGR",
                "mean": [0, 0, 0], "std": [1, 1, 1], "resize": "bottomup"},
    "associative-embedding": {"height": 64, "width": 64, "layout": "NCHW", "dtype": "float32",
                              "channel_order": "RGB", "mean": [0, 0, 0], "std": [1, 1, 1],
                              "resize": "short-side-align64", "pad_value": 0},
}
OLD = {
    "yolo-pose": ({"conf": 0.25, "iou": 0.5}, {"score_thr": 0.25, "iou_thr": 0.5}),
    "persons": ({"score_thr": 0.7, "nms_iou": 0.45}, {"score_thr": 0.7, "iou_thr": 0.45}),
    "associative-embedding": ({"detection_threshold": 0.2, "tag_threshold": 2.0}, {"peak_thr": 0.2, "tag_thr": 2.0}),
}


def _spec(kind: str, output: dict) -> dict:
    return {"format": "robustpose-model-spec/1", "name": "m", "pipeline": "onestage", "input": INPUTS[kind],
            "output": {"kind": kind, **output}, "keypoints": COCO, "flip_pairs": FLIPS}


@pytest.mark.parametrize("kind", sorted(OLD))
def test_older_names_are_read_as_todays_and_written_as_todays(kind):
    old, new = OLD[kind]
    from_old, from_new = parse_spec(_spec(kind, old)), parse_spec(_spec(kind, new))
    assert from_old == from_new
    for field, value in new.items():
        assert getattr(from_old.output, field) == value
    written = from_old.to_dict()["output"]
    assert not set(old) - set(new) & set(written), written
    assert {k: written[k] for k in new} == new
    assert parse_spec(json.loads(from_old.to_json())) == from_old  # round trip through today's names


@pytest.mark.parametrize("kind", sorted(OLD))
def test_both_names_at_once_is_one_line_naming_both(kind):
    old, new = OLD[kind]
    o, n = next((k, v) for k, v in OLD_OUTPUT_FIELDS[kind].items())
    with pytest.raises(UserError) as exc:
        parse_spec(_spec(kind, {**new, o: new[n]}), source="m.json")
    msg = str(exc.value)
    assert msg == f"model spec (m.json): output.{o} is the older name of output.{n}; give only output.{n}"


def test_an_older_name_of_another_kind_is_still_unknown():
    """The renames are per kind: ``conf`` was yolo-pose's, so a persons spec with it is a typo."""
    with pytest.raises(UserError, match=r"output\.conf is not a known field"):
        parse_spec(_spec("persons", {"conf": 0.5}))


def test_every_threshold_has_one_name_across_kinds():
    """Score and IoU thresholds are spelled alike in every kind, with the ``_thr`` suffix of eval's flags."""
    fields = {f for k in OUTPUT_KINDS.values() for f in k.fields}
    assert not fields & {old for m in OLD_OUTPUT_FIELDS.values() for old in m}
    thresholds = {f for f in fields if f.endswith("_thr")}
    assert thresholds == {"score_thr", "iou_thr", "peak_thr", "tag_thr"}
    for kind in ("yolo-pose", "persons"):
        assert {"score_thr", "iou_thr"} <= set(OUTPUT_KINDS[kind].fields)
