"""Training in 2 processes under torchrun (DDP, gloo on the CPU) against training in one process.

The one-process reference computes what the 2 processes compute, in one process: with BatchNorm per
process (the default, as the official DataParallel), a rank normalises its own rows ``r::2`` of each
global batch, so the reference net (and the generator, and the teacher) runs each half separately
(:class:`PerRankRows`) and autograd adds the halves' gradients, where DDP averages them across the
processes. What the test then checks is everything the processes do differently: the sampler's split
of the global order, the loss normalisation, DDP's gradient averaging (also over accumulated passes,
with ``no_sync``), the generator's DDP wrapper, the Dirichlet draws per global batch, rank 0's
BatchNorm statistics, and that only rank 0 writes.

Tolerance: the weights after 20 iterations (and the last step's gradients, which Adam's scale
invariance would otherwise hide) must agree to rtol 1e-5, atol 1e-7, float32 round-off at these
magnitudes. Here they are bit-identical: each half goes through the same kernels in both runs, and
for 2 processes the all-reduce's (g0 + g1) / 2 is autograd's g0/2 + g1/2 exactly (halving is exact).
The tolerance is for machines whose kernels or all-reduce order differ; it cannot be much looser:
AdvMix's 20 iterations amplify a 1e-7 relative change of the initial weights to 1e-3 in the weights
(measured), so any real difference in the computation shows up far above it.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from torch import nn

from _advmix_synth import make_coco_dataset
from _ddp_worker import RUNS, config
from test_advmix import TinyPoseNet
from robustpose_bench.cli import main

REPO = Path(__file__).resolve().parents[1]
W, H = 32, 64


class PerRankRows(nn.Module):
    """``net`` applied to rows ``r::world`` of its input separately, outputs put back in row order: what
    ``world`` processes with BatchNorm per process compute. Only the first group updates BatchNorm's
    running statistics, as only rank 0's are kept (DDP broadcasts rank 0's buffers)."""

    def __init__(self, net: nn.Module, world: int = 2):
        super().__init__()
        self.net = net
        self.world = world

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] < self.world:        # the trainer's one-image shape check
            return self.net(x)
        bns = [m for m in self.net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        outs = []
        for r in range(self.world):
            for m in bns:
                m.track_running_stats = r == 0
            try:
                outs.append(self.net(x[r::self.world]))
            finally:
                for m in bns:
                    m.track_running_stats = True
        return torch.stack(outs, 1).flatten(0, 1)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["OMP_NUM_THREADS"] = "1"       # torchrun's default too; said here so that its banner is not printed
    return env


def torchrun(*args: str | Path, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", *map(str, args)]
    return subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=timeout, **kw)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> tuple[Path, Path]:
    return make_coco_dataset(tmp_path_factory.mktemp("ddp_data"), n_images=8)


@pytest.fixture(scope="module")
def init(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ddp_init") / "init.pth"
    torch.save(TinyPoseNet().state_dict(), path)
    return path


@pytest.fixture(scope="module")
def ddp_runs(data, init, tmp_path_factory) -> Path:
    """The worker's three trainings, 2 processes each (one torchrun launch: ~10 s on 2 cores)."""
    out = tmp_path_factory.mktemp("ddp_runs")
    proc = torchrun(REPO / "tests" / "_ddp_worker.py", out, init, data[0], data[1])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert not (out / "not_rank0").exists()          # rank 1 wrote nothing
    assert "it/s" not in proc.stderr and "s/it" not in proc.stderr, proc.stderr[-2000:]   # and showed no bar
    return out


def _reference(name: str, data, init: Path, out: Path, monkeypatch) -> nn.Module:
    """One process, the same global batches, each rank's rows run separately (see the module doc)."""
    from robustpose_bench.advmix import trainer

    real_build_generator = trainer.build_generator
    monkeypatch.setattr(trainer, "build_generator", lambda cfg: PerRankRows(real_build_generator(cfg)))
    init_ref = out / "init_ref.pth"
    torch.save({f"net.{k}": v for k, v in torch.load(init, weights_only=True).items()}, init_ref)
    net = PerRankRows(TinyPoseNet())
    with trainer.fixed_threads(1):   # as each of torchrun's processes (OMP_NUM_THREADS=1)
        trainer.train(config(name, str(init_ref), str(data[0]), str(data[1])), out / name, model=net,
                      progress=False, device="cpu")
    return net


