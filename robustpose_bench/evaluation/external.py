"""``eval-external``: run anyone's own prediction command once per condition, then score it.

Many research code bases (openpifpaf, DEKR, mmpose's test tools) can predict but cannot be exported
to one ONNX file. Their users give a command template; for each condition (clean, then every built
corruption x severity) it runs with the placeholders filled in, writes the condition's predictions in
the format ``score`` reads, and is scored by the dataset's scorer, as ``eval`` scores its own.

Placeholders: ``{images}`` the condition's image folder, ``{ann}`` the annotation file, ``{out}`` the
predictions file to write (required: ``{images}`` and ``{out}``); ``{condition}``, ``{corruption}``
and ``{severity}`` name the condition. The command runs without a shell (an argument list), so a
placeholder can never inject another command; give ``sh -c '...'`` yourself when you need one.

Resumable per condition with the evaluator's run store (``store.py``): the run's identity is the
command template, the dataset, the annotation and the build. Each condition's record keeps the
command line and its exit status, and results.json lists them in its provenance. A failing condition
(non-zero exit, no file, invalid predictions) is reported naming the condition and the command's
last stderr line; with ``keep_going`` the others still run and the results are partial.
"""
from __future__ import annotations

import os
import shlex
import string
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Any, Sequence

from .. import __version__
from ..atomic import sha256_file
from ..datasets import eval_dataset
from ..errors import UserError
from .conditions import Condition, RunOptions, check_grid, find_conditions
from .store import PREDICTION_FILE, PredictionStore

PLACEHOLDERS = ("images", "ann", "out", "condition", "corruption", "severity")
REQUIRED = ("images", "out")


@dataclass(kw_only=True)
class ExternalOptions(RunOptions):
    command: Sequence[str]
    boxes: dict | None = None   # where the command's person boxes came from (``score --boxes``); None: not said
    keep_going: bool = False
    timeout: float | None = None
    env: dict[str, str] = field(default_factory=dict)


def check_template(command: Sequence[str]) -> None:
    """Every ``{name}`` must be a known placeholder; ``{images}`` and ``{out}`` must be there."""
    if not command:
        raise UserError("eval-external: give the prediction command after --, e.g. -- python predict.py {images} "
                        "{ann} {out}")
    used: set[str] = set()
    for arg in command:
        try:
            parsed = list(string.Formatter().parse(arg))
        except ValueError as exc:
            raise UserError(f"eval-external: command argument {arg!r}: {exc} (write a literal brace as {{{{ or }}}})") \
                from None
        for _, name, spec, conv in parsed:
            if name is None:
                continue
            if name not in PLACEHOLDERS or spec or conv:
                raise UserError(f"eval-external: unknown placeholder {{{name}}} in {arg!r}; known: "
                                + ", ".join(f"{{{p}}}" for p in PLACEHOLDERS))
            used.add(name)
    missing = [p for p in REQUIRED if p not in used]
    if missing:
        raise UserError(f"eval-external: the command never names {', '.join('{' + m + '}' for m in missing)}; "
                        "it must read the condition's images and write its predictions there")


def fill(command: Sequence[str], values: dict[str, str]) -> list[str]:
    return [arg.format(**values) for arg in command]


def _last_line(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1].strip() if lines else "(no stderr)"


def run_condition(argv: list[str], timeout: float | None, env: dict[str, str]) -> tuple[int, str]:
    """Run one condition's command; (exit status, last stderr line). A missing program is a UserError."""
    try:
        proc = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, errors="replace",
                              timeout=timeout, env={**os.environ, **env})
    except FileNotFoundError:
        raise UserError(f"eval-external: command not found: {argv[0]}") from None
    except PermissionError:
        raise UserError(f"eval-external: command not executable: {argv[0]}") from None
    except subprocess.TimeoutExpired:
        return -1, f"timed out after {timeout:g} s"
    return proc.returncode, _last_line(proc.stderr or "")


