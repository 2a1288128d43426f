"""The official AdvMix loop's three small deviations as trainer options (issue 23), and the clean and
erased shares of the mixes. Defaults stay the paper's text; each option is checked against the
official formula it reproduces (AIprogrammer/AdvMix ``lib/core/loss.py`` and ``function.py``)."""
from __future__ import annotations

import copy

import pytest
import torch
from test_advmix import TinyPoseNet, _batch, _cfg, tiny_data  # noqa: F401 - the fixture

from robustpose_bench.advmix.generator import mix
from robustpose_bench.advmix.losses import joints_mse_loss, joints_smoothl1_loss, pose_loss
from robustpose_bench.advmix.trainer import Stepper, _mean_shares, build_generator, make_teacher, mixing_weights
from robustpose_bench.errors import UserError


def official_joints_loss(pred, target, weight):
    """The official JointsMSELoss at its default: per joint, 0.5 * nn.SmoothL1Loss()(pred * w, gt * w), / K."""
    n, k = pred.shape[:2]
    crit = torch.nn.SmoothL1Loss()
    total = 0
    for j in range(k):
        total = total + 0.5 * crit(pred[:, j].reshape(n, -1) * weight[:, j], target[:, j].reshape(n, -1) * weight[:, j])
    return total / k


def test_smoothl1_is_the_official_criterion_and_half_the_mse_inside_one():
    g = torch.Generator().manual_seed(0)
    pred = torch.rand(3, 5, 8, 6, generator=g)
    target = torch.rand(3, 5, 8, 6, generator=g)
    weight = (torch.rand(3, 5, 1, generator=g) > 0.3).float()
    assert torch.allclose(joints_smoothl1_loss(pred, target, weight), official_joints_loss(pred, target, weight), atol=1e-7)
    assert torch.allclose(joints_smoothl1_loss(pred, target, weight), 0.5 * joints_mse_loss(pred, target, weight), atol=1e-7)
    far = pred * 4                      # off by more than 1: the linear part, where the two differ
    assert torch.allclose(joints_smoothl1_loss(far, target, weight), official_joints_loss(far, target, weight), atol=1e-6)
    assert not torch.allclose(joints_smoothl1_loss(far, target, weight), 0.5 * joints_mse_loss(far, target, weight))
    teacher = torch.rand(3, 5, 8, 6, generator=g)
    official_kd = 0.9 * official_joints_loss(far, target, weight) + 0.1 * official_joints_loss(far, teacher, weight)
    assert torch.allclose(pose_loss(far, target, weight, teacher, 0.1, "smoothl1"), official_kd, atol=1e-6)


def _step_once(cfg, model, gen, teacher, props, target, weight):
    st = Stepper(copy.deepcopy(model), cfg, torch.device("cpu"), teacher=copy.deepcopy(teacher),
                 generator=copy.deepcopy(gen))
    res = st.step(props, target, weight)
    return st, res


def test_generator_loss_gt_maximises_the_ground_truth_term_only(tiny_data):
    """With KD on, ``gt`` changes the generator's update and its loss is the GT term of the mix it saw;
    with alpha 0 the two options are the same maths, bit for bit."""
    base = _cfg(tiny_data, method="advmix", alpha=0.5)
    props, target, weight = _batch(base, "advmix")
    torch.manual_seed(0)
    model, gen = TinyPoseNet(), build_generator(base)
    teacher = make_teacher(TinyPoseNet())
    st_pose, r_pose = _step_once(base, model, gen, teacher, props, target, weight)
    gt_cfg = _cfg(tiny_data, method="advmix", alpha=0.5, generator_loss="gt")
    st_gt, r_gt = _step_once(gt_cfg, model, gen, teacher, props, target, weight)
    # the pose steps are the same; the generators were pushed by different losses
    for a, b in zip(st_pose.model.parameters(), st_gt.model.parameters()):
        assert torch.equal(a, b)
    assert any(not torch.equal(a, b) for a, b in zip(st_pose.generator.parameters(), st_gt.generator.parameters()))
    # the recorded generator loss is the GT term on the mix, against the updated pose net
    check = copy.deepcopy(st_gt.model)
    with torch.no_grad():
        mixed = mix(props, mixing_weights("adv", props, gen))
        out = check.train()(mixed)
    assert r_gt.gen_loss == pytest.approx(float(joints_mse_loss(out, target, weight)), rel=1e-5)
    zero = [_cfg(tiny_data, method="advmix", alpha=0.0, generator_loss=g) for g in ("pose", "gt")]
    gens = [_step_once(c, model, gen, teacher, props, target, weight)[0].generator for c in zero]
    for a, b in zip(*(g.parameters() for g in gens)):
        assert torch.equal(a, b)