def _unprefixed(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """PerRankRows' keys without its ``net.``."""
    return {k[len("net."):]: v for k, v in state.items()}


@pytest.mark.parametrize("name", sorted(RUNS))
def test_two_processes_train_the_one_process_weights(name, ddp_runs, data, init, tmp_path, monkeypatch):
    ref_net = _reference(name, data, init, tmp_path, monkeypatch)
    two = torch.load(ddp_runs / name / "last.pth", weights_only=True)
    one = torch.load(tmp_path / name / "last.pth", weights_only=True)
    iters = RUNS[name][1]
    assert two["global_iter"] == one["global_iter"] == iters and two["world_size"] == 2
    ref = _unprefixed(one["state_dict"])
    start = torch.load(init, weights_only=True)
    assert set(two["state_dict"]) == set(ref)
    assert any(not torch.equal(v, start[k]) for k, v in ref.items())   # it trained
    grads = torch.load(ddp_runs / name / "grads.pth", weights_only=True)
    for g, p in zip(grads, ref_net.net.parameters()):   # the last step's: the global batch's mean, not a sum
        torch.testing.assert_close(g, p.grad, rtol=1e-5, atol=1e-6 * float(p.grad.abs().max()))
    if iters == 1:
        return   # one step: Adam's first update is about lr * sign(gradient), flipped by round-off near 0
    for k, v in two["state_dict"].items():   # weights and rank 0's BatchNorm statistics
        torch.testing.assert_close(v, ref[k], rtol=1e-5, atol=1e-7, msg=k)
    if name == "advmix":
        gen = _unprefixed(one["generator"])
        for k, v in two["generator"].items():
            torch.testing.assert_close(v, gen[k], rtol=1e-5, atol=1e-7, msg=k)
        for k, v in two["teacher"].items():   # frozen, and not averaged into anything
            assert torch.equal(v, start[k]), k
    # the history is the global batch's: per-rank means averaged over the ranks
    for a, b in zip(two["history"], one["history"]):
        assert a["loss_sum"] == pytest.approx(b["loss_sum"], rel=1e-6)
        if "mix_weight_sum" in b:
            assert a["mix_weight_sum"] == pytest.approx(b["mix_weight_sum"], rel=1e-6)
    meta = json.loads((ddp_runs / name / "run.json").read_text())
    assert (meta["world_size"], meta["backend"], meta["batch_per_process"]) == (2, "gloo", 2)
    assert meta["effective_batch"] == RUNS[name][0]["batch_size"] * RUNS[name][0]["grad_accum"]


def test_rank_samplers_split_the_one_process_batches():
    """Rank r's k-th batch is rows r::W of the one-process k-th batch, from any resume offset."""
    from robustpose_bench.advmix.distributed import DistEnv, rank_sampler

    data = list(range(23))
    seed, epoch = 7 * 100003, 3
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed + epoch)).tolist()
    for world, batch, skip_batches in ((2, 4, 0), (2, 4, 3), (4, 8, 1), (3, 6, 2)):
        ranks = [list(rank_sampler(data, seed, epoch, skip_batches * batch, DistEnv(r, r, world)))
                 for r in range(world)]
        per = batch // world
        one = order[skip_batches * batch:]
        n_batches = (len(data) // world - skip_batches * per) // per
        assert n_batches >= 1
        for k in range(n_batches):
            for r in range(world):
                assert ranks[r][k * per:(k + 1) * per] == one[k * batch:(k + 1) * batch][r::world]


# ---------------------------------------------------------------- the CLI under torchrun: kill and resume

def _train_args(data, out: Path, config_file: Path, *extra: str) -> list[str]:
    return ["-m", "robustpose_bench", "train", "--config", str(config_file), "--arch", "simplebaseline_r18_small",
            "--images", str(data[0]), "--ann", str(data[1]), "--image-size", f"{H}x{W}", "--batch-size", "4",
            "--epochs", "1000", "--no-progress", "--out", str(out), *extra]


def _checkpoint(path: Path) -> dict | None:
    try:
        return torch.load(path, weights_only=True)
    except (FileNotFoundError, RuntimeError, EOFError):
        return None


def _children(pid: int) -> list[int]:
    """The processes ``pid`` started (torchrun starts each rank in its own session)."""
    kids: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        kids += [int(k) for k in (task / "children").read_text().split()]
    return kids


def _kill_mid_epoch(proc: subprocess.Popen, path: Path, timeout: float = 90) -> dict:
    """SIGKILL both ranks once the last checkpoint is one from the middle of an epoch; that checkpoint.

    The ranks are stopped (SIGSTOP) before the file is read, so what is read is what a resume finds;
    if it has moved on to an epoch end meanwhile, they run on (SIGCONT) to the next mid-epoch one.
    """
    deadline = time.monotonic() + timeout
    ranks: list[int] = []
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the run ended before it was killed"
        state = _checkpoint(path)
        if state is not None and state["iter_in_epoch"] > 0:
            ranks = ranks or _children(proc.pid)
            assert len(ranks) == 2, ranks
            for pid in ranks:
                os.kill(pid, signal.SIGSTOP)
            state = _checkpoint(path)
            if state is not None and state["iter_in_epoch"] > 0:
                for pid in ranks:            # both ranks die mid-run, as in a crash; torchrun then gives up
                    os.kill(pid, signal.SIGKILL)
                return state
            for pid in ranks:
                os.kill(pid, signal.SIGCONT)
        time.sleep(0.05)
    raise AssertionError(f"no mid-epoch checkpoint within {timeout} s")


@pytest.fixture(scope="module")
def data16(tmp_path_factory) -> tuple[Path, Path]:
    """16 persons: 4 steps of 4 per epoch, so that a checkpoint every 3 steps falls inside epochs."""
    return make_coco_dataset(tmp_path_factory.mktemp("ddp_data16"), n_images=16)


def test_a_killed_two_process_run_resumes_to_the_uninterrupted_weights(data16, tmp_path):
    data = data16
    cfg = tmp_path / "every3.yaml"
    cfg.write_text("checkpoint_every: 3\nmethod: standard\n")
    killed = tmp_path / "killed"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           *_train_args(data, killed, cfg, "--max-iters", "100000")]
    proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        state = _kill_mid_epoch(proc, killed / "last.pth")
        assert proc.wait(timeout=60) != 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    target = state["global_iter"] + 6      # on over the next epoch boundary
    resumed = torchrun(*_train_args(data, killed, cfg, "--max-iters", str(target), "--resume"))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert len(resumed.stdout.strip().splitlines()) == 1        # rank 0's summary only
    straight = tmp_path / "straight"
    done = torchrun(*_train_args(data, straight, cfg, "--max-iters", str(target)))
    assert done.returncode == 0, done.stderr[-3000:]
    a = torch.load(killed / "last.pth", weights_only=True)
    b = torch.load(straight / "last.pth", weights_only=True)
    assert a["global_iter"] == b["global_iter"] == target
    for k, v in b["state_dict"].items():
        assert torch.equal(a["state_dict"][k], v), k
    for sa, sb in zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values()):
        assert all(torch.equal(sa[key], sb[key]) for key in sb)
    # a checkpoint of several processes is an ordinary one: plain keys (no DDP "module."), exportable
    assert not any(k.startswith("module.") for k in a["state_dict"])
    assert main(["export", str(killed / "last.pth"), "--format", "torchscript", "-o", str(tmp_path / "m.pt")]) == 0
    # another process count is another BatchNorm recipe: refused, in one line
    rc, err = _in_process_rank(["train", *_train_args(data, killed, cfg, "--max-iters", str(target + 1),
                                                      "--resume")[3:]], rank=0, world=4)
    assert rc == 2 and "trained by 2 process(es), this run has 4" in err and err.count("\n") == 1


