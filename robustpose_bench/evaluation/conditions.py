"""Which conditions an evaluation runs: clean, then the built corruption x severity folders.

Names from a build's manifest become paths, so they are checked before any file is touched: known
corruption names, severities 1..5, file names that stay inside their folder. A tree in AdvMix's own
layout (severity folders 0..4) is never read shifted by one: the manifest says which layout it is,
and a manifest-less tree with a folder ``0`` must be named with ``--layout advmix``.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

from ..errors import UserError

CLEAN = "clean"
SEVERITIES = (1, 2, 3, 4, 5)
LAYOUTS = ("auto", "default", "advmix")


@dataclass(kw_only=True)
class RunOptions:
    """What every evaluation run takes to find its data and where to write (``eval``, ``eval-external``).

    ``dataset``: a registered name; ``dataset_card``: a user's card file (``--dataset-card``), whose name
    ``dataset`` then defaults to. Both are resolved at once into ``card`` (``datasets.cards``)."""

    dataset: str | None = None
    dataset_card: Path | None = None
    data: Path | None = None
    root: Path | None = None
    images: Path | None = None
    ann: Path | None = None
    gt_mat: Path | None = None
    corruptions: Sequence[str] | None = None
    severities: Sequence[int] | None = None
    partial: bool = False
    layout: str = "auto"
    output: Path | None = None  # None: a new run folder (``claim_run_folder``)
    predictions_out: Path | None = None
    overwrite: bool = False
    progress: bool = True
    method: str | None = None
    backbone: str | None = None

    def __post_init__(self) -> None:
        from ..datasets.cards import resolve_card

        self.card = resolve_card(self.dataset, self.dataset_card)
        self.dataset = self.card.name

    @property
    def prediction_dir(self) -> Path:
        """``--predictions-out``, or ``predictions/`` beside the results file."""
        return Path(self.predictions_out) if self.predictions_out else Path(self.output).parent / "predictions"

    def resolve_output(self, model_name: str, runs_root: Path = Path("runs")) -> Path | None:
        """Fill in ``output`` when neither ``-o`` nor ``--predictions-out`` was given: a new run folder
        ``runs/<dataset>/<model>-N/`` (results.json, predictions/), so that a second model never meets
        the first one's predictions (ultralytics' ``runs/pose/val2``). Returns the folder made, else None.

        A sharded run must name its folder: its shards write into one."""
        if self.output is not None:
            return None
        if self.predictions_out is not None:
            self.output = Path("results.json")
            return None
        if getattr(self, "shard", None):
            raise UserError("--shard needs -o RESULTS (the same for every shard): without it each run gets a new "
                            "run folder, and the shards would not meet")
        folder = claim_run_folder(runs_root / self.dataset, model_name)
        self.output = folder / "results.json"
        return folder


def claim_run_folder(parent: Path, name: str) -> Path:
    """``parent/<name>-N`` for the first N whose folder this call creates (``mkdir`` is atomic, so two
    runs started at once never get the same one)."""
    import re

    stem = re.sub(r"[^A-Za-z0-9._+-]+", "_", name).strip("._") or "model"
    parent.mkdir(parents=True, exist_ok=True)
    for n in range(1, 100_000):
        folder = parent / f"{stem}-{n}"
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            continue
    raise UserError(f"{parent}: no free run folder {stem}-N; pass -o")


@contextlib.contextmanager
def resolved_output(opts: RunOptions, model_name: str) -> Iterator[None]:
    """``opts.resolve_output`` for one run; the run folder it made is removed again if the run stops
    before writing into it (``run_eval``, ``run_external`` and ``evaluate`` share this)."""
    made = opts.resolve_output(model_name)
    try:
        yield
    except BaseException:
        release_run_folder(made)
        raise


def release_run_folder(folder: Path | None) -> None:
    """Remove a run folder this run made if the run stopped before writing into it."""
    if folder is not None:
        try:
            folder.rmdir()  # only when empty
        except OSError:
            pass


@dataclass(frozen=True)
class Condition:
    corruption: str            # "clean" or a corruption name
    severity: int              # 0 for clean
    image_dir: Path
    names: dict[str, str] | None = None  # source file name -> file under image_dir, when they differ
    hashes: dict[str, str] | None = None  # source file name -> the built image's sha256 (the manifest's)

    @property
    def key(self) -> str:
        return CLEAN if self.corruption == CLEAN else f"{self.corruption}/{self.severity}"

    def expected_sha256(self, file_name: str) -> str | None:
        """The sha256 the build's manifest gives this image, or None (clean images, manifest-less trees)."""
        return self.hashes.get(file_name) if self.hashes else None

    def path(self, file_name: str) -> Path:
        return self.image_dir / (self.names.get(file_name, file_name) if self.names else file_name)


