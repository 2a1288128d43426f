"""Notice when a run's inputs change under it: what ``eval-external`` checks after each condition.

Why: ``eval-external`` hands the user's command the real image folders and annotation file. A command
that wrote into them destroyed the sources, and later evaluations ran on the damaged build without a
word (issue 19). Copying the inputs read-only for every condition would cost a full copy of the build;
instead every file's (inode, size, mtime, ctime) is recorded before the first condition and compared
after each one. ctime is set by the kernel on any write, rename or chmod and cannot be set back from
user space, so a change is found even when the command restores the mtime.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

Fingerprint = tuple[int, int, int, int]


def _stat(path: str) -> Fingerprint | None:
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


def _scan(dirs: Iterable[Path], files: Iterable[Path]) -> dict[str, Fingerprint]:
    """Every entry under ``dirs`` (not following links) and every file in ``files``."""
    out: dict[str, Fingerprint] = {}
    stack = [os.fspath(d) for d in dirs if os.path.isdir(d)]
    seen: set[str] = set()
    while stack:
        d = stack.pop()
        real = os.path.realpath(d)
        if real in seen:
            continue
        seen.add(real)
        fp = _stat(d)
        if fp is not None:
            out[d] = fp
        try:
            with os.scandir(d) as it:
                for e in it:
                    try:
                        st = e.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    out[e.path] = (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
                    if e.is_dir(follow_symlinks=False):
                        stack.append(e.path)
        except OSError:
            continue
    for f in files:
        fp = _stat(os.fspath(f))
        if fp is not None:
            out[os.fspath(f)] = fp
    return out


class InputWatch:
    """The inputs' fingerprints now; ``changed()`` names the first difference since, or None."""

    def __init__(self, dirs: Iterable[Path], files: Iterable[Path]) -> None:
        self._dirs, self._files = list(dirs), list(files)
        self._before = _scan(self._dirs, self._files)

    def changed(self) -> str | None:
        now = _scan(self._dirs, self._files)
        if now == self._before:
            return None
        for path in sorted(set(self._before) | set(now)):
            a, b = self._before.get(path), now.get(path)
            if a is None:
                return f"{path} was added"
            if b is None:
                return f"{path} was removed"
            if a != b:
                if os.path.isdir(path) and a[0] == b[0]:
                    continue  # a folder's own times change with its entries: the entry names the change
                return f"{path} was modified"
        return "an input changed"
