"""Progress in a log (stderr not a terminal): lines, never carriage-return redraws (issue 24: 32 KB of
``\\r`` for a 13-image eval); on a terminal, tqdm's bar."""
from __future__ import annotations

import io

from cli_helpers import run_cli

from robustpose_bench.progress import progress_bar


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_log_gets_a_line_per_condition_and_no_carriage_returns():
    log = io.StringIO()
    with progress_bar(total=3, desc="eval coco-c", unit="cond", file=log) as bar:
        for key in ("clean", "fog/1", "fog/2"):
            bar.set_postfix_str(key)
            bar.update()
    text = log.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    assert len(lines) == 3 and lines[-1].startswith("eval coco-c: 100%") and "3/3" in lines[-1]
    assert "1/3" in lines[0] and "clean" in lines[0] and "<" in lines[0]  # counts, the step, an ETA


def test_inner_bars_are_silent_in_a_log_and_images_are_rate_limited():
    log = io.StringIO()
    with progress_bar(total=1000, desc="crops", unit="crop", leave=False, file=log) as bar:
        for _ in range(1000):
            bar.update()
    assert log.getvalue() == ""
    with progress_bar(total=1000, desc="build", unit="img", file=log) as bar:
        for _ in range(1000):
            bar.update()
    lines = log.getvalue().splitlines()
    assert len(lines) == 2 and lines[-1].startswith("build: 100%")  # the first step, then the last line


def test_a_terminal_gets_tqdm_and_no_progress_means_nothing():
    tty = _Tty()
    with progress_bar(total=2, desc="x", unit="cond", file=tty) as bar:
        bar.update(2)
    assert "\r" in tty.getvalue() and "100%" in tty.getvalue()
    quiet = io.StringIO()
    with progress_bar(total=2, desc="x", unit="cond", enabled=False, file=quiet) as bar:
        bar.update(2)
    assert quiet.getvalue() == ""


def test_an_eval_writes_a_few_lines_to_a_log(built_samples, tmp_path):
    from test_models import export_tiny

    s = built_samples["coco-c"]
    model = export_tiny(tmp_path)[0]
    rc, _, err = run_cli("eval", model, "--dataset", "coco-c", "--images", s["images"], "--ann", s["ann"],
                         "--data", s["data"], "--partial", "-o", tmp_path / "r.json")
    assert rc == 0, err
    assert "\r" not in err
    lines = err.splitlines()
    n = len(__import__("json").loads((tmp_path / "r.json").read_text())["config"]["conditions"])
    assert len(lines) == n and all(": " in line and f"/{n}" in line for line in lines), err