# ---------------------------------------------------------------- bad launches: one line, exit 2

def _in_process_rank(argv: list[str], rank: int, world: int, extra_env: dict[str, str] | None = None,
                     drop: tuple[str, ...] = ()) -> tuple[int, str]:
    """``main(argv)`` as torchrun's rank ``rank`` of ``world`` would run it (exit status, stderr). Every
    refusal happens before the rendezvous, so no peer is needed."""
    import contextlib
    import io

    env = {"RANK": str(rank), "WORLD_SIZE": str(world), "LOCAL_RANK": str(rank), "MASTER_ADDR": "127.0.0.1",
           "MASTER_PORT": "1", **(extra_env or {})}
    saved = {k: os.environ.get(k) for k in (*env, *drop)}
    err = io.StringIO()
    try:
        os.environ.update(env)
        for k in drop:
            os.environ.pop(k, None)
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            rc = main(argv)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return rc, err.getvalue()


def _cli(data, out: Path, *extra: str) -> list[str]:
    return ["train", "--arch", "simplebaseline_r18_small", "--images", str(data[0]), "--ann", str(data[1]),
            "--image-size", f"{H}x{W}", "--max-iters", "1", "--no-progress", "--out", str(out), *extra]


@pytest.mark.parametrize("extra, world, expected", [
    (("--batch-size", "3"), 2, "'batch_size': 3 images per forward pass do not split over the 2 processes"),
    (("--batch-size", "6"), 4, "give a multiple of 4"),
    (("--batch-size", "4", "--device", "cuda"), 2, "--device cuda: no CUDA device is available"),
    (("--batch-size", "4", "--sync-bn"), 2, "--sync-bn needs CUDA"),
    (("--batch-size", "4", "--sync-bn"), 1, "--sync-bn needs CUDA"),   # torch refuses CPU tensors even then
    (("--batch-size", "4", "--grad-accum", "4"), 2, "8 persons, fewer than one optimiser step's 16"),
])
def test_a_bad_launch_is_one_line_from_rank_0_and_silent_elsewhere(data, tmp_path, extra, world, expected):
    if "cuda" in extra and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    out = tmp_path / "run"
    rc, err = _in_process_rank(_cli(data, out, *extra), rank=0, world=world)
    assert rc == 2 and err.count("\n") == 1 and err.startswith("robustpose-bench train: error: "), err
    assert expected in err and "Traceback" not in err
    if world > 1:
        rc, err = _in_process_rank(_cli(data, out, *extra), rank=1, world=world)
        assert rc == 2 and err == ""             # the same failure; rank 0 reports it
    assert not out.exists()


