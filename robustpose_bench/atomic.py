"""Atomic file writes and hashing: a reader never sees a half-written file.

Every write goes to a temporary file in the destination folder, is flushed and fsynced,
then renamed over the target (``os.replace`` is atomic on POSIX within one filesystem).

The temporary file is created with mode ``0o666`` and ``O_EXCL``, so the kernel applies the process
umask (and any default ACL) exactly as it does for ``open()``: ``tempfile.mkstemp`` would create it
``0600``, and the rename would carry that private mode onto every output, manifest and page.
"""
from __future__ import annotations

import hashlib
import json
import os
import secrets
from pathlib import Path
from typing import Any


def atomic_write_bytes(path: str | os.PathLike, data: bytes, fsync: bool = True) -> None:
    """Write ``data`` to ``path`` atomically; on any error the temp file is removed.

    ``fsync=False`` keeps the atomic rename but skips the flush to disk (still safe against a
    killed process; only a power loss can lose it): for callers that re-check checksums on
    resume anyway, such as the builder's many small outputs.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_temp(path)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            if fsync:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(exc, OSError) and exc.errno is not None:
            # The temp file is gone now: name the file the caller asked for, not ours.
            raise type(exc)(exc.errno, exc.strerror, os.fspath(path)) from None
        raise


def _create_temp(path: Path) -> tuple[int, str]:
    """A new hidden ``.<name>.<random>.tmp`` beside ``path``, created like ``open()`` creates files.

    The name pattern is the one ``builder.tasks.cleanup_temp_files`` removes after a killed run.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        tmp = str(path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp"))
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"cannot create a temporary file beside {path}")


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any, indent: int | None = 2) -> None:
    """JSON with sorted keys and a trailing newline, so equal content gives equal bytes."""
    atomic_write_text(path, json.dumps(obj, indent=indent, sort_keys=True, allow_nan=False) + "\n")


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()
