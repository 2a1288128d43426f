"""``eval-external``: run anyone's own prediction command once per condition, then score it.

Many research code bases (openpifpaf, DEKR, mmpose's test tools) can predict but cannot be exported
to one ONNX file. Their users give a command template; for each condition (clean, then every built
corruption x severity) it runs with the placeholders filled in, writes the condition's predictions in
the format ``score`` reads, and is scored by the dataset's scorer, as ``eval`` scores its own.

Placeholders: ``{images}`` the condition's image folder, ``{ann}`` the annotation file, ``{out}`` the
predictions file to write (required: ``{images}`` and ``{out}``); ``{condition}``, ``{corruption}``
and ``{severity}`` name the condition. The command runs without a shell (an argument list), so a
placeholder can never inject another command; give ``sh -c '...'`` yourself when you need one (in its
script placeholders become ``${RPB_...}`` variable references, see ``fill``).

The command runs in its own process group, killed as a group (``run_condition``); the inputs it is
given are checked unchanged after every condition (``inputs.py``); outputs never land among the
inputs (``outputs.py``).

Resumable per condition with the evaluator's run store (``store.py``): the run's identity is the
command template and the content of the files it names, the box source, the dataset, the image
folder, the annotation and the build. Each condition's record keeps the
command line and its exit status, and results.json lists them in its provenance. A failing condition
(non-zero exit, no file, invalid predictions) is reported naming the condition and the command's
last stderr line; with ``keep_going`` the others still run and the results are partial.
"""
from __future__ import annotations

import contextlib
import os
import shlex
import string
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

from .. import __version__
from ..atomic import sha256_file
from ..datasets import open_dataset
from ..errors import UserError
from .conditions import Condition, RunOptions, check_grid, find_conditions, resolved_output
from .store import EXTERNAL_REJECTED, EXTERNAL_TEMP, PredictionStore, check_run_outputs

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


#: Shells whose ``-c`` script gets placeholders as variable references (see ``fill``).
SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "busybox"})
#: The environment variable each placeholder is also given as (``RPB_IMAGES``...).
ENV_NAMES = {name: f"RPB_{name.upper()}" for name in PLACEHOLDERS}
#: The most of a command's stderr kept in memory (its tail, for the failure message).
STDERR_TAIL_BYTES = 64 * 1024
#: After SIGTERM, how long the command's process group gets before SIGKILL.
TERM_GRACE_S = 5.0


def _shell_script_index(command: Sequence[str]) -> int | None:
    """The index of the script in ``sh -c SCRIPT ...`` (any option cluster holding ``c``), else None."""
    if not command or os.path.basename(command[0]) not in SHELLS:
        return None
    for i, arg in enumerate(command[1:], start=1):
        if not arg.startswith("-"):
            return None
        if arg.startswith("-") and not arg.startswith("--") and "c" in arg[1:]:
            return i + 1 if i + 1 < len(command) else None
    return None


def fill(command: Sequence[str], values: dict[str, str]) -> list[str]:
    """The command with its placeholders filled in.

    In the script of ``sh -c '...'`` a placeholder becomes a reference to its environment variable
    (``"{images}"`` -> ``"${RPB_IMAGES}"``): the shell expands the value but never parses it, so a folder
    named ``x;$(touch PWNED)"`` stays a name (issue 19). Every other argument gets the value itself: it
    is passed as one argument, with no shell in between.
    """
    script = _shell_script_index(command)
    out = []
    for i, arg in enumerate(command):
        if i == script:
            out.append(arg.format(**{k: "${" + ENV_NAMES[k] + "}" for k in values}))
        else:
            out.append(arg.format(**values))
    return out


def command_env(values: dict[str, str]) -> dict[str, str]:
    return {ENV_NAMES[k]: v for k, v in values.items()}


def _last_line(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1].strip()[:500] if lines else "(no stderr)"


