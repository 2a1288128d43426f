"""HigherHRNet in `eval`: the grouping against the official code's outputs, the model side (preset,
aggregation, flip test, input geometry), and a random HigherHRNet-shaped model end to end.

The oracle is ``../shared/reference/higherhrnet_parser`` (its README says how it was made): 40
synthetic cases of aggregated heatmaps and tags, and what the official ``HeatmapParser.parse`` and
``get_final_preds`` return for them, including the intermediate results without refine and without
adjust.
"""
from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import run_cli
from model_factory import export_higherhrnet, export_rtmo
from robustpose_bench import ae_grouping
from robustpose_bench.errors import UserError
from robustpose_bench.letterbox import make_aligned_resize
from robustpose_bench.models.loader import load_model
from robustpose_bench.models.spec import parse_spec
from test_onestage import cocoeval_direct, eval_args

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")

NUM_CASES = 40


@pytest.fixture(scope="module")
def oracle(shared_dir) -> tuple[dict, dict]:
    folder = shared_dir / "reference" / "higherhrnet_parser"
    with np.load(folder / "cases.npz", allow_pickle=False) as z:
        cases = {k: z[k] for k in z.files}
    official = json.loads((folder / "official_outputs.json").read_text())
    assert len(official["cases"]) == int(cases["num_cases"]) == NUM_CASES
    return cases, official


def persons(raw: list, t: int) -> np.ndarray:
    return np.asarray(raw, dtype=np.float64).reshape(-1, 17, 3 + t)


def assert_same_persons(got: np.ndarray, want: np.ndarray, what: str) -> float:
    """Same persons in the same order: coordinates and tags within 1e-4, scores exactly; the max difference."""
    assert got.shape == want.shape, f"{what}: {got.shape[0]} persons, official {want.shape[0]}"
    if not len(want):
        return 0.0
    np.testing.assert_array_equal(got[..., 2], want[..., 2], err_msg=what)
    diff = float(np.abs(got.astype(np.float64) - want).max())
    assert diff <= 1e-4, f"{what}: max difference {diff}"
    return diff


@pytest.mark.parametrize("i", range(NUM_CASES))
def test_grouping_reproduces_the_official_parser(oracle, i):
    cases, official = oracle
    case = official["cases"][i]
    det, tag, t = cases[f"det_{i}"][0], cases[f"tag_{i}"][0], case["T"]
    for key, kw in (("ans_match_only", {"do_adjust": False, "do_refine": False}),
                    ("ans_adjust_no_refine", {"do_refine": False}), ("ans", {})):
        got, scores = ae_grouping.parse(det, tag, **kw)
        assert_same_persons(got, persons(case[key], t), f"case {i} {key}")
    # the person score: float32 mean after adjust, before refine, bit for bit
    assert [float(s) for s in scores] == case["scores"]
    assert all(isinstance(s, np.float32) for s in scores)
    # back-projection with the case's centre and scale, which our resize reproduces from the image size
    w, h = (int(v) for v in cases[f"image_size_{i}"])
    geo = make_aligned_resize((h, w), int(cases[f"input_size_{i}"]))
    assert geo.size_wh == tuple(int(v) for v in cases[f"heatmap_size_{i}"])
    np.testing.assert_array_equal(geo.center, cases[f"center_{i}"])
    np.testing.assert_array_equal(geo.scale, cases[f"scale_{i}"])
    final = got.copy()
    final[..., :2] = geo.points_to_image(got[..., :2])
    assert_same_persons(final, persons(case["final_preds"], t), f"case {i} final_preds")


