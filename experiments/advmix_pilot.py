"""AdvMix pilot on synth: does our AdvMix make a model more robust at a scale a 2-core CPU can run?

Why: a single fine-tune from a barely trained model cannot say whether AdvMix works (issue 11). This
script answers with a paired, seeded, resumable experiment (docs/advmix.md, "Pilot"):

1. **data**: the synth training set (seed 7), a validation set (seed 11) and synth-c built from the
   evaluation images (seed 2021): three disjoint image sets;
2. **base**: standard training from scratch in chunks of epochs, scoring clean AP on the validation
   set after each chunk, until a chunk gains less than ``plateau_ap`` points; then a last chunk at
   lr / 10. This converged model is the starting point of every fine-tune and the AdvMix teacher;
3. **fine-tunes** from the base, one per arm and seed, paired by seed (same data order and geometric
   augmentation): standard, AdvMix with equal weights, AdvMix (adversarial generator), and AdvMix with
   a weaker generator (generator lr 1e-4), all for the same iterations and lr schedule;
4. **eval** of each on synth-c (clean + 15 corruptions x 5 severities) with the project's ``eval``;
5. **report**: ``runs.csv`` (one keyed row per run; ``checkpoint_sha256`` hashes the checkpoint file,
   which also stores the run's config and so its paths: compare weights across folders), ``summary.csv``, ``table.md`` (mean ± std over
   seeds, paired difference against standard with its 95% t-interval) and ``mpc_vs_clean.png``.

Every step is a subprocess of the ``robustpose-bench`` CLI with a fixed thread count (``--threads``,
default 1, which makes CPU training bit-reproducible on any machine with the same CPU kernels; see
docs/advmix.md, "Determinism"), and is skipped on a re-run when its output is complete, so a killed
run continues where it stopped and a finished one rebuilds only the report. ``--tiny`` runs the same
pipeline on a few images in well under a minute (the tests run it).

    nice python experiments/advmix_pilot.py --out pilot --jobs 2
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import yaml

from robustpose_bench.atomic import atomic_write_json, atomic_write_text, sha256_file
from robustpose_bench.errors import UserError

TRAIN_SEED, VAL_SEED = 7, 11       # synth seeds of the training and validation images (synth-c: 2021)
BASE_SEED = 0                      # the base model's training seed
# The fine-tune arms: name -> TrainConfig fields on top of the common ones.
ARMS: dict[str, dict[str, Any]] = {
    "standard": {"method": "standard"},
    "equal": {"method": "advmix", "mix": "equal"},
    "adv": {"method": "advmix", "mix": "adv"},
    "adv-glr1e-4": {"method": "advmix", "mix": "adv", "generator_lr": 1e-4},
}
# Arms run only when asked for (--extra-arms): further generator-strength conditions.
EXTRA_ARMS: dict[str, dict[str, Any]] = {
    "adv-glr1e-5": {"method": "advmix", "mix": "adv", "generator_lr": 1e-5},
}
# The paper's regime (--regime paper, issue 23): the official loop's three small deviations together.
OFFICIAL = {"loss": "smoothl1", "generator_loss": "gt", "generator_bn": "update"}
PAPER_ARMS: dict[str, dict[str, Any]] = {
    "standard": {"method": "standard"},
    "equal": {"method": "advmix", "mix": "equal"},
    "adv": {"method": "advmix", "mix": "adv"},
    "adv-official": {"method": "advmix", "mix": "adv", **OFFICIAL},
}
ALL_ARMS = {**ARMS, **EXTRA_ARMS, **PAPER_ARMS}
REGIMES = ("short", "paper")
#: The official schedule's lr drops as fractions of the run: epochs 90 and 120 of 140.
PAPER_DROPS = (90 / 140, 120 / 140)
REFERENCE_ARM = "standard"


@dataclass(frozen=True)
class Settings:
    """The pilot's size. ``FULL`` is what docs/advmix.md reports; ``TINY`` is for the tests."""

    train_images: int = 600
    val_images: int = 100
    test_images: int = 200
    batch_size: int = 32
    image_size: tuple[int, int] = (96, 128)      # (w, h)
    base_chunk_epochs: int = 8
    base_min_chunks: int = 3                     # an untrained net gains nothing at first: not a plateau
    base_max_chunks: int = 8
    plateau_ap: float = 1.0                      # AP points a chunk must gain to go on
    base_final_epochs: int = 3                   # at lr / 10 after the plateau
    finetune_epochs: int = 6
    finetune_drop_epoch: int = 4                 # lr and generator lr / 10 from this epoch
    seeds: tuple[int, ...] = (0, 1, 2)
    arms: tuple[str, ...] = tuple(ARMS)
    alpha: float = 0.1                           # KD weight of the AdvMix arms
    # "short": finetune_epochs with a drop at finetune_drop_epoch. "paper": as the paper retrains, for
    # as long as the base trained (or paper_epochs), both nets' lr x 0.1 at the fractions lr_drops.
    regime: str = "short"
    paper_epochs: int | None = None              # None: the base's epochs
    lr_drops: tuple[float, float] = PAPER_DROPS


