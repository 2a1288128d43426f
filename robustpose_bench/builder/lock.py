"""One build at a time per dataset folder, and no writes from a build that another one has replaced.

Why: two builds into one ``OUT/<dataset>`` interleaved their outputs and the last manifest silently
replaced the first; and when a build's main process is killed, its loky workers live on and finish
the tasks they hold, writing into the folder while the re-run (or a ``--rebuild``) works there.

How (all the files live in ``OUT/<dataset>/.journal/build/``, which ``verify`` skips):

- The main process holds an exclusive ``flock`` on ``lock``; a shard holds one on
  ``lock.shard-I-of-N`` (I counted from 0, as every shard file name: ``runner.py``) plus a shared one on ``lock``, so shards run side by side but never beside
  an unsharded build. The kernel drops a flock when its holder dies: the lock file of a killed build
  is simply taken over (its recorded pid only names the holder in the error message).
- The owner writes ``pid host token`` into its lock file. Every task carries that token and re-reads
  it before each write, holding a shared flock on ``writers``: once another build has taken over
  (another token), the old build's workers stop before writing anything.
- A new owner, once its token is written, takes ``writers`` exclusively for a moment, so that any
  write begun under an old token has been renamed into place before the new build looks at the folder.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import secrets
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from ..errors import UserError
from .manifest import STATE_DIR

LOCK_NAME = "lock"
WRITERS_NAME = "writers"
SHARD_LOCK_GLOB = "lock.shard-*-of-*"
BARRIER_TIMEOUT_S = 120.0


class Superseded(UserError):
    """Another build has taken over the dataset folder: this (orphaned) build must not write."""


def _open(path: Path) -> int:
    return os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o666)


def _try_flock(fd: int, op: int, path: Path) -> bool:
    """Take a flock without waiting; False when another process holds a conflicting one."""
    try:
        fcntl.flock(fd, op | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EACCES):
            return False
        raise UserError(f"cannot lock {path}: {exc.strerror} (the file system must support flock)") from None


def _read_owner(path: Path) -> list[str]:
    """``[pid, host, token]`` recorded in a lock file, or ``[]``."""
    try:
        return path.read_text(encoding="utf-8", errors="replace").split()
    except OSError:
        return []


@dataclass(frozen=True)
class Owner:
    """What a task needs to check that its build still owns the folder (plain, picklable)."""

    lock_path: str
    writers_path: str
    token: str

    def check(self) -> None:
        """Raise Superseded unless this build's token is still the one in its lock file."""
        fields = _read_owner(Path(self.lock_path))
        if len(fields) < 3 or fields[2] != self.token:
            raise Superseded(f"another build has taken over {Path(self.lock_path).parents[2]}; this one stops")

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the shared writers lock around one check-then-write (see the module docstring)."""
        fd = _open(Path(self.writers_path))
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
            self.check()
            yield
        finally:
            os.close(fd)  # also releases the flock


class BuildLock:
    """Held by the main process of a build for its whole run (a context manager)."""

    def __init__(self, dataset_dir: str | os.PathLike, shard: tuple[int, int] | None = None):
        self.dir = Path(dataset_dir) / STATE_DIR
        self.shard = shard
        self._fds: list[int] = []
        self._own_path: Path | None = None

    def _held(self, path: Path) -> UserError:
        fields = _read_owner(path)
        who = f" (pid {fields[0]} on {fields[1]})" if len(fields) >= 2 else ""
        return UserError(f"{self.dir.parents[1]} is being built by another process{who}; wait for it to finish, "
                         "or build into another --data")

    def acquire(self) -> Owner:
        """Lock the folder, record this build as its owner, and wait out the writes of earlier owners."""
        try:
            return self._acquire()
        except BaseException:
            self.release()  # a failed acquisition holds nothing
            raise

    def _acquire(self) -> Owner:
        self.dir.mkdir(parents=True, exist_ok=True)
        main = self.dir / LOCK_NAME
        fd = _open(main)
        self._fds.append(fd)
        if not _try_flock(fd, fcntl.LOCK_SH if self.shard else fcntl.LOCK_EX, main):
            raise self._held(main)
        own_path, own_fd = main, fd
        if self.shard:
            own_path = self.dir / f"lock.shard-{self.shard[0]}-of-{self.shard[1]}"
            own_fd = _open(own_path)
            self._fds.append(own_fd)
            if not _try_flock(own_fd, fcntl.LOCK_EX, own_path):
                raise self._held(own_path)
        token = secrets.token_hex(16)
        os.ftruncate(own_fd, 0)
        os.pwrite(own_fd, f"{os.getpid()} {socket.gethostname()} {token}\n".encode(), 0)
        self._own_path = own_path
        self._retire_others(own_path)
        self._barrier()
        return Owner(str(own_path), str(self.dir / WRITERS_NAME), token)

    def retire(self) -> None:
        """Void this build's own token, then wait out its writes in flight: after an interrupt, no
        worker of this build starts another write, and every write begun has been renamed into place,
        so the temp files left are those of killed writers (the caller removes them)."""
        if self._own_path is not None:
            with contextlib.suppress(FileNotFoundError):
                os.truncate(self._own_path, 0)
            self._barrier()

    def _retire_others(self, own_path: Path) -> None:
        """Void the tokens of builds that no longer run, so that their orphaned workers stop.

        Holding ``lock`` exclusively (unsharded) means no shard runs; holding it shared (a shard) means
        no unsharded build runs. Either way every other lock file named here belongs to a dead build.
        """
        others = [self.dir / LOCK_NAME] if self.shard else sorted(self.dir.glob(SHARD_LOCK_GLOB))
        for path in others:
            if path != own_path:
                with contextlib.suppress(FileNotFoundError):
                    os.truncate(path, 0)

    def _barrier(self) -> None:
        """Wait until no write begun under an earlier token is still in flight."""
        path = self.dir / WRITERS_NAME
        fd = _open(path)
        try:
            deadline = time.monotonic() + BARRIER_TIMEOUT_S
            while not _try_flock(fd, fcntl.LOCK_EX, path):
                if time.monotonic() > deadline:
                    raise UserError(f"workers of an earlier build still write into {self.dir.parents[1]} after "
                                    f"{BARRIER_TIMEOUT_S:.0f} s; stop them and re-run")
                time.sleep(0.01)
        finally:
            os.close(fd)

    def release(self) -> None:
        for fd in reversed(self._fds):
            os.close(fd)
        self._fds.clear()

    def __enter__(self) -> Owner:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
