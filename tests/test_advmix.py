"""AdvMix trainer: loss definitions, adversarial sign, frozen teacher, mixing, data, CLI training."""
from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch
from torch import nn

from _advmix_synth import make_coco_dataset
from robustpose_bench.advmix.augment import SUB_POLICIES, autoaugment, gridmask_mask
from robustpose_bench.advmix.config import TrainConfig, load_config, shipped_config
from robustpose_bench.advmix.data import gaussian_targets, read_coco
from robustpose_bench.advmix.generator import UnetGenerator, max_levels, mix
from robustpose_bench.advmix.losses import joints_mse_loss, pose_loss
from robustpose_bench.advmix.trainer import (
    Stepper, build_generator, frozen_bn_buffers, frozen_params, make_teacher, mixing_weights,
)
from robustpose_bench.cli import main
from robustpose_bench.errors import UserError

W, H = 32, 64           # crop (w, h): heatmaps 8 x 16 (SimpleBaseline needs multiples of 32)


class TinyPoseNet(nn.Module):
    """Any (N,3,H,W) -> (N,K,H/4,W/4) module must train: a 3-conv net with BatchNorm."""

    def __init__(self, k: int = 17):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, 16, 3, 2, 1), nn.BatchNorm2d(16), nn.ReLU(),
            nn.Conv2d(16, 32, 3, 2, 1), nn.BatchNorm2d(32), nn.ReLU(),
            nn.Conv2d(32, 32, 3, 1, 1), nn.BatchNorm2d(32), nn.ReLU(),
            nn.Conv2d(32, k, 1),
        )

    def forward(self, x):
        return self.body(x)


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("advmix_data")
    return make_coco_dataset(root, n_images=8)