FULL = Settings()
TINY = Settings(train_images=6, val_images=2, test_images=2, batch_size=4, base_chunk_epochs=1,
                base_min_chunks=1, base_max_chunks=2, base_final_epochs=1, finetune_epochs=2, finetune_drop_epoch=1, seeds=(0, 1))


def _common_config(s: Settings, out: Path) -> dict[str, Any]:
    w, h = s.image_size
    return {
        "arch": "simplebaseline_r18_small", "dataset_format": "coco", "keypoints": "coco",
        "images": str(out / "synth-train" / "images"),
        "ann": str(out / "synth-train" / "annotations" / "person_keypoints_synth.json"),
        "config_format": 2, "image_size": [h, w], "heatmap_size": [h // 4, w // 4], "batch_size": s.batch_size,
        "deterministic": True, "lr": 1e-3, "lr_factor": 0.1, "generator_ngf": 16, "alpha": s.alpha, "generator_lr": 1e-3,
    }


def check_drops(drops: Sequence[float]) -> None:
    if not all(0 < f < 1 for f in drops) or list(drops) != sorted(drops):
        raise UserError(f"--lr-drops must be increasing fractions of the fine-tune in (0, 1), got {list(drops)}")


def paper_schedule(epochs: int, drops: Sequence[float], strict: bool) -> list[int]:
    """The drop epochs of a paper-regime fine-tune of ``epochs`` epochs at fractions ``drops``.

    ``strict`` (values the user gave): every drop must fall inside the run, after its first epoch and
    before its last, or it is an error; otherwise (the defaults from the base's length) they are
    clamped into it, so a tiny base still gets both drops.
    """
    check_drops(drops)
    steps = [round(f * epochs) for f in drops]
    if strict:
        if any(not 1 <= e < epochs for e in steps):
            raise UserError(f"--lr-drops {','.join(f'{f:g}' for f in drops)} of a {epochs}-epoch fine-tune drop at "
                            f"epochs {steps}: each must fall inside the run (1..{epochs - 1}); use more "
                            "--finetune-epochs or other fractions")
        return steps
    return [min(max(e, 1), max(epochs - 1, 1)) for e in steps]


class Pilot:
    """The stages above over one output folder; each one skips what is already complete."""

    def __init__(self, out: Path, settings: Settings, jobs: int, threads: int, progress: bool = True,
                 workers: int = 0):
        out = out.resolve()
        self.out, self.s, self.jobs, self.threads, self.progress = out, settings, jobs, threads, progress
        self.workers = workers   # data loader processes per run: the data do not depend on it
        self.logs = out / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)

    # -- running CLI steps ------------------------------------------------------------------------
    def cli(self, log_name: str, *argv: Any) -> None:
        """``robustpose-bench ARGV`` in a subprocess with fixed threads; stdout/stderr to logs/LOG_NAME.log."""
        env = dict(os.environ, OMP_NUM_THREADS=str(self.threads), MKL_NUM_THREADS=str(self.threads))
        cmd = [sys.executable, "-m", "robustpose_bench", *map(str, argv)]
        log = self.logs / f"{log_name}.log"
        with open(log, "a") as f:
            f.write(f"$ {' '.join(cmd[2:])}\n")
            f.flush()
            code = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env=env, cwd=self.out).returncode
        if code != 0:
            tail = log.read_text().strip().splitlines()[-1:] or ["(no output)"]
            raise UserError(f"pilot step failed (exit {code}): robustpose-bench {' '.join(map(str, argv))}; "
                            f"see {log}: {tail[0]}")

    def train(self, name: str, fields: dict[str, Any]) -> Path:
        """Train (or resume) run NAME with these config fields; returns its checkpoint."""
        run = self.out / "runs" / name
        cfg_file = self.out / "configs" / f"{name}.yaml"
        cfg_file.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(cfg_file, yaml.safe_dump(fields, sort_keys=True))
        resume = ["--resume"] if (run / "last.pth").exists() else []
        self.cli(f"train-{name}", "train", "--config", cfg_file, "--out", run, *resume, "--no-progress",
                 "--jobs", self.workers, "--threads", self.threads)
        return run / "last.pth"

    def evaluate(self, name: str, checkpoint: Path, dataset_args: Sequence[str], tag: str) -> dict[str, Any]:
        """Export CHECKPOINT to ONNX and score it with ``eval``; returns the results' summary (AP in %)."""
        model = self.out / "models" / f"{name}.onnx"
        stamp = self.out / "models" / f"{name}.source.json"
        ckpt_sha = sha256_file(checkpoint)
        if not (model.exists() and stamp.exists() and json.loads(stamp.read_text())["checkpoint_sha256"] == ckpt_sha):
            self.cli(f"export-{name}", "export", checkpoint, "--format", "onnx", "-o", model, "--name", name)
            for stale in (self.out / "results").glob(f"{name}.*.json"):   # scored on an older export
                stale.unlink()
            atomic_write_json(stamp, {"checkpoint_sha256": ckpt_sha, "onnx_sha256": sha256_file(model)})
        results = self.out / "results" / f"{name}.{tag}.json"
        if not results.exists():
            self.cli(f"eval-{name}-{tag}", "eval", model, *dataset_args, "--device", "cpu",
                     "--intra-op-threads", self.threads, "--jobs", 1, "--no-flip", "-o", results,
                     "--predictions-out", self.out / "predictions" / f"{name}.{tag}", "--no-progress")
        return {**metrics(results), "checkpoint_sha256": ckpt_sha}

    # -- stages -----------------------------------------------------------------------------------
    def data(self) -> None:
        from robustpose_bench import synth

        synth.ensure_synth(self.out / "synth-train", count=self.s.train_images, seed=TRAIN_SEED)
        synth.ensure_synth(self.out / "synth-val", count=self.s.val_images, seed=VAL_SEED)
        if not (self.out / "data" / "synth-c" / "manifest.json").exists():
            self.cli("build", "build", "synth-c", "--data", self.out / "data", "--synth-count", self.s.test_images,
                     "--jobs", self.jobs, "--no-progress")

    def _val_args(self) -> list[str]:
        val = self.out / "synth-val"
        return ["--dataset", "coco-c", "--partial", "--images", str(val / "images"),   # clean images only
                "--ann", str(val / "annotations" / "person_keypoints_synth.json")]

    def base(self) -> Path:
        """Chunks of standard training until validation clean AP plateaus, then lr / 10; the curve in base_curve.json."""
        s = self.s
        curve_file = self.out / "base_curve.json"
        curve: list[dict[str, Any]] = json.loads(curve_file.read_text()) if curve_file.exists() else []
        fields = {**_common_config(s, self.out), "method": "standard", "seed": BASE_SEED}
        chunks = [c for c in curve if c["lr"] == 1e-3]
        k = 0
        while True:
            if k >= len(chunks):
                epochs = (k + 1) * s.base_chunk_epochs
                ckpt = self.train("base", {**fields, "epochs": epochs, "lr_steps": [10 ** 6]})
                row = self.evaluate(f"base-e{epochs}", ckpt, self._val_args(), "val")
                chunks.append({"chunk": k, "epochs": epochs, "lr": 1e-3, "val_clean_ap": row["clean"]})
                curve = list(chunks)
                atomic_write_json(curve_file, curve)
            plateaued = k + 1 >= s.base_min_chunks and k >= 1 and chunks[k]["val_clean_ap"] - chunks[k - 1]["val_clean_ap"] < s.plateau_ap
            if plateaued or k + 1 >= s.base_max_chunks:
                break
            k += 1
        plateau = chunks[k]["epochs"]
        final = plateau + s.base_final_epochs
        ckpt = self.train("base", {**fields, "epochs": final, "lr_steps": [plateau]})
        if curve[-1]["lr"] != 1e-4:
            row = self.evaluate(f"base-e{final}", ckpt, self._val_args(), "val")
            curve.append({"chunk": k + 1, "epochs": final, "lr": 1e-4, "val_clean_ap": row["clean"],
                          "plateaued": plateaued})
            atomic_write_json(curve_file, curve)
        return ckpt

    def finetune_schedule(self) -> tuple[int, list[int]]:
        """(epochs, lr drop epochs) of every fine-tune: the short pilot's, or the paper's retrain."""
        s = self.s
        if s.regime == "short":
            return s.finetune_epochs, [s.finetune_drop_epoch]
        if s.paper_epochs is not None:
            return s.paper_epochs, paper_schedule(s.paper_epochs, s.lr_drops, strict=True)
        curve = json.loads((self.out / "base_curve.json").read_text())
        epochs = int(curve[-1]["epochs"])          # as long as the base trained, its final lr / 10 included
        return epochs, paper_schedule(epochs, s.lr_drops, strict=False)

    def finetune_fields(self, arm: str, seed: int, base_ckpt: Path) -> dict[str, Any]:
        s = self.s
        epochs, drops = self.finetune_schedule()
        return {**_common_config(s, self.out), **ALL_ARMS[arm], "seed": seed, "pretrained": str(base_ckpt),
                "epochs": epochs, "lr_steps": drops}

    def claim(self) -> None:
        """One regime per folder: a paper-regime pilot never resumes a short one's fine-tunes, or back."""
        mark = self.out / "pilot.json"
        want = {"regime": self.s.regime}
        if mark.exists():
            have = json.loads(mark.read_text())
            if have.get("regime") != self.s.regime:
                raise UserError(f"{self.out} holds a --regime {have.get('regime')} pilot; this is --regime "
                                f"{self.s.regime}: choose another --out")
        elif (self.out / "runs").exists() and self.s.regime != "short":
            raise UserError(f"{self.out} holds an earlier (short-regime) pilot; choose another --out")
        else:
            atomic_write_json(mark, want)

    def run(self) -> dict[str, Any]:
        from tqdm import tqdm

        t0 = time.time()
        timings: dict[str, float] = {}
        self.claim()
        self.data()
        timings["data_s"] = time.time() - t0
        base_ckpt = self.base()
        timings["base_s"] = time.time() - t0 - timings["data_s"]
        test_args = ["--dataset", "synth-c", "--data", str(self.out / "data")]
        tasks: list[tuple[str, str, int | None, Callable[[], dict[str, Any]]]] = [
            ("base", "base", None, lambda: self.evaluate("base", base_ckpt, test_args, "test"))]
        for seed in self.s.seeds:
            for arm in self.s.arms:
                name = f"{arm}-s{seed}"

                def task(name: str = name, arm: str = arm, seed: int = seed) -> dict[str, Any]:
                    ckpt = self.train(name, self.finetune_fields(arm, seed, base_ckpt))
                    return {**self.evaluate(name, ckpt, test_args, "test"), **_mix_weights(ckpt.parent)}
                tasks.append((name, arm, seed, task))
        rows = []
        bar = tqdm(total=len(tasks), desc="pilot runs", unit="run", file=sys.stderr, disable=not self.progress)
        with ThreadPoolExecutor(max_workers=self.jobs) as pool:
            futures = [(name, arm, seed, pool.submit(fn)) for name, arm, seed, fn in tasks]
            for name, arm, seed, fut in futures:
                rows.append({"run": name, "arm": arm, "seed": seed, **fut.result()})
                bar.update(1)
        bar.close()
        timings["finetune_eval_s"] = time.time() - t0 - timings["data_s"] - timings["base_s"]
        timings["total_s"] = time.time() - t0
        atomic_write_json(self.out / "timings.json", timings)   # wall times: not part of the reproduced outputs
        return report(self.out, rows, self.s)

    def verify(self, names: Sequence[str]) -> dict[str, Any]:
        """Retrain finished fine-tunes from scratch in verify/NAME and compare the checkpoints' sha256."""
        rows = {r["run"]: r for r in json.loads((self.out / "report.json").read_text())["runs"]}
        base_ckpt = self.out / "runs" / "base" / "last.pth"
        out = {}
        for name in names:
            if name not in rows or rows[name]["seed"] is None:
                raise UserError(f"--verify: no fine-tune {name!r} in {self.out / 'report.json'}")
            arm, seed = rows[name]["arm"], int(rows[name]["seed"])
            again = Pilot(self.out / "verify", self.s, 1, self.threads, False, self.workers)
            ckpt = again.train(name, self.finetune_fields(arm, seed, base_ckpt))
            sha = sha256_file(ckpt)
            out[name] = {"recorded": rows[name]["checkpoint_sha256"], "again": sha,
                         "identical": sha == rows[name]["checkpoint_sha256"]}
        atomic_write_json(self.out / "verify.json", out)
        return out


