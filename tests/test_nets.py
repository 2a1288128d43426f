"""SimpleBaseline / HRNet: official (HRNet-repo) key names, sizes, and strict checkpoint loading."""
from __future__ import annotations

import pytest
import torch

from robustpose_bench.advmix.checkpoint import load_file_strict, load_strict, unwrap_state_dict
from robustpose_bench.advmix.nets import ARCHS, build_net
from robustpose_bench.errors import UserError


def _nparams(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def test_simplebaseline_keys_and_size():
    m = build_net("simplebaseline_r50", 17)
    sd = m.state_dict()
    # pose_resnet.py names: torchvision ResNet backbone, deconv_layers Sequential, final_layer
    for key in ("conv1.weight", "bn1.running_mean", "layer1.0.conv3.weight", "layer1.0.downsample.0.weight",
                "layer1.0.downsample.1.num_batches_tracked", "layer4.2.bn3.bias", "deconv_layers.0.weight",
                "deconv_layers.1.running_var", "deconv_layers.3.weight", "deconv_layers.7.weight",
                "final_layer.weight", "final_layer.bias"):
        assert key in sd, key
    assert "deconv_layers.2.weight" not in sd and "fc.weight" not in sd
    assert sd["deconv_layers.0.weight"].shape == (2048, 256, 4, 4)
    assert sd["final_layer.weight"].shape == (17, 256, 1, 1)
    assert round(_nparams(m) / 1e6, 1) == 34.0        # SimpleBaseline paper / HRNet model zoo: 34.0M
    out = m.eval()(torch.zeros(1, 3, 64, 64))
    assert out.shape == (1, 17, 16, 16)
    r18 = build_net("simplebaseline_r18", 16).state_dict()
    assert "layer1.0.conv2.weight" in r18 and "layer1.0.conv3.weight" not in r18
    assert r18["deconv_layers.0.weight"].shape == (512, 256, 4, 4)


def test_hrnet_w32_keys_and_size():
    m = build_net("hrnet_w32", 17)
    sd = m.state_dict()
    for key in ("conv1.weight", "bn2.running_mean", "layer1.0.downsample.0.weight", "layer1.3.conv3.weight",
                "transition1.0.0.weight", "transition1.1.0.0.weight", "transition2.2.0.0.weight",
                "transition3.3.0.0.weight", "stage2.0.branches.1.3.bn2.running_var",
                "stage2.0.fuse_layers.0.1.0.weight", "stage2.0.fuse_layers.1.0.0.0.weight",
                "stage3.3.fuse_layers.2.0.0.0.weight", "stage3.3.fuse_layers.2.0.1.0.weight",
                "stage4.2.fuse_layers.0.3.1.running_mean", "stage4.1.fuse_layers.3.0.2.1.weight",
                "final_layer.weight"):
        assert key in sd, key
    # the last stage-4 module fuses into the high-resolution branch only, as in pose_hrnet.py
    assert not any(k.startswith("stage4.2.fuse_layers.1.") for k in sd)
    assert "transition2.0.0.weight" not in sd       # None entries hold no keys
    assert sd["transition1.0.0.weight"].shape == (32, 256, 3, 3)
    assert sd["final_layer.weight"].shape == (17, 32, 1, 1)
    assert round(_nparams(m) / 1e6, 1) == 28.5        # HRNet paper / model zoo: 28.5M
    assert m.eval()(torch.zeros(1, 3, 64, 96)).shape == (1, 17, 16, 24)


def test_hrnet_w48_size():
    assert round(_nparams(build_net("hrnet_w48", 17)) / 1e6, 1) == 63.6   # HRNet model zoo: 63.6M


def test_unknown_arch_is_user_error():
    with pytest.raises(UserError, match="hrnet_w32"):
        build_net("hrnet_w99", 17)
    assert set(ARCHS) >= {"simplebaseline_r18", "simplebaseline_r50", "simplebaseline_r101",
                          "simplebaseline_r152", "hrnet_w32", "hrnet_w48"}


@pytest.mark.parametrize("arch", ["simplebaseline_r18", pytest.param("hrnet_w32", marks=pytest.mark.slow)])
def test_hrnet_style_checkpoint_round_trip(tmp_path, arch):
    torch.manual_seed(0)
    src = build_net(arch, 17).eval()
    with torch.no_grad():                                # non-trivial BN statistics
        for name, buf in src.named_buffers():
            if "running_mean" in name:
                buf.normal_()
    # HRNet training checkpoints: {'state_dict': DataParallel keys 'module.*', ...}
    wrapped = {"epoch": 3, "state_dict": {f"module.{k}": v for k, v in src.state_dict().items()}}
    torch.save(wrapped, tmp_path / "checkpoint.pth")
    torch.save(src.state_dict(), tmp_path / "final_state.pth")
    x = torch.randn(1, 3, 64, 64)
    for f in ("checkpoint.pth", "final_state.pth"):
        torch.manual_seed(1)
        dst = build_net(arch, 17).eval()
        load_file_strict(dst, tmp_path / f)
        with torch.no_grad():
            assert torch.equal(dst(x), src(x))


def test_strict_loading_names_missing_unexpected_and_shape():
    m = build_net("simplebaseline_r18", 17)
    sd = dict(m.state_dict())
    sd.pop("final_layer.bias")
    sd["head.extra.weight"] = torch.zeros(1)
    sd["deconv_layers.0.weight"] = torch.zeros(3, 3)
    with pytest.raises(UserError) as err:
        load_strict(m, sd, source="w.pth")
    msg = str(err.value)
    assert "w.pth" in msg and "missing keys: final_layer.bias" in msg
    assert "unexpected keys: head.extra.weight" in msg and "deconv_layers.0.weight (3, 3)" in msg
    assert "\n" not in msg
    # a model of another keypoint count
    with pytest.raises(UserError, match="final_layer.weight"):
        load_strict(build_net("simplebaseline_r18", 16), m.state_dict())
    with pytest.raises(UserError, match="not a tensor"):
        unwrap_state_dict({"a": 1})


def test_missing_checkpoint_file(tmp_path):
    with pytest.raises(UserError, match="not found"):
        load_file_strict(build_net("simplebaseline_r18_small", 17), tmp_path / "nope.pth")