def test_tied_assignments_are_broken_as_munkres_1_1_4(oracle, monkeypatch):
    """The cases the README flags as solver-dependent change under scipy's solver: the grouping's
    agreement with the official outputs there comes from munkres 1.1.4's tie-breaking."""
    from scipy.optimize import linear_sum_assignment

    assert version("munkres") == "1.1.4"
    cases, official = oracle
    flagged = [i for i, c in enumerate(official["cases"]) if not c["same_result_with_scipy_lsa"]]
    assert flagged == [7, 8, 9, 10, 17]

    def scipy_assign(cost: np.ndarray) -> list[tuple[int, int]]:
        rows, cols = linear_sum_assignment(cost)
        return list(zip(rows.tolist(), cols.tolist()))

    monkeypatch.setattr(ae_grouping, "_assign", scipy_assign)
    changed = []
    for i in range(NUM_CASES):
        got, _ = ae_grouping.parse(cases[f"det_{i}"][0], cases[f"tag_{i}"][0])
        want = persons(official["cases"][i]["ans"], official["cases"][i]["T"])
        if got.shape != want.shape or (len(want) and np.abs(got - want).max() > 1e-4):
            changed.append(i)
    assert changed == flagged


def test_detection_threshold_is_compared_in_float64():
    """A peak of exactly float32(0.1) lies above 0.1 as a double, so the official code keeps it."""
    det = np.zeros((17, 32, 48), np.float32)
    tag = np.zeros((17, 32, 48, 1), np.float32)
    det[5, 10, 20] = np.float32(0.1)
    got, scores = ae_grouping.parse(det, tag, do_refine=False)
    assert got.shape == (1, 17, 4) and got[0, 5, 2] == np.float32(0.1)
    det[5, 10, 20] = np.nextafter(np.float32(0.1), np.float32(0))
    assert ae_grouping.parse(det, tag)[0].shape == (0, 17, 4)


def test_aligned_resize_geometry():
    """Short side to the model's size, long side up to a multiple of 64, centred; points go back exactly."""
    for (h, w), size_wh in (((425, 640), (832, 512)), ((1000, 665), (512, 832)), ((512, 512), (512, 512))):
        geo = make_aligned_resize((h, w), 512)
        assert geo.size_wh == size_wh
        img = np.full((h, w, 3), 200, np.uint8)
        out = geo.apply(img)
        assert out.shape == (size_wh[1], size_wh[0], 3)
        # the input's centre is the image centre rounded half up (HigherHRNet's int(w / 2 + 0.5))
        centre = geo.points_to_image(np.array([[size_wh[0] / 2, size_wh[1] / 2]], np.float32))
        np.testing.assert_allclose(centre[0], [int(w / 2 + 0.5), int(h / 2 + 0.5)], atol=1e-3)
        # aspect ratio kept: one image pixel is the same number of input pixels on both axes
        step = geo.points_to_image(np.array([[0, 0], [64, 0], [0, 64]], np.float32))
        np.testing.assert_allclose(step[1, 0] - step[0, 0], step[2, 1] - step[0, 1], rtol=1e-6)
    wide = make_aligned_resize((425, 640), 512).apply(np.full((425, 640, 3), 200, np.uint8), 0)
    assert wide[:, 0].max() == 0 and wide[:, -1].max() == 0 and wide[256, 416].min() == 200  # black sides


@pytest.fixture(scope="module")
def hhrnet(tmp_path_factory) -> Path:
    return export_higherhrnet(tmp_path_factory.mktemp("hhrnet"))


def test_preset_reads_the_official_export(hhrnet):
    m = load_model(hhrnet, spec="higherhrnet", device="cpu")
    s = m.spec
    assert (s.pipeline, s.input.resize, s.input.height, s.input.width, s.input.pad_value) == \
        ("onestage", "short-side-align64", 512, 512, 0)
    assert s.input.channel_order == "RGB" and s.input.mean == (123.675, 116.28, 103.53)
    assert m.output_names == ("output_low", "output_high") and m.codec.flip_test
    o = s.output
    assert (o.peak_thr, o.tag_thr, o.max_people, o.nms_kernel) == (0.1, 1.0, 30, 5)
    assert load_model(hhrnet, spec="higherhrnet-640", device="cpu").spec.input.height == 640
    assert parse_spec(s.to_json()) == s  # round trip


