"""``train --backbone-weights``: ImageNet classification weights onto the pose nets' backbones, strictly.

Nothing is downloaded: the files are random state dicts with the real checkpoints' key names and
shapes, written here. torchvision cannot be imported in this environment or in CI (only its CUDA wheel
exists, which fails to import with the CPU torch; timm needs torchvision), so ``TorchvisionResNet50``
below is an independent re-statement of torchvision's ``models/resnet.py`` naming (``conv1, bn1,
layer1..4`` of Bottlenecks ``conv1/bn1/conv2/bn2/conv3/bn3`` with ``downsample.0/1`` on the first block
of each layer, stride on ``conv2``, ``fc`` = Linear(2048, 1000)), checked against facts about the real
``resnet50().state_dict()``: 320 tensors (53 convolutions, 53 BatchNorms x 5 including
``num_batches_tracked``, ``fc.weight`` and ``fc.bias``), ``fc.weight`` of shape [1000, 2048], and
25,557,032 parameters (torchvision's published count for ResNet-50).
"""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
import torch
from torch import nn

from _advmix_synth import make_coco_dataset
from cli_helpers import run_cli
from robustpose_bench.advmix.nets import build_net
from robustpose_bench.advmix.nets.backbone import load_backbone_weights
from robustpose_bench.errors import UserError

H, W = 64, 32


class _TvBottleneck(nn.Module):
    def __init__(self, inplanes: int, planes: int, stride: int, downsample: bool):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        if downsample:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes * 4, 1, stride, bias=False),
                                            nn.BatchNorm2d(planes * 4))