def metrics(results: Path) -> dict[str, float | None]:
    """Clean AP, mPC (AP in %) and rPC (already a percentage) from a results file's summary."""
    summary = json.loads(results.read_text())["summary"]
    pct = (lambda v: None if v is None else 100 * v)
    return {"clean": pct(summary["clean"]), "mPC": pct(summary.get("mPC")), "rPC": summary.get("rPC")}


def rebuild_report(out: Path, s: Settings) -> dict[str, Any]:
    """The report again from a finished pilot folder's own files: each run's metrics from its results
    file, its mixing weights from its history, its checkpoint hash from the previous report."""
    if not (out / "report.json").is_file():
        raise UserError(f"--report-only: {out / 'report.json'} not found; run the pilot into {out} first")
    previous_report = json.loads((out / "report.json").read_text())
    previous = previous_report["runs"]
    kept = {k: tuple(v) if isinstance(v, list) else v for k, v in previous_report["settings"].items()
            if k in ("arms", "regime", "paper_epochs", "lr_drops", "alpha")}
    s = dataclasses.replace(s, **kept)   # extra arms and the regime included
    rows = []
    for r in previous:
        row = {k: r[k] for k in ("run", "arm", "seed")}       # the columns in the order a full run writes
        row.update(metrics(out / "results" / f"{r['run']}.test.json"))
        row["checkpoint_sha256"] = r["checkpoint_sha256"]
        if r["arm"] != "base":
            row.update(_mix_weights(out / "runs" / r["run"]))
        rows.append(row)
    return report(out, rows, s)