def _manifest_renames(manifest: dict) -> dict[tuple[str, int], dict[str, str]]:
    """source file -> output file per condition, where they differ (``--format png`` builds). The
    manifest was validated (``builder.manifest.validate_manifest``): every output is the path its
    corruption, severity, source, format and layout give."""
    out: dict[tuple[str, int], dict[str, str]] = {}
    for it in manifest["items"]:
        name = it["output"].split("/", 2)[2]
        if name != it["source"]:
            out.setdefault((it["corruption"], it["severity"]), {})[it["source"]] = name
    return out


def _manifest_hashes(manifest: dict) -> dict[tuple[str, int], dict[str, str]]:
    """source file -> the built image's sha256, per condition: eval checks each image it reads against
    it, so an image replaced after the build is found (issue 19)."""
    out: dict[tuple[str, int], dict[str, str]] = {}
    for it in manifest["items"]:
        if isinstance(it.get("output_sha256"), str):
            out.setdefault((it["corruption"], it["severity"]), {})[it["source"]] = it["output_sha256"]
    return out


def read_manifest(ds_dir: Path) -> tuple[dict | None, str | None]:
    """The build's validated manifest.json and its sha256, or (None, None) when there is none.

    Its names become paths, so it is checked first, by the builder's own rule (known corruptions,
    severities 1..5, outputs inside the dataset folder, seeds as the seed rule gives them).
    """
    from ..atomic import sha256_bytes
    from ..builder.manifest import read_manifest as read_build_manifest

    p = ds_dir / "manifest.json"
    if not p.is_file():
        return None, None
    m, raw = read_build_manifest(p)
    return m, sha256_bytes(raw)


def _tree_layout(ds_dir: Path, names: Sequence[str], requested: str) -> str:
    """'default' or 'advmix' for a manifest-less tree: a folder 0 means AdvMix's 0..4 layout."""
    has0 = any((ds_dir / c / "0").is_dir() for c in names)
    has5 = any((ds_dir / c / "5").is_dir() for c in names)
    if requested == "auto":
        if has0 and has5:
            raise UserError(f"{ds_dir}: severity folders 0 and 5 both exist; pass --layout default (1..5) or "
                            "--layout advmix (0..4)")
        if has0:
            raise UserError(f"{ds_dir} has severity folders starting at 0 (AdvMix's layout, 0..4) and no manifest; "
                            "pass --layout advmix to read folder 0 as severity 1, or --layout default")
        return "default"
    return requested