class _Tail:
    """Reads a pipe to its end in a thread, keeping only its last ``limit`` bytes (a command may print
    hundreds of MB on stderr; the whole stream was kept in memory)."""

    def __init__(self, pipe, limit: int = STDERR_TAIL_BYTES) -> None:
        import threading

        self._pipe, self._limit, self._buf = pipe, limit, bytearray()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            while True:
                chunk = self._pipe.read1(65536) if hasattr(self._pipe, "read1") else self._pipe.read(65536)
                if not chunk:
                    break
                self._buf += chunk
                if len(self._buf) > 2 * self._limit:
                    del self._buf[:-self._limit]
        except (OSError, ValueError):
            pass

    def text(self, wait_s: float = 2.0) -> str:
        self._thread.join(wait_s)
        return bytes(self._buf[-self._limit:]).decode("utf-8", errors="replace")


def _kill_group(proc: subprocess.Popen, grace_s: float = TERM_GRACE_S) -> None:
    """SIGTERM the command's whole process group, then SIGKILL what is left after ``grace_s``."""
    import signal

    for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 0.0)):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            return
        if wait:
            try:
                proc.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def run_condition(argv: list[str], timeout: float | None, env: dict[str, str]) -> tuple[int, str]:
    """Run one condition's command; (exit status, last stderr line). A missing program is a UserError.

    The command runs in its own session (process group): on timeout, on Ctrl-C or SIGTERM to us, and
    once it has exited (children it left behind, which could hold stderr open or write into the
    predictions folder later), the whole group is killed. Only the tail of stderr is kept.
    """
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                env={**os.environ, **env}, start_new_session=True)
    except FileNotFoundError:
        raise UserError(f"eval-external: command not found: {argv[0]}") from None
    except PermissionError:
        raise UserError(f"eval-external: command not executable: {argv[0]}") from None
    tail = _Tail(proc.stderr)
    try:
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            return -1, f"timed out after {timeout:g} s"
    except BaseException:
        _kill_group(proc, grace_s=1.0)  # Ctrl-C or SIGTERM to the driver: the predictor goes with it
        raise
    _kill_group(proc, grace_s=0.0)  # what it left running in its group (it has exited itself)
    try:
        return rc, _last_line(tail.text())
    finally:
        proc.stderr.close()