def test_aggregation_averages_both_resolutions_and_the_flipped_pass(hhrnet):
    """Constant maps: heatmaps are the mean of the two heads, tags come from the low-resolution head;
    a flip-equivariant model (mirrored input -> mirrored, left/right-swapped output) gives the same
    heatmaps with and without the flip test, and the same tags in both passes."""
    codec = load_model(hhrnet, spec="higherhrnet", device="cpu").codec
    low = np.zeros((1, 34, 16, 24), np.float32)
    low[:, :17], low[:, 17:] = 0.2, np.arange(17, dtype=np.float32)[None, :, None, None]
    high = np.full((1, 17, 32, 48), 0.6, np.float32)
    det, tag = codec.aggregate({"output_low": low, "output_high": high}, 0)
    assert det.shape == (17, 64, 96) and tag.shape == (17, 64, 96, 1)
    np.testing.assert_allclose(det, 0.4, rtol=1e-6)
    np.testing.assert_array_equal(tag[:, 0, 0, 0], np.arange(17))

    rng = np.random.default_rng(0)
    outs = {"output_low": rng.random((1, 34, 16, 24), dtype=np.float32),
            "output_high": rng.random((1, 17, 32, 48), dtype=np.float32)}
    perm = [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]  # HigherHRNet's FLIP_CONFIG['COCO']
    mirrored = {"output_low": outs["output_low"][:, perm + [17 + p for p in perm], :, ::-1].copy(),
                "output_high": outs["output_high"][:, perm, :, ::-1].copy()}
    det1, tag1 = codec.aggregate(outs, 0)
    det2, tag2 = codec.aggregate(outs, 0, mirrored)
    assert tag2.shape == (17, 64, 96, 2)
    np.testing.assert_allclose(det2, det1, atol=1e-6)
    np.testing.assert_allclose(tag2[..., 1], tag2[..., 0], atol=1e-6)


def test_flip_test_changes_the_predictions(built_samples, hhrnet, tmp_path):
    from robustpose_bench.evaluation import predict_onestage

    sample = built_samples["coco-c"]
    m = load_model(hhrnet, spec="higherhrnet", device="cpu")
    files = [json.loads(sample["ann"].read_text())["images"][0]["file_name"]]
    plain = predict_onestage(m, files, lambda f: sample["images"] / f, "coco", flip=False)[0]
    flipped = predict_onestage(m, files, lambda f: sample["images"] / f, "coco", flip=True)[0]
    assert len(plain) > 0 and len(flipped) > 0
    assert len(plain) != len(flipped) or not np.allclose(plain.keypoints, flipped.keypoints)
    rtmo = load_model(export_rtmo(tmp_path), spec="rtmo", device="cpu")
    with pytest.raises(UserError, match="output.kind=persons has no flip test"):
        predict_onestage(rtmo, files, lambda f: sample["images"] / f, "coco", flip=True)


@pytest.mark.parametrize("dataset", ["coco-c", "ochuman-c"])
def test_eval_higherhrnet_end_to_end(built_samples, hhrnet, tmp_path, dataset):
    """`eval --spec higherhrnet` on real builds: flip test on by default, every condition's AP is
    pycocotools' on the written predictions, and `score` reproduces the rows."""
    sample = built_samples[dataset]
    rc, out, err = run_cli(*eval_args(sample, hhrnet, "higherhrnet", dataset, tmp_path))
    assert rc == 0, err
    res = json.loads((tmp_path / "results.json").read_text())
    assert res["provenance"]["flip"] is True and res["config"]["flip"] is True
    assert res["config"]["pipeline"] == "onestage" and res["provenance"]["model"]["spec_source"] == "preset:higherhrnet"
    image_ids = {i["id"] for i in json.loads(sample["ann"].read_text())["images"]}
    for key, sev in (("clean", 0), ("gaussian_noise", 1), ("motion_blur", 1)):
        folder = tmp_path / "predictions" / (key if key == "clean" else f"{key}/{sev}")
        preds = json.loads((folder / "results.json").read_text())
        assert preds and all(len(p["keypoints"]) == 51 and p["image_id"] in image_ids for p in preds)
        row = next(r["value"] for r in res["rows"] if (r["corruption"], r["severity"], r["metric"]) == (key, sev, "AP"))
        assert row == cocoeval_direct(sample["ann"], preds)
    rc, _, _ = run_cli("score", "--dataset", dataset, "--ann", str(sample["ann"]), "--predictions",
                       str(tmp_path / "predictions"), "--partial", "-o", str(tmp_path / "scored.json"))
    assert rc == 0 and json.loads((tmp_path / "scored.json").read_text())["rows"] == res["rows"]


