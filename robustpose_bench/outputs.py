"""One rule for every command that writes: no file it writes may be one of its inputs, or lie inside
one of its input folders.

Why one rule: each command used to guard a few of its inputs, and the sweep of issue 19 found the
rest (``eval -o`` onto a source image or the build's manifest, ``score -o`` onto the annotation
file, ``table -o`` onto its input, ``merge -o`` onto a prediction file, predictions written into
the clean image folder). Every writing command now lists all it reads and all it will write, and
calls ``check_outputs`` before it writes anything.

Paths are compared after resolving symlinks (``os.path.realpath``, which also works for files not yet
written), and existing files by inode too (a hard link is the same file).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Sequence

from .errors import UserError

#: ``(what it is, path)``: "the annotation file", Path("ann.json").
Named = tuple[str, "str | os.PathLike[str]"]


def _real(path: str | os.PathLike[str]) -> str:
    return os.path.realpath(os.path.abspath(os.fspath(path)))


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def check_outputs(writes: Iterable[Named], inputs: Iterable[Named], input_dirs: Iterable[Named] = ()) -> None:
    """Refuse (one line, naming the flag and the input) before anything is written.

    ``writes``: (flag, file) for every file the command will write ('-' = stdout is skipped);
    ``inputs``: files it reads; ``input_dirs``: folders it reads (sources, builds, prediction folders),
    none of whose files may be written.
    """
    files = [(what, Path(p), _real(p)) for what, p in inputs if p is not None and str(p) != "-"]
    dirs = [(what, Path(p), _real(p)) for what, p in input_dirs if p is not None]
    for flag, out in writes:
        if out is None or str(out) == "-":
            continue
        _check_writable_path(flag, Path(out))
        real = _real(out)
        for what, path, rp in files:
            if real == rp or _same_file(real, rp):
                raise UserError(f"{flag} {out} is {what} ({path}); writing it would destroy an input: choose "
                                "another output")
        for what, path, rp in dirs:
            if real == rp or real.startswith(rp.rstrip(os.sep) + os.sep):
                raise UserError(f"{flag} {out} is inside {what} {path}; outputs must not be written among "
                                "the inputs: choose another output")


def _kind(mode: int) -> str:
    import stat

    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def _check_writable_path(flag: str, out: Path) -> None:
    """A file output must be a regular file or not exist yet, below folders: found before the run
    (was: a whole eval, then an error naming our temp file, already removed). Writes are renames of
    a temp file, so ``-o /dev/null`` would replace the device: refused too."""
    try:
        st = os.stat(out)
    except (FileNotFoundError, NotADirectoryError):
        st = None  # a missing folder is created; a file in the way is named below
    except OSError as exc:
        raise UserError(f"{flag} {out}: {exc.strerror}") from None
    if st is not None and not _is_regular(st.st_mode):
        raise UserError(f"{flag} {out} is {_kind(st.st_mode)}; expected a file path")
    for parent in Path(os.path.abspath(out)).parents:
        if os.path.lexists(parent):
            if not os.path.isdir(parent):
                raise UserError(f"{flag} {out}: {parent} is not a folder")
            break


def _is_regular(mode: int) -> bool:
    import stat

    return stat.S_ISREG(mode)


def existing_files(args: Sequence[str]) -> list[Named]:
    """The arguments of a command line that name existing files (an external command's script, its
    config...): its outputs must not overwrite them either."""
    out: list[Named] = []
    for arg in args:
        try:
            if arg and os.path.isfile(arg):
                out.append(("a file the command names", arg))
        except (OSError, ValueError):
            continue
    return out