class TorchvisionResNet50(nn.Module):
    """torchvision's ResNet-50 module names and shapes (no forward: only its state dict is used)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        inplanes = 64
        for i, (planes, blocks) in enumerate(((64, 3), (128, 4), (256, 6), (512, 3)), start=1):
            layer = []
            for b in range(blocks):
                stride = 2 if (b == 0 and i > 1) else 1
                layer.append(_TvBottleneck(inplanes, planes, stride, downsample=b == 0))
                inplanes = planes * 4
            setattr(self, f"layer{i}", nn.Sequential(*layer))
        self.fc = nn.Linear(2048, 1000)


def imagenet_resnet50_state(seed: int = 0) -> dict[str, torch.Tensor]:
    """A random torchvision ResNet-50 state dict: values unlike any init, BN variances positive."""
    g = torch.Generator().manual_seed(seed)
    sd = TorchvisionResNet50().state_dict()
    out = {}
    for k, v in sd.items():
        if k.endswith("num_batches_tracked"):
            out[k] = torch.tensor(12345)
        elif k.endswith("running_var"):
            out[k] = torch.rand(v.shape, generator=g) + 0.5
        else:
            out[k] = torch.randn(v.shape, generator=g) * 0.05
    return out


def test_the_test_resnet50_has_torchvisions_state_dict_facts():
    m = TorchvisionResNet50()
    sd = m.state_dict()
    assert len(sd) == 320
    assert tuple(sd["fc.weight"].shape) == (1000, 2048) and tuple(sd["fc.bias"].shape) == (1000,)
    assert sum(k.endswith("num_batches_tracked") for k in sd) == 53
    assert sum(1 for mod in m.modules() if isinstance(mod, nn.Conv2d)) == 53
    assert sum(p.numel() for p in m.parameters()) == 25_557_032
    assert tuple(sd["layer2.0.downsample.0.weight"].shape) == (512, 256, 1, 1)
    assert tuple(sd["layer4.2.conv3.weight"].shape) == (2048, 512, 1, 1)


def test_resnet50_backbone_loads_exactly_and_the_head_is_left_alone():
    sd = imagenet_resnet50_state()
    torch.manual_seed(0)
    fresh = build_net("simplebaseline_r50", 17)
    torch.manual_seed(0)
    model = build_net("simplebaseline_r50", 17)
    record = load_backbone_weights_from(model, sd)
    own = model.state_dict()
    backbone = [k for k in own if not k.startswith(("deconv_layers.", "final_layer."))]
    assert len(backbone) == 318 and set(backbone) == set(sd) - {"fc.weight", "fc.bias"}
    for k in backbone:
        assert torch.equal(own[k], sd[k]), k
    for k in own:
        if k not in backbone:
            assert torch.equal(own[k], fresh.state_dict()[k]), k
    assert record["mapping"] == "torchvision-resnet" and record["loaded_tensors"] == 318
    assert record["ignored_tensors"] == 2 and record["ignored_prefixes"] == ["fc.*"]


def load_backbone_weights_from(model: nn.Module, sd: dict, arch: str = "simplebaseline_r50", tmp: Path | None = None):
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        path = Path(tmp or d) / "w.pth"
        torch.save(sd, path)
        return load_backbone_weights(model, arch, path)


@pytest.mark.parametrize("wrap", ["state_dict", "model", "module", "legacy"])
def test_wrapped_dataparallel_and_legacy_format_files_load_the_same(wrap, tmp_path):
    sd = imagenet_resnet50_state(1)
    obj = ({f"module.{k}": v for k, v in sd.items()} if wrap == "module" else
           sd if wrap == "legacy" else {wrap: sd, "epoch": 90})
    model = build_net("simplebaseline_r50", 17)
    path = tmp_path / "w.pth"
    # legacy: torch.save's format before PyTorch 1.6 (not a zip file), that of resnet50-19c8e357.pth
    torch.save(obj, path, _use_new_zipfile_serialization=wrap != "legacy")
    load_backbone_weights(model, "simplebaseline_r50", path)
    assert torch.equal(model.state_dict()["layer3.5.bn2.running_var"], sd["layer3.5.bn2.running_var"])


def test_a_file_without_batch_counters_loads_and_a_partial_one_does_not():
    # resnet50-19c8e357.pth predates PyTorch 0.4.1's num_batches_tracked: 267 tensors.
    sd = {k: v for k, v in imagenet_resnet50_state(2).items() if not k.endswith("num_batches_tracked")}
    assert len(sd) == 267
    model = build_net("simplebaseline_r50", 17)
    record = load_backbone_weights_from(model, sd)
    assert record["loaded_tensors"] == 265 and "left at 0" in record["num_batches_tracked"]
    assert int(model.state_dict()["bn1.num_batches_tracked"]) == 0
    partial = dict(sd, **{"bn1.num_batches_tracked": torch.tensor(3)})
    with pytest.raises(UserError, match=r"52 missing key\(s\) \(layer1\.0\.bn1\.num_batches_tracked"):
        load_backbone_weights_from(build_net("simplebaseline_r50", 17), partial)


# ---------------------------------------------------------------- through the CLI


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> tuple[Path, Path]:
    return make_coco_dataset(tmp_path_factory.mktemp("backbone_data"), n_images=4)


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("weights") / "resnet50-random.pth"
    torch.save(imagenet_resnet50_state(3), path)
    return path


def _train(data, out: Path, *extra) -> tuple[int, str, str]:
    images, ann = data
    # lr 1e-30: Adam's first step moves each weight by at most ~lr, so the trained parameters are the
    # iteration-0 weights to within 1e-30 (float32 leaves all but values near 0 exactly as they were).
    return run_cli("train", "--arch", "simplebaseline_r50", "--images", images, "--ann", ann,
                   "--image-size", f"{H}x{W}", "--batch-size", "2", "--lr", "1e-30", "--no-progress",
                   "--out", out, *extra)


def _one_line(err: str) -> str:
    assert err.count("\n") == 1 and err.startswith("robustpose-bench train: error: ") and "Traceback" not in err, err
    return err[len("robustpose-bench train: error: "):].rstrip("\n")


def test_cli_trains_from_the_file_and_records_it(data, weights, tmp_path):
    out = tmp_path / "run"
    rc, stdout, err = _train(data, out, "--backbone-weights", weights, "--max-iters", "1")
    assert rc == 0, err
    sd = torch.load(weights, weights_only=True)
    state = torch.load(out / "last.pth", weights_only=True)
    assert state["global_iter"] == 1
    trained = state["state_dict"]
    params = {n for n, _ in build_net("simplebaseline_r50", 17).named_parameters()}
    backbone_params = [k for k in params if not k.startswith(("deconv_layers.", "final_layer."))]
    assert len(backbone_params) == 159     # 53 convolutions + 53 BatchNorms x 2
    for k in backbone_params:
        torch.testing.assert_close(trained[k], sd[k], rtol=0, atol=1e-29, msg=k)
    run = json.loads((out / "run.json").read_text())
    rec = run["backbone_weights"]
    assert rec["file"] == str(weights) and rec["sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert rec["mapping"] == "torchvision-resnet" and rec["loaded_tensors"] == 318
    assert rec["ignored_prefixes"] == ["fc.*"] and rec["not_loaded"] == ["deconv_layers.*", "final_layer.*"]
    assert (out / "config.yaml").read_text().count(f"backbone_weights: {weights}") == 1

    # --resume: the file is not read again (here it is gone), and the record carries over.
    moved = tmp_path / "gone.pth"
    rc, _, err = _train(data, out, "--backbone-weights", moved, "--max-iters", "2", "--resume")
    assert rc == 0, err
    assert json.loads((out / "run.json").read_text())["backbone_weights"] == rec
    assert torch.load(out / "last.pth", weights_only=True)["global_iter"] == 2
    rc, _, err = _train(data, out, "--max-iters", "3", "--resume")
    assert rc == 2
    msg = _one_line(err)
    assert msg.startswith("--resume: ") and "was started from backbone weights" in msg and rec["sha256"] in msg


def _broken(tmp_path: Path, how: str) -> Path:
    sd = imagenet_resnet50_state(4)
    if how == "renamed":
        sd["layer1.0.conv_1.weight"] = sd.pop("layer1.0.conv1.weight")
    else:
        sd["conv1.weight"] = torch.zeros(64, 3, 3, 3)
    path = tmp_path / f"{how}.pth"
    torch.save(sd, path)
    return path


@pytest.mark.parametrize("how, problem", [
    ("renamed", "1 missing key(s) (layer1.0.conv1.weight); 1 unexpected key(s) (layer1.0.conv_1.weight)"),
    ("shape", "1 shape mismatch(es) (conv1.weight (64, 3, 3, 3) in the file, (64, 3, 7, 7) in simplebaseline_r50)"),
])
def test_a_file_that_does_not_fit_is_one_line_naming_file_count_and_keys(data, tmp_path, how, problem):
    path = _broken(tmp_path, how)
    out = tmp_path / "run"
    rc, stdout, err = _train(data, out, "--backbone-weights", path, "--max-iters", "1")
    assert rc == 2 and stdout == ""
    assert _one_line(err) == (
        f"backbone weights file {path}: does not fit the backbone of simplebaseline_r50 (torchvision ResNet naming "
        f"(conv1, bn1, layer1..4, fc); ignored as classifier parts: fc.*): {problem}")
    assert not out.exists()


def test_backbone_weights_and_pretrained_together_are_refused(data, weights, tmp_path):
    rc, _, err = _train(data, tmp_path / "run", "--backbone-weights", weights, "--pretrained", weights)
    assert rc == 2 and "'backbone_weights'" in _one_line(err) and "pretrained" in err


def test_a_resnet_of_another_size_is_one_line(data, weights, tmp_path):
    images, ann = data
    rc, _, err = run_cli("train", "--arch", "simplebaseline_r18_small", "--images", images, "--ann", ann,
                         "--image-size", f"{H}x{W}", "--batch-size", "2", "--no-progress", "--max-iters", "1",
                         "--backbone-weights", weights, "--out", tmp_path / "run")
    assert rc == 2
    # simplebaseline_r18_small is a ResNet at width 16: the names fit torchvision's, the shapes do not.
    assert re.search(r"shape mismatch\(es\) \(bn1\.bias \(64,\) in the file, \(16,\) in simplebaseline_r18_small",
                     _one_line(err)), err


def test_a_net_without_a_mapping_is_refused(weights):
    net = nn.Sequential(nn.Conv2d(3, 17, 3, 4, 1))
    with pytest.raises(UserError, match="no ImageNet backbone mapping for --arch tiny"):
        load_backbone_weights(net, "tiny", weights)


# ---------------------------------------------------------------- HRNet


def _timm_style_hrnet_w32(seed: int = 5) -> dict[str, torch.Tensor]:
    """HRNet-W32's classification checkpoint naming (HRNet-Image-Classification's cls_hrnet.py, kept by
    timm's hrnet.py): our pose net's backbone keys, plus the last stage-4 module's fusions into the lower
    resolutions and the classification head, none of which a pose net has."""
    g = torch.Generator().manual_seed(seed)
    net = build_net("hrnet_w32", 17)
    sd = {k: torch.randn(v.shape, generator=g) if v.is_floating_point() else torch.tensor(7)
          for k, v in net.state_dict().items() if not k.startswith("final_layer.")}
    extra = {
        "stage4.2.fuse_layers.1.0.0.0.weight": (64, 32, 3, 3), "stage4.2.fuse_layers.1.2.0.weight": (64, 128, 1, 1),
        "stage4.2.fuse_layers.3.2.0.1.running_mean": (256,),
        "incre_modules.0.0.conv1.weight": (32, 32, 1, 1), "downsamp_modules.0.0.weight": (256, 128, 3, 3),
        "final_layer.0.weight": (2048, 1024, 1, 1), "final_layer.1.running_var": (2048,),
        "classifier.weight": (1000, 2048), "classifier.bias": (1000,),
    }
    sd.update({k: torch.randn(s, generator=g) for k, s in extra.items()})
    return sd


def test_timm_style_hrnet_round_trips_onto_the_pose_backbone(tmp_path):
    sd = _timm_style_hrnet_w32()
    torch.manual_seed(0)
    model = build_net("hrnet_w32", 17)
    head = model.final_layer.weight.detach().clone()
    record = load_backbone_weights_from(model, sd, "hrnet_w32", tmp_path)
    own = model.state_dict()
    backbone = [k for k in own if not k.startswith("final_layer.")]
    for k in backbone:
        assert torch.equal(own[k], sd[k]), k
    assert torch.equal(model.final_layer.weight, head)
    assert record["mapping"] == "hrnet-imagenet" and record["loaded_tensors"] == len(backbone)
    assert record["ignored_prefixes"] == ["classifier.*", "downsamp_modules.*", "final_layer.*", "incre_modules.*",
                                          "stage4.2.fuse_layers.1.*", "stage4.2.fuse_layers.3.*"]
    sd["stage4.1.fuse_layers.1.0.0.0.weigth"] = torch.zeros(1)
    with pytest.raises(UserError, match=r"1 unexpected key\(s\) \(stage4\.1\.fuse_layers\.1\.0\.0\.0\.weigth\)"):
        load_backbone_weights_from(build_net("hrnet_w32", 17), sd, "hrnet_w32", tmp_path)


def test_two_processes_under_torchrun_each_load_the_file_before_ddp(data, tmp_path):
    """Every rank loads the same file before DistributedDataParallel wraps the net: the 2-process run
    starts from the file's weights (rank 0's are the ones saved; DDP would broadcast nothing else)."""
    from test_advmix_ddp import torchrun

    g = torch.Generator().manual_seed(6)
    # simplebaseline_r18_small's backbone under torchvision's names (a ResNet-18 at width 16), plus a head
    small = build_net("simplebaseline_r18_small", 17).state_dict()
    sd = {k: (torch.randn(v.shape, generator=g) * 0.05 if v.is_floating_point() else torch.tensor(1))
          for k, v in small.items() if not k.startswith(("deconv_layers.", "final_layer."))}
    sd.update({"fc.weight": torch.randn(1000, 128, generator=g), "fc.bias": torch.zeros(1000)})
    path = tmp_path / "r18_small_imagenet.pth"
    torch.save(sd, path)
    out = tmp_path / "run"
    images, ann = data
    proc = torchrun("-m", "robustpose_bench", "train", "--arch", "simplebaseline_r18_small", "--images", images,
                    "--ann", ann, "--image-size", f"{H}x{W}", "--batch-size", "4", "--lr", "1e-30", "--no-progress",
                    "--max-iters", "1", "--backbone-weights", path, "--out", out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    state = torch.load(out / "last.pth", weights_only=True)
    assert state["world_size"] == 2
    for k, _ in build_net("simplebaseline_r18_small", 17).named_parameters():
        if k in sd:
            torch.testing.assert_close(state["state_dict"][k], sd[k], rtol=0, atol=1e-29, msg=k)
    rec = json.loads((out / "run.json").read_text())["backbone_weights"]
    assert rec["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest() and rec["ignored_prefixes"] == ["fc.*"]