def _cfg(tiny_data, **kw) -> TrainConfig:
    images, ann = tiny_data
    cfg = TrainConfig(arch="simplebaseline_r18_small", images=str(images), ann=str(ann),
                      image_size=[H, W], heatmap_size=[H // 4, W // 4], batch_size=4, epochs=1,
                      generator_ngf=8, amp=False)
    for k, v in kw.items():
        setattr(cfg, k, v)
    cfg.validate()
    return cfg


def _batch(cfg: TrainConfig, mode: str, n: int = 4, epoch: int = 0):
    from robustpose_bench.advmix.trainer import build_dataset
    ds = build_dataset(cfg)
    assert ds.proposals == mode
    ds.set_epoch(epoch)
    items = [ds[i] for i in range(n)]
    return tuple(torch.stack([it[j] for it in items]) for j in range(3))


# ----------------------------------------------------------------------------------------------
# losses


def test_joints_mse_matches_hrnet_per_joint_loop():
    g = torch.Generator().manual_seed(0)
    pred, gt = torch.randn(3, 5, 4, 6, generator=g), torch.randn(3, 5, 4, 6, generator=g)
    w = (torch.rand(3, 5, 1, generator=g) > 0.3).float()
    # HRNet JointsMSELoss(use_target_weight=True): per joint 0.5*MSELoss(mean) of weighted maps.
    ref = 0.0
    for j in range(5):
        p, t = pred[:, j].reshape(3, -1), gt[:, j].reshape(3, -1)
        ref += 0.5 * nn.functional.mse_loss(p * w[:, j], t * w[:, j])
    ref /= 5
    assert torch.allclose(joints_mse_loss(pred, gt, w), ref, rtol=1e-6, atol=0)
    # real MSE, not SmoothL1: scaling the error by 10 scales the loss by 100
    assert torch.allclose(joints_mse_loss(gt + 10 * (pred - gt), gt, w), 100 * ref, rtol=1e-5)


def test_alpha_zero_removes_kd_exactly():
    g = torch.Generator().manual_seed(1)
    pred, gt, teach = (torch.randn(2, 3, 4, 4, generator=g) for _ in range(3))
    w = torch.ones(2, 3, 1)
    assert torch.equal(pose_loss(pred, gt, w, teach, 0.0), joints_mse_loss(pred, gt, w))
    kd = pose_loss(pred, gt, w, teach, 0.1)
    assert torch.allclose(kd, 0.9 * joints_mse_loss(pred, gt, w) + 0.1 * joints_mse_loss(pred, teach, w))
    assert not torch.allclose(kd, joints_mse_loss(pred, gt, w))


def test_alpha_zero_training_equals_no_kd(tiny_data):
    props, target, weight = _batch(_cfg(tiny_data, method="advmix"), "advmix")
    torch.manual_seed(0)
    base = TinyPoseNet()
    gen = build_generator(_cfg(tiny_data, method="advmix"))
    runs = []
    for kw in ({"alpha": 0.0}, {"kd": False}):
        cfg = _cfg(tiny_data, method="advmix", **kw)
        model = copy.deepcopy(base)
        st = Stepper(model, cfg, torch.device("cpu"), teacher=make_teacher(base), generator=copy.deepcopy(gen))
        assert st.teacher is None
        for _ in range(2):
            st.step(props, target, weight)
        runs.append(model.state_dict())
    for k in runs[0]:
        assert torch.equal(runs[0][k], runs[1][k]), k


# ----------------------------------------------------------------------------------------------
# mixing and generator


@pytest.mark.parametrize("mode", ["adv", "adv-image", "equal", "dirichlet"])
def test_mixing_weights_are_a_softmax_over_proposals(mode):
    torch.manual_seed(0)
    props = torch.randn(2, 3, 3, 32, 32)
    gen = UnetGenerator(3, max_levels(32, 32), ngf=8)
    w = mixing_weights(mode, props, gen, torch.Generator().manual_seed(0))
    assert (w >= 0).all()
    assert torch.allclose(w.sum(dim=1), torch.ones_like(w.sum(dim=1)), atol=1e-6)
    if mode == "adv":
        assert w.shape == (2, 3, 32, 32)
        assert w.std(dim=(2, 3)).max() > 0      # per-pixel, not constant
    m = mix(props, w)
    assert m.shape == (2, 3, 32, 32)
    # a convex combination lies within the proposals' range at every pixel
    assert (m <= props.max(dim=1).values + 1e-5).all() and (m >= props.min(dim=1).values - 1e-5).all()


def test_generator_architecture():
    assert max_levels(256, 192) == 6 and max_levels(64, 48) == 4
    g = UnetGenerator(3, 6, 64)
    convs = [m for m in g.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 128, 256, 512, 512, 512]
    assert all(c.kernel_size == (4, 4) and c.stride == (2, 2) for c in convs)
    assert any(isinstance(m, nn.InstanceNorm2d) for m in g.modules())
    assert not any(isinstance(m, nn.Tanh) for m in g.modules())
    assert sum(isinstance(m, nn.LeakyReLU) and m.negative_slope == 0.2 for m in g.modules()) == 5
    out = UnetGenerator(3, 4, 8)(torch.randn(1, 3, 3, 64, 48))
    assert out.shape == (1, 3, 64, 48)


# ----------------------------------------------------------------------------------------------
# the AdvMix iteration


def _loss_on(model, generator, props, target, weight):
    """Pose loss on the generator's mix with train-mode BN (batch stats) and no state change."""
    with torch.no_grad(), frozen_bn_buffers(model):
        model.train()
        m = mix(props, mixing_weights("adv", props, generator))
        return float(joints_mse_loss(model(m), target, weight))


def test_adversarial_sign_and_pose_step(tiny_data):
    cfg = _cfg(tiny_data, method="advmix", kd=False, lr=1e-3, generator_lr=1e-3)
    props, target, weight = _batch(cfg, "advmix")
    torch.manual_seed(0)
    model = TinyPoseNet()
    gen = build_generator(cfg)
    st = Stepper(model, cfg, torch.device("cpu"), generator=gen)
    for _ in range(2):                     # let Adam's moments settle
        st.step(props, target, weight)
    # pose step alone decreases the loss on the same (detached) mix
    before = _loss_on(model, gen, props, target, weight)
    gen_snapshot = copy.deepcopy(gen.state_dict())
    st.step(props, target, weight)
    gen_after = copy.deepcopy(gen.state_dict())
    gen.load_state_dict(gen_snapshot)
    after_pose = _loss_on(model, gen, props, target, weight)
    assert after_pose < before
    # the generator step increases it (with the pose net fixed)
    gen.load_state_dict(gen_after)
    after_gen = _loss_on(model, gen, props, target, weight)
    assert after_gen > after_pose


def test_generator_step_leaves_pose_net_and_bn_stats_alone(tiny_data):
    cfg = _cfg(tiny_data, method="advmix", kd=False)
    props, target, weight = _batch(cfg, "advmix")
    torch.manual_seed(0)
    model = TinyPoseNet()
    # Reference: the same pose step without a generator step after it ("equal" needs none) cannot be
    # compared directly, so check the pieces: frozen_bn_buffers undoes a train-mode forward exactly,
    # and frozen_params produces no pose gradients.
    sd = copy.deepcopy(model.state_dict())
    with frozen_params(model), frozen_bn_buffers(model):
        model.train()
        out = model(props[:, 0])
    for k, v in model.state_dict().items():
        assert torch.equal(v, sd[k]), k
    assert not out.requires_grad
    assert all(p.requires_grad for p in model.parameters())
    # In a full step, BN buffers move exactly as in one training forward on the mix.
    gen = build_generator(cfg)
    m1, m2 = copy.deepcopy(model), copy.deepcopy(model)
    st = Stepper(m1, cfg, torch.device("cpu"), generator=copy.deepcopy(gen))
    with torch.no_grad():
        mixed = mix(props, mixing_weights("adv", props, gen))
    st.step(props, target, weight)
    m2.train()
    with torch.no_grad():
        m2(mixed)
    for name, buf in m1.named_buffers():
        assert torch.allclose(buf.float(), dict(m2.named_buffers())[name].float(), atol=1e-6), name


def test_teacher_never_changes(tiny_data):
    cfg = _cfg(tiny_data, method="advmix")
    props, target, weight = _batch(cfg, "advmix")
    torch.manual_seed(0)
    model = TinyPoseNet()
    teacher = make_teacher(model)
    ref = {k: v.clone() for k, v in teacher.state_dict().items()}
    st = Stepper(model, cfg, torch.device("cpu"), teacher=teacher, generator=build_generator(cfg))
    for _ in range(3):
        st.step(props, target, weight)
    assert not teacher.training
    for k, v in teacher.state_dict().items():
        assert torch.equal(v, ref[k]), k
    assert any(not torch.equal(v, ref[k]) for k, v in model.state_dict().items())


@pytest.mark.parametrize("method,mix_mode", [("standard", "adv"), ("advmix", "adv"), ("advmix", "sequential")])
def test_training_loss_falls(tiny_data, method, mix_mode):
    cfg = _cfg(tiny_data, method=method, mix=mix_mode, lr=2e-3)
    mode = "standard" if method == "standard" else ("sequential" if mix_mode == "sequential" else "advmix")
    props, target, weight = _batch(cfg, mode, n=8)
    torch.manual_seed(0)
    model = TinyPoseNet()
    teacher = make_teacher(model) if method == "advmix" else None
    gen = build_generator(cfg) if mix_mode == "adv" and method == "advmix" else None
    st = Stepper(model, cfg, torch.device("cpu"), teacher=teacher, generator=gen)
    losses = [st.step(props, target, weight, torch.Generator().manual_seed(i)).loss for i in range(12)]
    assert np.mean(losses[-3:]) < 0.7 * np.mean(losses[:3]), losses


# ----------------------------------------------------------------------------------------------
# data and augmentation


def test_gaussian_targets_hrnet_rules():
    joints = np.array([[20.0, 30.0], [-100.0, 5.0], [10.0, 10.0]], np.float32)
    vis = np.array([1.0, 1.0, 0.0], np.float32)
    t, w = gaussian_targets(joints, vis, (48, 64), (12, 16), 2.0)
    assert t.shape == (3, 16, 12) and w.shape == (3, 1)
    assert np.unravel_index(t[0].argmax(), t[0].shape) == (8, 5)     # int(30/4+.5), int(20/4+.5)
    assert t[0].max() == 1.0
    assert w[:, 0].tolist() == [1.0, 0.0, 0.0] and t[1].max() == 0 and t[2].max() == 0


def test_autoaugment_subset_and_gridmask():
    ops = {p[1] for p in SUB_POLICIES} | {p[4] for p in SUB_POLICIES}
    assert ops == {"equalize", "posterize", "solarize", "invert", "sharpness"}
    assert sum("sharpness" in (p[1], p[4]) for p in SUB_POLICIES) == 1
    img = np.random.default_rng(0).integers(0, 256, (64, 48, 3), dtype=np.uint8)
    a = autoaugment(img, np.random.default_rng(5))
    assert a.dtype == np.uint8 and a.shape == img.shape
    assert np.array_equal(a, autoaugment(img, np.random.default_rng(5)))
    masks = [gridmask_mask(64, 48, np.random.default_rng(i)) for i in range(400)]
    applied = [m for m in masks if m is not None]
    assert 0.62 < len(applied) / len(masks) < 0.78           # prob 0.7
    assert all(set(np.unique(m)) <= {0.0, 1.0} for m in applied)
    kept = np.mean([m.mean() for m in applied])
    assert 0.6 < kept < 0.9                                   # stripes kept: ~1-(1-0.5)^2


def test_dataset_is_seeded_and_proposals_share_geometry(tiny_data):
    cfg = _cfg(tiny_data, method="advmix")
    from robustpose_bench.advmix.trainer import build_dataset
    ds = build_dataset(cfg)
    a, b = ds[3], ds[3]
    for x, y in zip(a, b):
        assert torch.equal(x, y)
    props, target, weight = a
    assert props.shape == (3, 3, H, W) and target.shape == (17, H // 4, W // 4) and weight.shape == (17, 1)
    # GridMask keeps the clean crop exactly wherever its mask is 1 (same geometry).
    clean, grid = props[0], props[2]
    keep = (grid != 0).all(dim=0)
    assert torch.equal(grid[:, keep], clean[:, keep])
    ds.set_epoch(1)
    assert not torch.equal(ds[3][0], props)


def test_coco_reader_skips_unlabelled_and_crowd(tmp_path, tiny_data):
    images, ann = tiny_data
    data = json.loads(ann.read_text())
    data["annotations"][0]["keypoints"] = [0] * 51
    data["annotations"][1]["iscrowd"] = 1
    p = tmp_path / "a.json"
    p.write_text(json.dumps(data))
    recs = read_coco(p, images, 0.75)
    assert len(recs) == len(data["annotations"]) - 2
    # HRNet's _xywh2cs: box padded to aspect 0.75 and 1.25x, in units of 200 px
    x, y, w, h = data["annotations"][2]["bbox"]
    w2, h2 = min(95.0, x + w - 1) - x, min(127.0, y + h - 1) - y
    hh = max(h2, w2 / 0.75)
    assert np.allclose(recs[0].scale, [hh * 0.75 / 200 * 1.25, hh / 200 * 1.25], rtol=1e-5)


# ----------------------------------------------------------------------------------------------
# config and CLI


def test_shipped_configs_load_and_unknown_keys_fail(tmp_path):
    for name in ("coco_simplebaseline_r50_256x192", "coco_hrnet_w32_256x192",
                 "mpii_simplebaseline_r50_256x256", "mpii_hrnet_w32_256x256"):
        cfg = load_config(shipped_config(name))
        cfg.validate()
        assert cfg.lr == 1e-3 and cfg.sigma == 2.0
    bad = tmp_path / "bad.yaml"
    bad.write_text("arch: hrnet_w32\nlearning_rate: 0.1\n")
    with pytest.raises(UserError, match="learning_rate"):
        load_config(bad)


def test_cli_train_resume_advmix(tmp_path, tiny_data, capsys):
    images, ann = tiny_data
    common = ["--arch", "simplebaseline_r18_small", "--dataset", "coco", "--images", str(images), "--ann", str(ann),
              "--image-size", f"{H}x{W}", "--batch-size", "2", "--epochs", "2", "--no-progress"]
    std = tmp_path / "std"
    assert main(["train", "--method", "standard", "--out", str(std), "--max-iters", "2", *common]) == 0
    first = torch.load(std / "last.pth", weights_only=True)
    assert first["global_iter"] == 2 and first["epoch"] == 0 and first["iter_in_epoch"] == 2
    assert (std / "config.yaml").is_file() and (std / "run.json").is_file()
    # running again without --resume refuses to overwrite
    assert main(["train", "--method", "standard", "--out", str(std), "--max-iters", "3", *common]) == 2
    assert "--resume" in capsys.readouterr().err
    assert main(["train", "--method", "standard", "--out", str(std), "--max-iters", "5", "--resume", *common]) == 0
    resumed = torch.load(std / "last.pth", weights_only=True)
    assert resumed["global_iter"] == 5 and resumed["epoch"] == 1 and resumed["iter_in_epoch"] == 1
    # resume gives the same weights as an uninterrupted run (seeded, deterministic on CPU)
    straight = tmp_path / "straight"
    assert main(["train", "--method", "standard", "--out", str(straight), "--max-iters", "5", *common]) == 0
    s2 = torch.load(straight / "last.pth", weights_only=True)["state_dict"]
    for k, v in resumed["state_dict"].items():
        assert torch.equal(v, s2[k]), k
    # AdvMix from the standard model (the teacher), then its ablation flags
    adv = tmp_path / "adv"
    assert main(["train", "--method", "advmix", "--out", str(adv), "--max-iters", "2",
                 "--pretrained", str(std / "last.pth"), *common]) == 0
    state = torch.load(adv / "last.pth", weights_only=True)
    assert "generator" in state and "teacher" in state
    for k, v in state["teacher"].items():
        assert torch.equal(v, resumed["state_dict"][k]), k
    assert main(["train", "--method", "advmix", "--out", str(tmp_path / "nokd"), "--max-iters", "1",
                 "--no-kd", "--mix", "equal", *common]) == 0
    # KD without a teacher is a one-line user error
    assert main(["train", "--method", "advmix", "--out", str(tmp_path / "x"), "--max-iters", "1", *common]) == 2
    assert "--pretrained" in capsys.readouterr().err


def test_mpii_reader_and_crop_on_real_sample(shared_dir):
    """HRNet's mpii.py rules on the real MPII sample: centre +15*scale px, scale x1.25, 0-based joints."""
    from robustpose_bench.advmix.data import AugmentConfig, TopDownDataset, read_mpii

    root = shared_dir / "data" / "mpii_sample"
    raw = json.loads((root / "test_mpii.json").read_text())
    recs = read_mpii(root / "test_mpii.json", root)
    assert len(recs) == len(raw) == 5
    a, r = raw[0], recs[0]
    assert np.allclose(r.center, [a["center"][0] - 1, a["center"][1] + 15 * a["scale"] - 1])
    assert np.allclose(r.scale, [a["scale"] * 1.25] * 2)
    assert np.allclose(r.joints, np.asarray(a["joints"]) - 1)
    ds = TopDownDataset(recs, "mpii", (64, 64), (16, 16), AugmentConfig(), proposals="standard", train=False)
    props, target, weight = ds[0]
    assert props.shape == (1, 3, 64, 64) and target.shape == (16, 16, 16)
    # without augmentation, each labelled joint's heatmap peak is where the affine warp puts it
    from robustpose_bench.advmix.data import affine_points, get_affine_transform
    t = get_affine_transform(r.center, r.scale, 0.0, (64, 64))
    pts = affine_points(r.joints, t) / 4
    for j in np.flatnonzero(weight[:, 0].numpy() > 0):
        y, x = np.unravel_index(int(target[j].argmax()), (16, 16))
        assert (x, y) == (int(pts[j, 0] + 0.5), int(pts[j, 1] + 0.5)), j
    assert weight.sum() > 8


# ----------------------------------------------------------------------------------------------
# effective batch (gradient accumulation) and the official configs


class NoBNPoseNet(nn.Module):
    """A BatchNorm-free heatmap net: without BN, accumulating micro-batches must equal one big batch."""

    def __init__(self, k: int = 17):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.ReLU(), nn.Conv2d(8, 8, 3, 2, 1), nn.ReLU(),
                                  nn.Conv2d(8, k, 1))

    def forward(self, x):
        return self.body(x)


@pytest.mark.parametrize("method,mix_mode", [("standard", "adv"), ("advmix", "equal"), ("advmix", "adv")])
def test_accumulated_step_equals_one_big_batch(tiny_data, method, mix_mode):
    cfg = _cfg(tiny_data, method=method, mix=mix_mode)
    mode = "standard" if method == "standard" else "advmix"
    proposals, target, weight = _batch(cfg, mode, n=4)
    torch.manual_seed(0)
    net = NoBNPoseNet()
    gen = build_generator(cfg) if mix_mode == "adv" and method == "advmix" else None
    steppers = []
    for _ in range(2):
        m = copy.deepcopy(net)
        steppers.append(Stepper(m, cfg, torch.device("cpu"), teacher=make_teacher(m) if method == "advmix" else None,
                                generator=copy.deepcopy(gen) if gen is not None else None))
    big = steppers[0].step(proposals, target, weight)
    halves = [(proposals[i:i + 2], target[i:i + 2], weight[i:i + 2]) for i in (0, 2)]
    acc = steppers[1].step_accumulated(halves)
    assert acc.loss == pytest.approx(big.loss, rel=1e-5)
    if method == "advmix":
        assert acc.mix_weights == pytest.approx(big.mix_weights, rel=1e-5)
        assert abs(sum(acc.mix_weights) - 1) < 1e-5
    # The gradients (left in .grad by the step) are the big batch's: Adam's update alone would hide a
    # wrong scale, because it divides the gradient by its own magnitude.
    for a, b in zip(steppers[0].model.parameters(), steppers[1].model.parameters()):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-4, atol=1e-8)
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    if gen is not None:
        assert acc.gen_loss == pytest.approx(big.gen_loss, rel=1e-5)
        for a, b in zip(steppers[0].generator.parameters(), steppers[1].generator.parameters()):
            torch.testing.assert_close(a.grad, b.grad, rtol=1e-4, atol=1e-8)
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
        moved = any(not torch.equal(a, b) for a, b in zip(gen.parameters(), steppers[1].generator.parameters()))
        assert moved   # the generator step ran