@pytest.mark.parametrize("env, drop, expected", [
    ({}, ("WORLD_SIZE",), "RANK, LOCAL_RANK set but not WORLD_SIZE"),
    ({"WORLD_SIZE": "two"}, (), "WORLD_SIZE: expected an integer, got 'two'"),
    ({"RANK": "2"}, (), "RANK: expected 0..1 (WORLD_SIZE 2), got 2"),
    ({}, ("MASTER_ADDR",), "MASTER_ADDR is not set"),
])
def test_a_broken_torchrun_environment_is_one_line(data, tmp_path, env, drop, expected):
    rc, err = _in_process_rank(_cli(data, tmp_path / "run", "--batch-size", "4"), rank=0, world=2,
                               extra_env=env, drop=drop)
    assert rc == 2 and err.count("\n") == 1 and expected in err, err


def test_a_bad_launch_under_torchrun_itself(data, tmp_path):
    """Through the real launcher: exit status non-zero, our line once, no traceback of ours (torchrun
    adds its own failure report after it, which is the launcher's, not ours)."""
    proc = torchrun("-m", "robustpose_bench", *_cli(data, tmp_path / "run", "--batch-size", "3"), timeout=60)
    assert proc.returncode != 0
    ours = [ln for ln in proc.stderr.splitlines() if ln.startswith("robustpose-bench train: error: ")]
    assert len(ours) == 1 and "do not split over the 2 processes" in ours[0], proc.stderr[-2000:]
    assert "robustpose_bench/" not in proc.stderr      # no frame of ours in any traceback
    assert not (tmp_path / "run").exists()
