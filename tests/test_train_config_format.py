"""Training configs: image_size is [height, width] as --image-size (config_format 2), an old
[width, height] file is refused rather than read as a landscape input, a run's own config.yaml
round-trips through --resume, and data paths from a config file fail naming that file and key."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from _advmix_synth import make_coco_dataset
from cli_helpers import run_cli
from robustpose_bench.advmix.config import CONFIG_FORMAT, load_config
from robustpose_bench.errors import UserError

H, W = 64, 32
PREFIX = "robustpose-bench train: error: "


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> tuple[Path, Path]:
    return make_coco_dataset(tmp_path_factory.mktemp("config_format"), n_images=4)


def _one_line(err: str) -> str:
    assert err.count("\n") == 1 and err.startswith(PREFIX) and "Traceback" not in err, err
    return err[len(PREFIX):].rstrip("\n")


def _train(*argv) -> tuple[int, str, str]:
    return run_cli("train", "--arch", "simplebaseline_r18_small", "--batch-size", "2", "--no-progress", *argv)


def test_an_old_width_by_height_file_is_refused_with_what_to_write(data, tmp_path):
    images, ann = data
    old = tmp_path / "old.yaml"
    old.write_text("image_size: [192, 256]\nheatmap_size: [48, 64]\n")
    out = tmp_path / "run"
    rc, stdout, err = _train("--config", old, "--images", images, "--ann", ann, "--out", out, "--max-iters", "1")
    assert rc == 2 and stdout == "" and not out.exists()
    assert _one_line(err) == (
        f"{old}: config field 'image_size': [192, 256] is now [height, width], as --image-size, and would train a "
        "192-high x 256-wide (landscape) input; for the old [width, height] order's 256x192 input write "
        "image_size: [256, 192] and heatmap_size: [64, 48], or add config_format: 2 to keep 192x256")
    with pytest.raises(UserError, match="is now \\[height, width\\]"):
        load_config(old)


def test_config_format_2_keeps_any_order_and_new_portrait_files_need_no_marker(tmp_path):
    landscape = tmp_path / "landscape.yaml"
    landscape.write_text("config_format: 2\nimage_size: [192, 256]\nheatmap_size: [48, 64]\n")
    cfg = load_config(landscape)
    cfg.validate()
    assert cfg.image_size == [192, 256]
    portrait = tmp_path / "portrait.yaml"
    portrait.write_text("image_size: [256, 192]\nheatmap_size: [64, 48]\n")
    assert load_config(portrait).image_size == [256, 192]
    bad = tmp_path / "format1.yaml"
    bad.write_text("config_format: 1\n")
    with pytest.raises(UserError, match="config field 'config_format': must be 2"):
        load_config(bad).validate(str(bad))


def test_image_size_flag_and_config_agree_and_a_resumed_runs_config_round_trips(data, tmp_path):
    images, ann = data
    out = tmp_path / "run"
    rc, _, err = _train("--images", images, "--ann", ann, "--image-size", f"{H}x{W}", "--out", out,
                        "--max-iters", "1")
    assert rc == 0, err
    written = yaml.safe_load((out / "config.yaml").read_text())
    assert written["config_format"] == CONFIG_FORMAT
    assert written["image_size"] == [H, W] and written["heatmap_size"] == [H // 4, W // 4]
    state = torch.load(out / "last.pth", weights_only=True)
    assert state["config"] == written
    # the run's own config.yaml, given back with --resume, is the same recipe
    rc, _, err = _train("--config", out / "config.yaml", "--out", out, "--resume", "--max-iters", "2")
    assert rc == 0, err
    assert yaml.safe_load((out / "config.yaml").read_text()) == {**written, "max_iters": 2}
    assert torch.load(out / "last.pth", weights_only=True)["global_iter"] == 2
    # a config that reads as another size is another recipe
    other = tmp_path / "other.yaml"
    other.write_text(yaml.safe_dump({**written, "image_size": [W, H], "heatmap_size": [W // 4, H // 4]}))
    rc, _, err = _train("--config", other, "--out", out, "--resume", "--max-iters", "3")
    assert rc == 2 and "'image_size'" in _one_line(err)


def test_a_checkpoint_from_before_config_format_exports_at_its_real_size(data, tmp_path):
    """Checkpoints written before format 2 hold [width, height]: they are read as such (exactly)."""
    from robustpose_bench.advmix.export import load_trained

    images, ann = data
    out = tmp_path / "run"
    rc, _, err = _train("--images", images, "--ann", ann, "--image-size", f"{H}x{W}", "--out", out, "--max-iters", "1")
    assert rc == 0, err
    state = torch.load(out / "last.pth", weights_only=True)
    cfg = dict(state["config"])
    del cfg["config_format"]
    cfg["image_size"], cfg["heatmap_size"] = [W, H], [W // 4, H // 4]   # as the old trainer stored them
    state["config"] = cfg
    old = tmp_path / "old.pth"
    torch.save(state, old)
    _, got = load_trained(old)
    assert got["image_size"] == [H, W] and got["heatmap_size"] == [H // 4, W // 4]
    rc, _, err = run_cli("export", old, "-o", tmp_path / "m.onnx")
    assert rc == 0, err
    from robustpose_bench.models.loader import load_model

    spec = load_model(tmp_path / "m.onnx", device="cpu").spec
    assert (spec.input.height, spec.input.width) == (H, W)


@pytest.mark.parametrize("field", ["images", "ann"])
def test_a_data_path_from_the_config_names_the_file_key_and_layout(data, tmp_path, field):
    images, ann = data
    values = {"images": str(images), "ann": str(ann)}
    values[field] = "data/coco/images/train2017" if field == "images" else "data/coco/annotations/x.json"
    config = tmp_path / "paths.yaml"
    config.write_text(yaml.safe_dump(values))
    out = tmp_path / "run"
    rc, _, err = _train("--config", config, "--image-size", f"{H}x{W}", "--out", out, "--max-iters", "1")
    assert rc == 2 and not out.exists()
    what = "image folder" if field == "images" else "annotation file"
    assert _one_line(err) == (
        f"{config}: config field '{field}': {what} {values[field]} not found, relative to the working directory "
        f"{Path.cwd()}; expected the coco layout ROOT/train2017/ (images) + "
        f"ROOT/annotations/person_keypoints_train2017.json (ann), or give --{field} on the command line")
    # the same path on the command line wins over the config, and is checked there
    rc, _, err = _train("--config", config, f"--{field}", values[field], "--image-size", f"{H}x{W}", "--out", out,
                        "--max-iters", "1")
    assert rc == 2 and _one_line(err).startswith(f"--{field} {values[field]}: ")
    assert "ROOT/annotations/person_keypoints_train2017.json" in err and not out.exists()


def test_shipped_paper_configs_carry_no_data_paths_and_name_their_imagenet_weights():
    from robustpose_bench.advmix.config import shipped_config

    for name, weights in (("coco_simplebaseline_r50_256x192", "resnet50-19c8e357.pth"),
                          ("mpii_simplebaseline_r50_256x256", "resnet50-19c8e357.pth"),
                          ("coco_hrnet_w32_256x192", "hrnet_w32-36af842e.pth"),
                          ("mpii_hrnet_w32_256x256", "hrnet_w32-36af842e.pth")):
        path = shipped_config(name)
        values = yaml.safe_load(path.read_text())
        assert "images" not in values and "ann" not in values, name
        assert values["config_format"] == CONFIG_FORMAT and values["backbone_weights"] is None
        assert weights in path.read_text()
        h, w = values["image_size"]
        assert h >= w and [h // 4, w // 4] == values["heatmap_size"]


def test_without_data_the_error_names_the_training_layout(tmp_path):
    rc, _, err = _train("--config", "mpii_simplebaseline_r50_256x256", "--out", tmp_path / "run")
    assert rc == 2
    assert _one_line(err) == ("training data: give --images DIR and --ann FILE (the mpii layout ROOT/images/ (images) "
                              "+ ROOT/annot/train.json (ann)), or images/ann in the config")
