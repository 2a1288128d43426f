"""One build task per source image: decode once, write all its corruptions × severities.

Why per source: the decode is shared by every output of the image and memory stays bounded by
one image (plus one corrupted copy) per worker, whatever the dataset size.

Nothing half-written: each output goes to a temp file in its folder and is renamed into place
(``atomic.atomic_write_bytes``). After a task's outputs are written, a journal record
(``OUT/<dataset>/.journal/<sha256 of the file name>.json``) lists their checksums; a re-run skips
an item only when its record matches (source sha256, seed, format, library versions) and the file
on disk still hashes to the recorded value. A task killed before its record is written is simply
redone, which rewrites identical bytes.
"""
from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import io
import json
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import atomic_write_bytes, sha256_bytes, sha256_file
from ..errors import UserError
from .lock import Owner
from .manifest import JOURNAL_DIR, BuildConfig, engine_versions



class DiskFullError(UserError):
    """ENOSPC while writing: raised as a clean one-line error; finished outputs stay valid."""


class UnsupportedSource(ValueError):
    """A source whose pixels cannot be mapped to 8 bits without guessing: it becomes a failed item."""


# Pillow modes of unsigned 16-bit samples (16-bit grayscale PNG and TIFF, either byte order).
SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N")


@dataclass(frozen=True)
class Task:
    """Everything a worker needs for one source image (plain, picklable data)."""

    file_name: str
    source_path: str
    out_root: str  # OUT/<dataset>
    config: BuildConfig
    owner: Owner | None = None  # the build's lock token: checked before every write (None: unchecked)


def _guard(task: Task) -> contextlib.AbstractContextManager:
    """Around each write: stop if another build has taken over the folder (orphaned workers)."""
    return task.owner.writing() if task.owner is not None else contextlib.nullcontext()


def journal_path(out_root: str | Path, file_name: str) -> Path:
    digest = hashlib.sha256(file_name.encode("utf-8")).hexdigest()
    return Path(out_root) / JOURNAL_DIR / f"{digest}.json"


def decode_image(data: bytes) -> np.ndarray:
    """Decode like AdvMix's make_datasets.py (``np.asarray(Image.open(path))``), with every mode made uint8.

    RGB stays H×W×3 and grayscale H×W (the engine stacks it to three channels, as imagecorruptions
    does). See :func:`image_to_uint8` for the other modes.
    """
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        im.load()
        return image_to_uint8(im)


def image_to_uint8(im) -> np.ndarray:
    """The uint8 pixels of a Pillow image, the same ones eval's ``cv2.imread(IMREAD_COLOR)`` reads.

    Why not ``convert("RGB")`` for everything: Pillow clips 16-bit samples to 255, which turned a
    16-bit PNG into an all-white image. Unsigned 16-bit samples keep their high byte (OpenCV's rule,
    and Pillow's own for 16-bit RGB PNGs); a PNG opened as mode ``I`` is 16-bit too. 32-bit integer
    (``I``) and float (``F``) pixels have no known white level, so they are refused
    (:class:`UnsupportedSource`) rather than guessed. Palettes are looked up, alpha is dropped (the
    colour channels as stored), 1-bit becomes 0/255, CMYK uses Pillow's (255-C)(255-K)/255.
    """
    mode = im.mode
    if mode in ("RGB", "L"):
        return np.asarray(im)
    if mode in SIXTEEN_BIT_MODES or (mode == "I" and im.format == "PNG"):
        samples = np.clip(np.asarray(im).astype(np.int64), 0, 65535)
        return np.repeat((samples >> 8).astype(np.uint8)[..., None], 3, axis=2)
    if mode.startswith(("I", "F")):
        kind = "floating-point" if mode.startswith("F") else "integer"
        raise UnsupportedSource(
            f"{kind} pixels (Pillow mode {mode}) have no known white level; convert the image to 8 or 16 bits"
        )
    return np.asarray(im.convert("RGB"))


_ADDRESS = re.compile(r"<([\w.]+) object at 0x[0-9a-fA-F]+>")


def failure_reason(exc: BaseException) -> str:
    """A failed item's reason: one line, and the same on every run (no object addresses).

    Manifests hold these, and identical builds must give identical bytes.
    """
    from PIL import UnidentifiedImageError

    if isinstance(exc, UnidentifiedImageError):
        return "not an image file Pillow can identify"
    if isinstance(exc, UnsupportedSource):
        return str(exc)
    text = _ADDRESS.sub(r"<\1>", str(exc)).strip()
    text = text.splitlines()[0] if text else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def encode_image(arr: np.ndarray, fmt: str, jpeg_quality: int) -> bytes:
    """Pillow JPEG (quality 75 = PIL's default, what the paper's generation saved with) or PNG."""
    from PIL import Image

    buf = io.BytesIO()
    im = Image.fromarray(arr)
    if fmt == "jpeg":
        im.save(buf, format="JPEG", quality=jpeg_quality)
    else:
        im.save(buf, format="PNG")
    return buf.getvalue()


def _write(path: Path, data: bytes) -> None:
    # Atomic rename without fsync: a killed process cannot leave a partial file, and damage from a
    # power loss is caught on resume, where every output is re-hashed against its journal record.
    try:
        atomic_write_bytes(path, data, fsync=False)
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise DiskFullError(
                f"no space left on device while writing {path}; free space and re-run the same "
                "command (finished outputs are kept and skipped)"
            ) from None
        raise