def run_external(opts: ExternalOptions) -> dict:
    """Run ``opts.command`` on every condition, score the predictions, write results.json."""
    from tqdm import tqdm

    from ..results import make_results, write_results

    check_template(opts.command)
    ds = eval_dataset(opts.dataset).open(root=opts.root, images=opts.images, ann=opts.ann, gt_mat=opts.gt_mat,
                                         data=opts.data)
    conds, manifest, manifest_sha, skipped = find_conditions(
        opts.data, opts.dataset, ds.source.image_dir, opts.corruptions, opts.severities, opts.partial,
        layout=opts.layout)
    check_grid(conds, opts.partial)
    pred_dir = opts.prediction_dir
    identity = {"package": __version__, "dataset": opts.dataset, "external_command": list(opts.command),
                "annotations_sha256": sha256_file(ds.source.ann_path), "manifest_sha256": manifest_sha}
    store = PredictionStore(pred_dir, identity)
    store.claim(overwrite=opts.overwrite)

    rows_by_key: dict[str, list[dict]] = {}
    pred_files: dict[str, str] = {}
    runs: dict[str, dict[str, Any]] = {}
    failed: dict[str, str] = {}
    with tqdm(conds, desc="conditions", unit="cond", file=sys.stderr, disable=not opts.progress) as bar:
        for cond in bar:
            bar.set_postfix_str(cond.key)
            done = store.done(cond.key)
            if done is not None:
                rows_by_key[cond.key] = done
                pred_files[cond.key] = sha256_file(store.prediction_path(cond.key))
                runs[cond.key] = store.record(cond.key).get("external", {})
                continue
            reason, rows = _one(opts, ds, store, cond, runs)
            if reason is not None:
                if not opts.keep_going:
                    raise UserError(reason)
                failed[cond.key] = reason
                continue
            rows_by_key[cond.key] = rows
            pred_files[cond.key] = sha256_file(store.prediction_path(cond.key))
    rows = [r for c in conds if c.key in rows_by_key for r in rows_by_key[c.key]]
    if not rows:
        raise UserError(f"eval-external: every condition failed; the first: {next(iter(failed.values()))}")
    provenance = {
        "model": None, "manifest_sha256": manifest_sha,
        "boxes": opts.boxes,
        "device": None, "execution_provider": None, "flip": None,
        "seeds": ({"master_seed": manifest.get("master_seed"), "seed_rule": manifest.get("seed_rule")}
                  if manifest else None),
        "scorer": ds.scorer_provenance(),
        "predictions": {"dir": str(pred_dir), "files": pred_files, "run_id": store.run_id},
        "external": {"command": list(opts.command), "runs": runs, "failed": failed},
        "data": {"dir": str(opts.data) if opts.data else None, "source_images": str(ds.source.image_dir),
                 "annotations": str(ds.source.ann_path), "annotations_sha256": identity["annotations_sha256"],
                 "skipped_conditions": skipped, "num_images": ds.counts()["images"],
                 "num_persons": ds.counts()["persons"]},
    }
    config = {"source": "eval-external", "method": opts.method, "backbone": opts.backbone,
              "boxes": (opts.boxes or {}).get("source"),
              "conditions": [c.key for c in conds if c.key in rows_by_key]}
    results = make_results(opts.dataset, rows, partial=opts.partial or bool(failed), provenance=provenance,
                           config=config)
    write_results(opts.output, results)
    return results


def _one(opts: ExternalOptions, ds, store: PredictionStore, cond: Condition,
         runs: dict[str, dict[str, Any]]) -> tuple[str | None, list[dict]]:
    """Run, check and score one condition; (failure reason or None, rows)."""
    from ..jsonfile import read_json
    from ..metrics.scoring import condition_rows

    out = store.prediction_path(cond.key)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{PREDICTION_FILE}.external")
    tmp.unlink(missing_ok=True)
    argv = fill(opts.command, {"images": str(cond.image_dir), "ann": str(ds.source.ann_path), "out": str(tmp),
                               "condition": cond.key, "corruption": cond.corruption, "severity": str(cond.severity)})
    rc, last = run_condition(argv, opts.timeout, opts.env)
    runs[cond.key] = {"command": shlex.join(argv), "returncode": rc}
    where = f"condition {cond.key}: `{shlex.join(argv)}`"
    if rc != 0:
        return f"{where} exited with status {rc}: {last}", []
    if not tmp.is_file():
        return f"{where} wrote no predictions file ({{out}} = {tmp}); its last stderr line: {last}", []
    try:
        payload = read_json(tmp, "predictions file")
        metrics = ds.score(payload, source=str(tmp))
    except UserError as exc:
        return f"{where} wrote invalid predictions: {str(exc).splitlines()[0]} (last stderr line: {last})", []
    finally:
        tmp.unlink(missing_ok=True)
    rows = condition_rows(opts.dataset, cond.corruption, cond.severity, metrics)
    store.save(cond.key, payload, rows, extra={"external": runs[cond.key]})  # the command line and its status
    return None, rows
