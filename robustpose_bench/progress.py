"""Progress on stderr: a tqdm bar with an ETA on a terminal, plain lines in a log.

Why: tqdm redraws its bar with carriage returns, which a log file keeps, every one (32 KB of
``\\r`` for a 13-image eval). When stderr is not a terminal, a bar that ``leave``s (the run's
bar: conditions, images, files) prints a line per step, at most one every ``every`` seconds
(none for conditions, 30 s otherwise) plus a last one, each with tqdm's own counts, rate and ETA; an
inner bar that does not ``leave`` (crops of one condition) prints nothing.
"""
from __future__ import annotations

import sys
import time
from typing import Any, Iterable

#: Seconds between two lines in a log, by unit: a line per condition, else every 30 s.
LINE_EVERY_S = {"cond": 0.0}
DEFAULT_LINE_EVERY_S = 30.0


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class _Lines:
    """The part of tqdm's interface our loops use, printing whole lines (``tqdm.format_meter``)."""

    def __init__(self, iterable: Iterable | None, total: int | None, desc: str | None, unit: str, initial: int,
                 unit_scale: bool, file: Any, every: float) -> None:
        self.iterable, self.total, self.desc, self.unit = iterable, total, desc, unit
        self.n, self.unit_scale, self.file, self.every = initial, unit_scale, file, every
        self.start = time.monotonic()
        self.last_line = float("-inf")
        self.postfix: str | None = None
        self.closed = False
        if self.total is None and iterable is not None and hasattr(iterable, "__len__"):
            self.total = len(iterable)  # type: ignore[arg-type]

    def _line(self) -> None:
        from tqdm import tqdm

        text = tqdm.format_meter(self.n, self.total, time.monotonic() - self.start, prefix=self.desc or "",
                                 unit=self.unit, unit_scale=self.unit_scale, postfix=self.postfix, ncols=0)
        self.file.write(text + "\n")
        self.file.flush()
        self.last_line = time.monotonic()

    def update(self, n: int = 1) -> None:
        self.n += n
        if time.monotonic() - self.last_line >= self.every and (self.total is None or self.n < self.total):
            self._line()

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        self.postfix = s

    def set_postfix(self, ordered_dict: Any = None, refresh: bool = True, **kwargs: Any) -> None:
        items = {**(dict(ordered_dict) if ordered_dict else {}), **kwargs}
        self.postfix = ", ".join(f"{k}={v}" for k, v in items.items())

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._line()

    def __iter__(self):
        for item in self.iterable or ():
            yield item
            self.update()

    def __enter__(self) -> "_Lines":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Off(_Lines):
    def _line(self) -> None:  # an inner bar in a log: nothing
        pass


def progress_bar(iterable: Iterable | None = None, *, total: int | None = None, desc: str | None = None,
                 unit: str = "it", enabled: bool = True, leave: bool = True, initial: int = 0,
                 unit_scale: bool = False, file: Any = None) -> Any:
    """A progress display on ``file`` (stderr): tqdm on a terminal, lines in a log, nothing when not
    ``enabled`` (``--no-progress``)."""
    from tqdm import tqdm

    file = sys.stderr if file is None else file
    if enabled and _is_terminal(file):
        return tqdm(iterable, total=total, desc=desc, unit=unit, leave=leave, initial=initial, unit_scale=unit_scale,
                    file=file, dynamic_ncols=True)
    cls = _Lines if enabled and leave else _Off
    return cls(iterable, total, desc, unit, initial, unit_scale, file, LINE_EVERY_S.get(unit, DEFAULT_LINE_EVERY_S))