def _mix_weights(run: Path) -> dict[str, Any]:
    """Mean mixing weight of the clean proposal in the first and last epoch (the generator's drift), and
    the last epoch's clean and erased shares where the run logged them."""
    hist = json.loads((run / "history.json").read_text())
    with_w = [h for h in hist if h.get("mix_weight_sum")]
    if not with_w:
        return {"w_clean_first": None, "w_clean_last": None}
    out = {"w_clean_first": with_w[0]["mix_weight_sum"][0] / with_w[0]["iters"],
           "w_clean_last": with_w[-1]["mix_weight_sum"][0] / with_w[-1]["iters"]}
    if with_w[-1].get("share_sum"):
        out["clean_share_last"] = with_w[-1]["share_sum"][0] / with_w[-1]["iters"]
        out["erased_share_last"] = with_w[-1]["share_sum"][1] / with_w[-1]["iters"]
    return out


def paired_summary(runs: "Any", metrics: Sequence[str] = ("clean", "mPC", "rPC"),
                   reference: str = REFERENCE_ARM) -> "Any":
    """Per arm and metric: mean and std over seeds, and the paired difference against ``reference``
    (same seed) with its two-sided 95% t-interval. ``runs``: a DataFrame with arm, seed and the metrics."""
    import numpy as np
    import pandas as pd
    from scipy import stats

    fine = runs[runs["seed"].notna()]
    ref = fine[fine["arm"] == reference].set_index("seed")
    out = []
    for arm, grp in fine.groupby("arm", sort=False):
        g = grp.set_index("seed")
        for m in metrics:
            vals = g[m].astype(float)
            row = {"arm": arm, "metric": m, "n": len(vals), "mean": vals.mean(), "std": vals.std(ddof=1)}
            if arm != reference:
                d = (vals - ref[m].astype(float)).dropna()
                n = len(d)
                half = stats.t.ppf(0.975, n - 1) * d.std(ddof=1) / np.sqrt(n) if n > 1 else np.nan
                row.update({"diff_mean": d.mean(), "diff_lo": d.mean() - half, "diff_hi": d.mean() + half,
                            "diff_n": n})
            out.append(row)
    return pd.DataFrame(out)