@contextlib.contextmanager
def _sigterm_raises() -> Iterator[None]:
    """SIGTERM to the driver raises SystemExit(143) (Python's default is to die at once), so that the
    running command's process group is killed on the way out (``run_condition``)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):  # noqa: ARG001 - the signal module's signature
        raise SystemExit(128 + signum)

    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def check_timeout(timeout: float | None) -> None:
    import math

    if timeout is not None and (not isinstance(timeout, (int, float)) or not math.isfinite(timeout)
                                or not 0 < timeout <= 30 * 86400):
        raise UserError(f"--timeout must be a number of seconds in (0, 2592000], got {timeout!r}")


def _short(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def _remove(path: Path) -> None:
    """Remove our own temp ``{out}`` whatever the command left there (a file, a link, a folder)."""
    import shutil

    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)


def run_external(opts: ExternalOptions) -> dict:
    """Run ``opts.command`` on every condition, score the predictions, write results.json (without
    ``output``: in a new run folder ``runs/<dataset>/external-N/``, as ``run_eval``)."""
    with resolved_output(opts, "external"):
        return _run_external(opts)


def _run_external(opts: ExternalOptions) -> dict:
    from ..progress import progress_bar

    from ..results import make_results, write_results

    from ..outputs import existing_files
    from .inputs import InputWatch
    from .runner import input_dirs

    check_template(opts.command)
    check_timeout(opts.timeout)
    ds = open_dataset(opts.card, root=opts.root, images=opts.images, ann=opts.ann, gt_mat=opts.gt_mat, data=opts.data)
    conds, manifest, manifest_sha, skipped = find_conditions(
        opts.data, opts.dataset, ds.source.image_dir, opts.corruptions, opts.severities, opts.partial,
        layout=opts.layout)
    check_grid(conds, opts.partial)
    pred_dir = opts.prediction_dir
    named = existing_files(opts.command)  # the user's script, config...: never overwritten, part of the identity
    inputs = [("the annotation file", ds.source.ann_path), *named]
    inputs += [("an input file", v) for v in ds.source.extra.values() if isinstance(v, Path)]
    dirs = input_dirs(opts, ds, conds)
    check_run_outputs(pred_dir, [c.key for c in conds], Path(opts.output), inputs, dirs)
    identity = {"package": __version__, "dataset": opts.dataset, "dataset_card": opts.card.identity(),
                "external_command": list(opts.command),
                "command_files": {str(p): sha256_file(p) for _, p in named},
                "boxes": opts.boxes, "source_images": os.path.realpath(ds.source.image_dir),
                "annotations_sha256": sha256_file(ds.source.ann_path), "manifest_sha256": manifest_sha}
    store = PredictionStore(pred_dir, identity)
    store.claim(overwrite=opts.overwrite)
    try:
        # The command gets the real folders; what it changes there is found after each condition (issue 19)
        watch = InputWatch([p for _, p in dirs], [p for w, p in inputs if (w, p) not in named])

        rows_by_key: dict[str, list[dict]] = {}
        pred_files: dict[str, str] = {}
        runs: dict[str, dict[str, Any]] = {}
        failed: dict[str, str] = {}
        with _sigterm_raises(), progress_bar(conds, desc="conditions", unit="cond", enabled=opts.progress) as bar:
            for cond in bar:
                bar.set_postfix_str(cond.key)
                done = store.done(cond.key)
                if done is not None:
                    rows_by_key[cond.key] = done
                    pred_files[cond.key] = sha256_file(store.prediction_path(cond.key))
                    runs[cond.key] = store.record(cond.key).get("external", {})
                    continue
                reason, rows = _one(opts, ds, store, cond, runs)
                changed = watch.changed()
                if changed is not None:
                    store.discard(cond.key)
                    raise UserError(f"eval-external: condition {cond.key}: the command changed its inputs ({changed}); "
                                    "they must stay read-only: restore them (`robustpose-bench verify` checks a build) "
                                    "and fix the command")
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
        results = make_results(opts.card, rows, partial=opts.partial or bool(failed), provenance=provenance,
                               config=config)
        write_results(opts.output, results)
    finally:
        store.close()  # the folder's lock (`store.py`)
    return results


def _one(opts: ExternalOptions, ds, store: PredictionStore, cond: Condition,
         runs: dict[str, dict[str, Any]]) -> tuple[str | None, list[dict]]:
    """Run, check and score one condition; (failure reason or None, rows)."""
    from ..jsonfile import read_json
    from ..metrics.scoring import condition_rows

    out = store.prediction_path(cond.key)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp, rejected = out.with_name(EXTERNAL_TEMP), out.with_name(EXTERNAL_REJECTED)
    _remove(tmp)
    _remove(rejected)
    values = {"images": str(cond.image_dir), "ann": str(ds.source.ann_path), "out": str(tmp),
              "condition": cond.key, "corruption": cond.corruption, "severity": str(cond.severity)}
    argv = fill(opts.command, values)
    rc, last = run_condition(argv, opts.timeout, {**opts.env, **command_env(values)})
    runs[cond.key] = {"command": shlex.join(argv), "returncode": rc}
    where = f"condition {cond.key}: `{_short(shlex.join(argv))}`"
    try:
        if rc != 0:
            return f"{where} exited with status {rc}: {last}", []
        if tmp.is_symlink() or not tmp.is_file():
            # Name only what still exists afterwards: our temp path is cleared below.
            what = "a folder or link, not a file, (removed)" if os.path.lexists(tmp) else "no predictions file"
            return f"{where} wrote {what} at {{out}}; its last stderr line: {last}", []
        # Checked under the name it keeps if refused, so that every message names a file that exists
        # and the user can see what the command wrote; removed once accepted (store.save copies it).
        os.replace(tmp, rejected)
        try:
            payload = read_json(rejected, "predictions file")
            metrics = ds.score(payload, source=str(rejected))
        except UserError as exc:
            return f"{where} wrote invalid predictions (kept as {rejected}): {str(exc).splitlines()[0]} " \
                   f"(last stderr line: {last})", []
        rejected.unlink()
    finally:
        _remove(tmp)
    rows = condition_rows(opts.dataset, cond.corruption, cond.severity, metrics)
    store.save(cond.key, payload, rows, extra={"external": runs[cond.key]})  # the command line and its status
    return None, rows