def _load_journal(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


@functools.lru_cache(maxsize=1)
def _local_versions() -> tuple[tuple[str, str], ...]:
    return tuple(sorted(engine_versions().items()))


def run_task(task: Task) -> dict[str, Any]:
    """Build (or confirm) every output of one source image; never raises for a bad source."""
    cfg = task.config
    if dict(_local_versions()) != cfg.versions:
        # A cluster worker with other library versions would write other bytes under this manifest.
        raise UserError(
            f"worker library versions {dict(_local_versions())} differ from the build's {cfg.versions}; "
            "install the same versions on every worker"
        )
    if task.owner is not None:
        task.owner.check()  # an orphaned worker of a replaced build starts nothing new
    out_root = Path(task.out_root)
    result: dict[str, Any] = {"source": task.file_name, "items": [], "failed": [], "written": 0, "skipped": 0}
    try:
        if not stat.S_ISREG(os.stat(task.source_path).st_mode):
            # A FIFO would block the open and a device (/dev/zero) never ends: never read them.
            result["failed"].append({"source": task.file_name, "corruption": None, "severity": None,
                                     "reason": "not a regular file (a device, FIFO or socket)"})
            return result
        with open(task.source_path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        reason = "missing source file" if isinstance(exc, FileNotFoundError) else f"cannot read source: {exc.strerror}"
        result["failed"].append({"source": task.file_name, "corruption": None, "severity": None, "reason": reason})
        return result
    src_sha = sha256_bytes(data)
    key = cfg.item_key()

    jpath = journal_path(out_root, task.file_name)
    journal = _load_journal(jpath)
    known: dict[str, Any] = {}
    if journal and journal.get("source_sha256") == src_sha and journal.get("key") == key:
        known = journal.get("items", {})

    plan = []  # (corruption, severity, seed, relpath, done_sha or None)
    for corruption in cfg.corruptions:
        for severity in cfg.severities:
            seed = cfg.seed(task.file_name, corruption, severity)
            rel = cfg.relpath(corruption, severity, task.file_name)
            rec = known.get(rel)
            done = None
            if rec and rec.get("seed") == seed and rec.get("corruption") == corruption and rec.get("severity") == severity:
                try:
                    if sha256_file(out_root / rel) == rec.get("output_sha256"):
                        done = rec["output_sha256"]
                except OSError:
                    done = None
            plan.append((corruption, severity, seed, rel, done))

    image = None
    if any(done is None for *_, done in plan):
        try:
            image = decode_image(data)
        except Exception as exc:  # noqa: BLE001 - any decoder failure makes this one source a failed item
            result["failed"].append({
                "source": task.file_name, "corruption": None, "severity": None,
                "reason": f"cannot decode source: {failure_reason(exc)}",
            })
            return result

    from corruptions import corrupt

    from ..determinism import inject_jitter, opencv_single_threaded

    records = {}
    # OpenCV single-threaded for the whole task: images are built in parallel by our workers, and a
    # kernel's pixels must not depend on how OpenCV splits it into stripes (``determinism.py``)
    with opencv_single_threaded():
        for corruption, severity, seed, rel, done in plan:
            if done is None:
                inject_jitter()  # the determinism tests' delay hook; a no-op otherwise
                try:
                    out = corrupt(image, corruption, severity, seed)
                except Exception as exc:  # noqa: BLE001 - recorded with its reason; the build goes on
                    result["failed"].append({
                        "source": task.file_name, "corruption": corruption, "severity": severity,
                        "reason": failure_reason(exc),
                    })
                    continue
                blob = encode_image(out, cfg.fmt, cfg.jpeg_quality)
                with _guard(task):
                    _write(out_root / rel, blob)
                done = sha256_bytes(blob)
                result["written"] += 1
            else:
                result["skipped"] += 1
            records[rel] = {"corruption": corruption, "severity": severity, "seed": seed, "output_sha256": done}
            result["items"].append({
                "source": task.file_name, "source_sha256": src_sha, "corruption": corruption,
                "severity": severity, "seed": seed, "output": rel, "output_sha256": done,
            })
    if result["written"] or records != known:
        merged = dict(known) if journal and journal.get("source_sha256") == src_sha and journal.get("key") == key else {}
        merged.update(records)
        try:
            record = {"source": task.file_name, "source_sha256": src_sha, "key": key, "items": merged}
            with _guard(task):
                atomic_write_bytes(jpath, json.dumps(record, sort_keys=True).encode("utf-8"), fsync=False)
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise DiskFullError(f"no space left on device while writing {jpath}; free space and re-run") from None
            raise
    return result


def cleanup_temp_files(root: str | Path, older_than_s: float | None = None) -> int:
    """Remove stray ``.<name>.<random>.tmp`` files left by a process killed mid-write.

    ``older_than_s`` keeps recent ones (another shard may be writing them right now).
    """
    import time

    now = time.time()
    n = 0
    for dirpath, _dirs, files in os.walk(root):
        for f in files:
            if not (f.startswith(".") and f.endswith(".tmp")):
                continue
            p = os.path.join(dirpath, f)
            try:
                if older_than_s is not None and now - os.stat(p).st_mtime < older_than_s:
                    continue
                os.unlink(p)
                n += 1
            except OSError:
                pass
    return n