def find_conditions(
    data: Path | None,
    dataset: str,
    source_image_dir: Path,
    corruptions: Sequence[str] | None = None,
    severities: Sequence[int] | None = None,
    partial: bool = False,
    include_clean: bool = True,
    layout: str = "auto",
) -> tuple[list[Condition], dict | None, str | None, list[str]]:
    """Clean + the built corrupted conditions under ``data/<dataset>`` (builder layout).

    Which conditions: ``corruptions`` x ``severities`` when given; otherwise those the build's
    manifest lists; otherwise the corruption folders found on disk. A requested or manifest-listed
    condition whose folder is missing is an error (skipped with ``partial``). Returns the conditions,
    the manifest, its sha256 and the keys of skipped conditions.
    """
    from corruptions import CORRUPTIONS

    if layout not in LAYOUTS:
        raise UserError(f"--layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    conds = [Condition(CLEAN, 0, source_image_dir)] if include_clean else []
    if data is None:
        if corruptions:
            raise UserError("--corruptions needs --data OUT (the folder the builder wrote)")
        return conds, None, None, []
    ds_dir = Path(data) / dataset
    if not ds_dir.is_dir():
        raise UserError(f"{dataset} was never built under {data}: no folder {ds_dir} "
                        f"(run `robustpose-bench build {dataset} --data {data}`, or pass --data)")
    manifest, msha = read_manifest(ds_dir)
    for c in corruptions or ():
        if c not in CORRUPTIONS:
            raise UserError(f"--corruptions: unknown corruption {c!r} (see `robustpose-bench list corruptions`)")
    for s in severities or ():
        if s not in SEVERITIES:
            raise UserError(f"--severities: severity must be 1..5, got {s}")
    explicit = bool(corruptions)
    if manifest is not None:
        mnames, msevs, built_layout = manifest["corruptions"], manifest["severities"], manifest["layout"]
        if layout not in ("auto", built_layout):
            raise UserError(f"--layout {layout}, but the build's manifest says layout {built_layout!r}")
        layout = built_layout
    else:
        mnames, msevs = [], list(SEVERITIES)
    if corruptions:
        names = list(corruptions)
    elif manifest is not None:
        names = mnames
    else:
        names = sorted(d.name for d in ds_dir.iterdir() if d.is_dir() and d.name in CORRUPTIONS)
        if not names:
            raise UserError(f"{ds_dir} holds no built corruption folders (and no manifest.json); "
                            f"run `robustpose-bench build {dataset} --data {data}`")
    if manifest is None:
        layout = _tree_layout(ds_dir, names, layout)
    sevs = list(severities) if severities else msevs
    rename = _manifest_renames(manifest) if manifest is not None else {}
    hashes = _manifest_hashes(manifest) if manifest is not None else {}
    missing: list[str] = []
    for c in names:
        for s in sevs:
            folder = ds_dir / c / str(s - 1 if layout == "advmix" else s)
            if folder.is_dir():
                conds.append(Condition(c, s, folder, rename.get((c, s)), hashes.get((c, s))))
            elif explicit or manifest is not None or (ds_dir / c).is_dir():
                missing.append(f"{c}/{s}")
    skipped: list[str] = []
    if missing:
        if not partial:
            shown = ", ".join(missing[:8]) + (f" (+{len(missing) - 8} more)" if len(missing) > 8 else "")
            raise UserError(f"missing built condition(s) under {ds_dir}: {shown} "
                            "(build them, choose --corruptions/--severities, or pass --partial)")
        skipped = missing
    return conds, manifest, msha, skipped


def check_condition_files(cond: Condition, files: Sequence[str]) -> None:
    """Every image of the condition must exist: a half-built condition would give a wrong score."""
    absent = [f for f in files if not cond.path(f).is_file()]
    if absent:
        raise UserError(f"condition {cond.key}: {len(absent)} of {len(files)} images missing under "
                        f"{cond.image_dir}, e.g. {cond.path(absent[0]).name} (incomplete build: rerun "
                        "`robustpose-bench build`, or check with `robustpose-bench verify`)")


def check_grid(conds: list[Condition], partial: bool) -> list[str]:
    """Fail before any inference when the 15 x 5 grid cannot be complete (unless partial)."""
    from corruptions import BENCHMARK_CORRUPTIONS

    from ..metrics.robustness import describe_missing

    have = {c.key for c in conds}
    missing = ([] if CLEAN in have else [CLEAN]) + [
        f"{c}/{s}" for c in BENCHMARK_CORRUPTIONS for s in SEVERITIES if f"{c}/{s}" not in have]
    if missing and not partial:
        raise UserError(f"the benchmark needs clean + 15 corruptions x 5 severities; missing "
                        f"{describe_missing(missing)} (build them with `robustpose-bench build` and pass --data OUT, "
                        "or pass --partial to evaluate what exists)")
    return missing


__all__ = ["CLEAN", "SEVERITIES", "Condition", "RunOptions", "check_condition_files", "check_grid", "find_conditions",
           "read_manifest"]