def _fmt(v: float | None, nd: int = 1) -> str:
    return "–" if v is None or v != v else f"{v:.{nd}f}"   # None / NaN (rPC of a zero clean AP) -> dash


def markdown_table(summary: "Any", arms: Sequence[str]) -> str:
    """One row per arm: mean ± std of each metric, then paired Δ vs standard [95% CI]."""
    lines = ["| arm | clean AP | mPC | rPC | Δ clean AP [95% CI] | Δ mPC [95% CI] | Δ rPC [95% CI] |",
             "|---|---|---|---|---|---|---|"]
    for arm in arms:
        cells, deltas = [], []
        for m in ("clean", "mPC", "rPC"):
            r = summary[(summary["arm"] == arm) & (summary["metric"] == m)].iloc[0]
            cells.append(f"{_fmt(r['mean'])} ± {_fmt(r['std'])}")
            if arm == REFERENCE_ARM:
                deltas.append("(reference)")
            else:
                deltas.append(f"{r['diff_mean']:+.1f} [{r['diff_lo']:+.1f}, {r['diff_hi']:+.1f}]")
        lines.append(f"| {arm} | " + " | ".join(cells + deltas) + " |")
    return "\n".join(lines) + "\n"


def figure(runs: "Any", path: Path, arms: Sequence[str]) -> None:
    """mPC against clean AP, one point per run (the base as a star)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.2), dpi=120)
    for arm, marker in zip(arms, "osD^v<>"):
        sub = runs[runs["arm"] == arm]
        ax.scatter(sub["clean"], sub["mPC"], marker=marker, s=40, label=f"{arm} ({len(sub)} seeds)")
    base = runs[runs["arm"] == "base"]
    ax.scatter(base["clean"], base["mPC"], marker="*", s=160, c="k", label="base (start of every fine-tune)")
    ax.set_xlabel("clean AP (%)")
    ax.set_ylabel("mPC (%)")
    ax.set_title("AdvMix pilot on synth-c: one point per run")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, metadata={"Software": None})   # no matplotlib version stamp: the bytes follow the numbers
    plt.close(fig)
    os.replace(tmp, path)


def per_corruption_table(out: Path, runs: "Any", arms: Sequence[str]) -> str:
    """Mean AP per corruption (over severities, then seeds) of the reference arm, and each other arm's
    change against it: where a method helps and where it hurts."""
    import pandas as pd

    rows = []
    for r in runs.itertuples():
        per = json.loads((out / "results" / f"{r.run}.test.json").read_text())["summary"]["per_corruption"]
        rows += [{"arm": r.arm, "corruption": c, "ap": 100 * v} for c, v in per.items()]
    mean = pd.DataFrame(rows).groupby(["corruption", "arm"])["ap"].mean().unstack("arm")
    ref = mean[REFERENCE_ARM]
    lines = ["| corruption | " + " | ".join(arms) + " |", "|---" * (len(arms) + 1) + "|"]
    for corruption, row in mean.iterrows():
        cells = [f"{ref[corruption]:.1f}" if a == REFERENCE_ARM else f"{row[a] - ref[corruption]:+.1f}" for a in arms]
        lines.append(f"| {corruption} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def mix_weight_table(out: Path, runs: "Any") -> "Any":
    """Per fine-tune and epoch: the mean mixing weight of each proposal (clean, AutoAugment, GridMask),
    and, where the run logged them, the clean share (w_clean + w_gridmask * kept) and the erased share
    (w_gridmask * (1 - kept)) of its mixes."""
    import pandas as pd

    rows = []
    shares = False
    for r in runs[runs["arm"] != "base"].itertuples():
        for h in json.loads((out / "runs" / r.run / "history.json").read_text()):
            if h.get("mix_weight_sum"):
                w = [v / h["iters"] for v in h["mix_weight_sum"]]
                row = {"run": r.run, "epoch": h["epoch"], "w_clean": w[0], "w_autoaugment": w[1], "w_gridmask": w[2]}
                if h.get("share_sum"):
                    shares = True
                    row.update({"clean_share": h["share_sum"][0] / h["iters"],
                                "erased_share": h["share_sum"][1] / h["iters"]})
                rows.append(row)
    columns = ["run", "epoch", "w_clean", "w_autoaugment", "w_gridmask"] + (["clean_share", "erased_share"] if shares else [])
    return pd.DataFrame(rows, columns=columns)


def report(out: Path, rows: list[dict[str, Any]], s: Settings) -> dict[str, Any]:
    """Write runs.csv, summary.csv, table.md, mpc_vs_clean.png, per_corruption.md, mix_weights.csv and
    report.json from the keyed run rows."""
    import pandas as pd

    runs = pd.DataFrame(rows).sort_values(["arm", "seed"], na_position="first", kind="stable")
    atomic_write_text(out / "runs.csv", runs.to_csv(index=False, float_format="%.4f"))
    summary = paired_summary(runs)
    atomic_write_text(out / "summary.csv", summary.to_csv(index=False, float_format="%.4f"))
    arms = [a for a in s.arms]
    base = runs[runs["arm"] == "base"].iloc[0]
    table = (f"base: clean AP {_fmt(base['clean'])}, mPC {_fmt(base['mPC'])}, rPC {_fmt(base['rPC'])}\n\n"
             + markdown_table(summary, arms))
    atomic_write_text(out / "table.md", table)
    figure(runs, out / "mpc_vs_clean.png", arms)
    atomic_write_text(out / "per_corruption.md", per_corruption_table(out, runs, arms))
    atomic_write_text(out / "mix_weights.csv", mix_weight_table(out, runs).to_csv(index=False, float_format="%.4f"))
    rep = {"settings": dataclasses.asdict(s), "arms": {a: ALL_ARMS[a] for a in s.arms}, "runs": json.loads(runs.to_json(orient="records")),
           "base_curve": json.loads((out / "base_curve.json").read_text())}
    atomic_write_json(out / "report.json", rep)
    return rep


def _regime_settings(s: Settings, args: argparse.Namespace) -> Settings:
    """The settings of the chosen regime; every bad value is a one-line error before anything is written."""
    import math

    if not (math.isfinite(args.alpha) and 0 <= args.alpha <= 1):
        raise UserError(f"--alpha must be in [0, 1], got {args.alpha:g}")
    if args.regime == "short":
        if args.finetune_epochs is not None or args.lr_drops is not None:
            raise UserError("--finetune-epochs and --lr-drops belong to --regime paper")
        return dataclasses.replace(s, alpha=args.alpha)
    drops = PAPER_DROPS
    if args.lr_drops is not None:
        try:
            drops = tuple(float(v) for v in args.lr_drops.split(","))
        except ValueError:
            raise UserError(f"--lr-drops must be two fractions such as 0.64,0.86, got {args.lr_drops!r}") from None
        if len(drops) != 2:
            raise UserError(f"--lr-drops must be two fractions such as 0.64,0.86, got {args.lr_drops!r}")
    if args.finetune_epochs is not None:
        if args.finetune_epochs < 2:
            raise UserError(f"--finetune-epochs must be at least 2 (two lr drops inside the run), got {args.finetune_epochs}")
        paper_schedule(args.finetune_epochs, drops, strict=True)
    else:
        check_drops(drops)
    if args.extra_arms:
        raise UserError("--extra-arms belong to --regime short")
    return dataclasses.replace(s, regime="paper", arms=tuple(PAPER_ARMS), alpha=args.alpha,
                               paper_epochs=args.finetune_epochs, lr_drops=drops)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=Path("pilot"), help="output folder (re-run to resume)")
    p.add_argument("--tiny", action="store_true", help="a few images and iterations (tests, smoke runs)")
    p.add_argument("--jobs", type=int, default=2, help="runs in parallel (each on --threads threads)")
    p.add_argument("--threads", type=int, default=1, help="CPU threads per run (fixed: results depend on it)")
    p.add_argument("--workers", type=int, default=0, help="data loader processes per training run "
                                                          "(speed only: the data do not depend on it)")
    p.add_argument("--verify", nargs="+", metavar="RUN", help="after the pilot, retrain these fine-tunes "
                   "(e.g. adv-s0) from scratch and compare checkpoints bit for bit (verify.json)")
    p.add_argument("--report-only", action="store_true",
                   help="rebuild the report of a finished pilot folder from its results and histories")
    p.add_argument("--extra-arms", nargs="+", default=[], choices=sorted(EXTRA_ARMS),
                   help="fine-tune these arms too (after the default ones)")
    p.add_argument("--regime", choices=REGIMES, default="short",
                   help="short: the 6-epoch fine-tunes; paper: retrain as long as the base trained, both lr x 0.1 "
                        "at 64%% and 86%% of it, arms standard, equal, adv, adv-official (use a new --out)")
    p.add_argument("--finetune-epochs", type=int, help="--regime paper: fine-tune length (default: the base's)")
    p.add_argument("--lr-drops", help="--regime paper: the two lr drops as fractions of the fine-tune "
                                      "(default 0.643,0.857: the official 90 and 120 of 140)")
    p.add_argument("--alpha", type=float, default=0.1, help="KD weight of the AdvMix arms (default 0.1)")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    if args.jobs < 1 or args.threads < 1:
        print("advmix_pilot: --jobs and --threads must be at least 1", file=sys.stderr)
        return 2
    try:
        settings = TINY if args.tiny else FULL
        settings = _regime_settings(settings, args)
        extra = tuple(a for a in dict.fromkeys(args.extra_arms) if a not in settings.arms)
        settings = dataclasses.replace(settings, arms=settings.arms + extra)
        if args.report_only:
            rebuild_report(args.out, settings)
            print((args.out / "table.md").read_text())
            return 0
        pilot = Pilot(args.out, settings, args.jobs, args.threads, not args.no_progress, args.workers)
        pilot.run()
        if args.verify:
            print(json.dumps(pilot.verify(args.verify), indent=1), file=sys.stderr)
    except UserError as exc:
        print(f"advmix_pilot: {exc}", file=sys.stderr)
        return 2
    print((args.out / "table.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
