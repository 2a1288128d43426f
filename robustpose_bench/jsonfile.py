"""Reading JSON files given by the user: one helper, so every command reports problems the same way.

A missing, unreadable or malformed file becomes a one-line ``UserError`` that names the file and
what it was supposed to be, never a traceback.
"""
from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

from .errors import UserError


def read_regular_bytes(path: str | os.PathLike, what: str = "file") -> bytes:
    """The bytes of ``path``, which must be a regular file (a symlink to one is fine).

    A device, FIFO or socket is refused without reading: ``/dev/zero`` never ends and opening a FIFO
    blocks until a writer appears (``O_NONBLOCK`` keeps the open itself from waiting).
    """
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise UserError(f"{what} not found: {path}") from None
    except IsADirectoryError:
        raise UserError(f"{what} {path} is a folder, expected a file") from None
    except OSError as exc:
        raise UserError(f"cannot read {what} {path} ({exc.strerror})") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        if stat.S_ISDIR(mode):
            raise UserError(f"{what} {path} is a folder, expected a file")
        raise UserError(f"{what} {path} is not a regular file (a device, FIFO or socket); not read")
    with os.fdopen(fd, "rb") as fh:
        try:
            return fh.read()
        except OSError as exc:
            raise UserError(f"cannot read {what} {path} ({exc.strerror})") from None


def read_json(path: str | os.PathLike, what: str = "file") -> Any:
    """Parse the JSON file at ``path``; ``what`` names it in errors (e.g. "detection file")."""
    path = Path(path)
    raw = read_regular_bytes(path, what)
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: not valid JSON ({exc})") from None
    except RecursionError:  # [[[[...]]]] 100,000 deep: the parser's stack, not a traceback
        raise UserError(f"{path}: JSON nested too deeply to read (over ~{sys.getrecursionlimit()} levels)") from None