# (effective batch, half-body probability) of the official files each shipped config follows:
# AIprogrammer/AdvMix experiments/*_advmix.yaml (GPUS x TRAIN.BATCH_SIZE_PER_GPU; DATASET.PROB_HALF_BODY,
# default 0.0 in lib/config/default.py when absent); COCO HRNet-W32 has no AdvMix file there: its
# w32_256x192_adam_lr1e-3.yaml, identical to HRNet's, runs 4 GPUs.
OFFICIAL = {
    "coco_simplebaseline_r50_256x192": (256, 0.0),
    "coco_hrnet_w32_256x192": (128, 0.3),
    "mpii_simplebaseline_r50_256x256": (256, -1.0),
    "mpii_hrnet_w32_256x256": (256, -1.0),
}


@pytest.mark.parametrize("name", sorted(OFFICIAL))
def test_shipped_configs_have_the_official_effective_batch_and_half_body(name):
    cfg = load_config(shipped_config(name))
    batch, half_body = OFFICIAL[name]
    assert cfg.batch_size * cfg.grad_accum == batch
    assert cfg.batch_size == 32     # per forward pass, as per GPU there
    assert cfg.prob_half_body == half_body


def test_grad_accum_counts_steps_and_resumes_bit_identically(tmp_path, tiny_data):
    from robustpose_bench.advmix.trainer import train

    def run(out, max_iters, resume=False):
        cfg = _cfg(tiny_data, method="advmix", mix="equal", kd=False, batch_size=2, grad_accum=2, epochs=3,
                   max_iters=max_iters)
        return train(cfg, out, resume=resume, progress=False)

    first = run(tmp_path / "a", 3)      # 8 persons / (2 x 2) = 2 steps per epoch: stops mid-epoch 1
    state = torch.load(tmp_path / "a" / "last.pth", weights_only=True)
    assert (state["global_iter"], state["epoch"], state["iter_in_epoch"]) == (3, 1, 1)
    assert json.loads((tmp_path / "a" / "run.json").read_text())["effective_batch"] == 4
    assert first["history"][0]["iters"] == 2 and len(first["history"][0]["mix_weight_sum"]) == 3
    run(tmp_path / "a", 5, resume=True)
    run(tmp_path / "b", 5)
    a = torch.load(tmp_path / "a" / "last.pth", weights_only=True)["state_dict"]
    b = torch.load(tmp_path / "b" / "last.pth", weights_only=True)["state_dict"]
    for k in a:
        assert torch.equal(a[k], b[k]), k
    with pytest.raises(UserError, match="grad_accum"):
        cfg = _cfg(tiny_data, method="advmix", mix="equal", kd=False, batch_size=2, grad_accum=1, epochs=3,
                   max_iters=6)
        train(cfg, tmp_path / "a", resume=True, progress=False)


def test_cli_train_threads_is_recorded_and_restored(tmp_path, tiny_data, capsys):
    images, ann = tiny_data
    common = ["--arch", "simplebaseline_r18_small", "--dataset", "coco", "--images", str(images), "--ann", str(ann),
              "--image-size", f"{H}x{W}", "--batch-size", "2", "--max-iters", "1", "--no-progress"]
    before = torch.get_num_threads()
    assert main(["train", "--out", str(tmp_path / "t"), "--threads", "1", *common]) == 0
    meta = json.loads((tmp_path / "t" / "run.json").read_text())
    assert meta["torch_threads"] == 1 and meta["effective_batch"] == 2 and "cpu_capability" in meta
    assert torch.get_num_threads() == before          # in-process callers keep their setting
    assert main(["train", "--out", str(tmp_path / "u"), "--threads", "0", *common]) == 2
    assert "--threads" in capsys.readouterr().err