def test_eval_no_flip_is_recorded(built_samples, hhrnet, tmp_path):
    sample = built_samples["ochuman-c"]
    rc, _, err = run_cli(*eval_args(sample, hhrnet, "higherhrnet", "ochuman-c", tmp_path, "--no-flip",
                                    "--corruptions", "gaussian_noise"))
    assert rc == 0, err
    res = json.loads((tmp_path / "results.json").read_text())
    assert res["provenance"]["flip"] is False and res["config"]["flip"] is False


def test_static_export_is_refused_by_the_preset_and_by_a_spec(tmp_path, hhrnet):
    static = export_higherhrnet(tmp_path, dynamic=False)
    with pytest.raises(UserError) as exc:
        load_model(static, spec="higherhrnet", device="cpu")
    assert str(exc.value) == ("preset higherhrnet: expected an input with dynamic height and width (each image gets "
                              "its own size) [N,3,?,?], but the model's 'input' has shape [1,3,512,512]")
    spec = load_model(hhrnet, spec="higherhrnet", device="cpu").spec.to_dict()
    with pytest.raises(UserError, match=r"spec input.resize=short-side-align64 gives every image its own input size, "
                                        r"but model input 'input' has a fixed shape \[1,3,512,512\]"):
        load_model(static, spec=spec, device="cpu")


def test_outputs_without_2x17_plus_17_channels_are_one_line_errors(tmp_path, hhrnet):
    import torch

    from model_factory import _export

    class SeventeenTwice(torch.nn.Module):
        def forward(self, x):
            low = torch.nn.functional.avg_pool2d(x, 4).repeat(1, 6, 1, 1)[:, :17]
            return low, torch.nn.functional.avg_pool2d(x, 2).repeat(1, 6, 1, 1)[:, :17]

    axes = {"input": {2: "h", 3: "w"}, "a": {2: "h4", 3: "w4"}, "b": {2: "h2", 3: "w2"}}
    bad = _export(SeventeenTwice(), torch.zeros(1, 3, 64, 64), tmp_path / "bad.onnx", ["input"], ["a", "b"], axes)
    with pytest.raises(UserError) as exc:
        load_model(bad, spec="higherhrnet", device="cpu")
    assert str(exc.value) == ("preset higherhrnet: expected two outputs, [N,34,H/4,W/4] (17 heatmaps + 17 tags) and "
                              "[N,17,H/2,W/2] (17 heatmaps), but the model's outputs are 'a' [1,17,?,?], "
                              "'b' [1,17,?,?]")
    spec = load_model(hhrnet, spec="higherhrnet", device="cpu").spec.to_dict()
    spec["output"].update(low_name="a", high_name="b")
    with pytest.raises(UserError) as exc:
        load_model(bad, spec=spec, device="cpu")
    assert str(exc.value) == ("output.kind=associative-embedding expects 'a' [N,34,H/4,W/4] (17 heatmaps + 17 tags) "
                              "and 'b' [N,17,H/2,W/2] (17 heatmaps), but for a 512x512 input the model gives "
                              "'a' [1,17,128,128] and 'b' [1,17,256,256]")
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize("change, message", [
    ({"input": {"align": "center"}}, "input.align applies to resize 'letterbox' only"),
    ({"input": {"width": 640}}, "input.height and input.width must both be the model's size"),
    ({"output": {"nms_kernel": 4}}, "output.nms_kernel must be an odd window size"),
    ({"output": {"tag_thr": 0}}, "output.tag_thr must be > 0"),
    ({"keypoints": {"num": 16, "dataset_map": {"mpii": list(range(16))}}, "flip_pairs": []},
     "needs 17 keypoints"),
])
def test_bad_specs_name_the_field(hhrnet, change, message):
    spec = load_model(hhrnet, spec="higherhrnet", device="cpu").spec.to_dict()
    for k, v in change.items():
        if isinstance(v, dict) and k != "keypoints":
            spec[k].update(v)
        else:
            spec[k] = v
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_model(hhrnet, spec=spec, device="cpu")