def test_generator_bn_update_moves_the_running_statistics_twice(tiny_data):
    """``update``: the generator step's forward updates BN as a train-mode forward does (the official
    loop); ``frozen``: only the pose step's forward moved them."""
    frozen_cfg = _cfg(tiny_data, method="advmix", kd=False)
    update_cfg = _cfg(tiny_data, method="advmix", kd=False, generator_bn="update")
    props, target, weight = _batch(frozen_cfg, "advmix")
    torch.manual_seed(0)
    model, gen = TinyPoseNet(), build_generator(frozen_cfg)
    st_f, _ = _step_once(frozen_cfg, model, gen, None, props, target, weight)
    st_u, _ = _step_once(update_cfg, model, gen, None, props, target, weight)
    with torch.no_grad():
        mixed = mix(props, mixing_weights("adv", props, gen))
    once, twice = copy.deepcopy(model).train(), copy.deepcopy(model).train()
    with torch.no_grad():
        once(mixed)
        twice(mixed)
        twice(mixed)   # the second forward sees the updated pose net in the real step: compare counts only
    bn_f = {k: v for k, v in st_f.model.named_buffers()}
    bn_u = {k: v for k, v in st_u.model.named_buffers()}
    counts = [k for k in bn_f if k.endswith("num_batches_tracked")]
    assert counts and all(int(bn_f[k]) == int(dict(once.named_buffers())[k]) == 1 for k in counts)
    assert all(int(bn_u[k]) == int(dict(twice.named_buffers())[k]) == 2 for k in counts)
    means = [k for k in bn_f if k.endswith("running_mean")]
    assert all(torch.allclose(bn_f[k], dict(once.named_buffers())[k], atol=1e-6) for k in means)
    assert any(not torch.allclose(bn_u[k], bn_f[k]) for k in means)


@pytest.mark.parametrize("field,value", [("generator_loss", "gt"), ("generator_bn", "update")])
def test_generator_options_without_a_generator_are_refused(tiny_data, field, value):
    with pytest.raises(UserError, match=f"'{field}'.*adversarial generator.*mix equal"):
        _cfg(tiny_data, method="advmix", mix="equal", **{field: value})
    with pytest.raises(UserError, match=f"'{field}'"):
        _cfg(tiny_data, method="standard", **{field: value})


def test_cli_refuses_an_official_option_with_mix_equal_before_writing(tiny_data, tmp_path, capsys):
    from robustpose_bench.cli import main

    images, ann = tiny_data
    out = tmp_path / "run"
    rc = main(["train", "--method", "advmix", "--mix", "equal", "--generator-loss", "gt", "--images", str(images),
               "--ann", str(ann), "--arch", "simplebaseline_r18_small", "--image-size", "64x32", "--out", str(out),
               "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "generator_loss" in err[0] and not out.exists()


def test_clean_and_erased_shares_count_gridmask_kept_stripes_as_clean():
    """Equal weights (1/3 each) on a GridMask proposal keeping a fraction k of the pixels: clean share
    1/3 + k/3, erased share (1 - k)/3; the adversarial per-pixel weights are averaged the same way."""
    g = torch.Generator().manual_seed(0)
    clean = torch.randn(2, 3, 8, 6, generator=g) + 0.1
    keep = torch.zeros(2, 8, 6)
    keep[:, :, :2] = 1.0                                   # a third of the columns kept
    props = torch.stack([clean, torch.randn(2, 3, 8, 6, generator=g), clean * keep[:, None]], dim=1)
    c, e = _mean_shares(props, torch.full((2, 3), 1 / 3))
    assert c == pytest.approx(1 / 3 + 1 / 9) and e == pytest.approx(2 / 9)
    w = torch.zeros(2, 3, 8, 6)
    w[:, 2] = 1.0                                          # all on GridMask: clean where kept, erased elsewhere
    c, e = _mean_shares(props, w)
    assert c == pytest.approx(1 / 3) and e == pytest.approx(2 / 3)
    assert _mean_shares(props[:, :2], torch.full((2, 2), 0.5)) is None   # no GridMask proposal
