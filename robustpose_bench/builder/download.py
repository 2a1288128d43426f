"""Download and safely extract the official COCO val2017 archives.

Resumable: bytes go to ``NAME.part`` and a re-run asks for the rest with an HTTP ``Range``
request. Checked: size, md5 (the S3 ETag COCO's server publishes) and sha256, all recorded in
``data_manifests/coco-c.json``. Safe extraction: entries with absolute paths, ``..`` components,
backslashes or symlinks are refused (never silently rewritten), everything is extracted into a
temp folder inside ROOT and renamed into place, so a reader never sees a half-extracted tree. The
temp folder of a run killed while extracting is removed by the next run.

urllib from the standard library is enough here (one plain GET per archive); no extra dependency.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import socket
import stat
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..errors import UserError
from .manifest import load_spec

CHUNK = 1 << 20


@dataclass(frozen=True)
class Archive:
    """One downloadable archive and what it must hash to (None: not checked)."""

    name: str
    url: str
    size: int | None = None
    md5: str | None = None
    sha256: str | None = None
    extracts: tuple[str, ...] = ()  # top-level folders it unpacks to (atomically renamed into place)


def coco_archives(base_url: str | None = None) -> list[Archive]:
    """The official archives from the shipped spec; ``base_url`` points at a mirror with the same files."""
    spec = load_spec("coco-c")
    out = []
    for a in spec["source"]["archives"]:
        url = a["url"] if base_url is None else f"{base_url.rstrip('/')}/{a['name']}"
        out.append(Archive(a["name"], url, a.get("bytes"), a.get("md5"), a.get("sha256"),
                           tuple(e.rstrip("/") for e in a.get("extracts", ()))))
    return out


def _hashes(path: Path) -> tuple[str, str]:
    md5, sha = hashlib.md5(usedforsecurity=False), hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            md5.update(block)
            sha.update(block)
    return md5.hexdigest(), sha.hexdigest()


def check_archive(path: Path, archive: Archive) -> str | None:
    """None when ``path`` matches every known checksum, else the first mismatch, in words."""
    size = path.stat().st_size
    if archive.size is not None and size != archive.size:
        return f"size {size} bytes, expected {archive.size}"
    md5, sha = _hashes(path)
    if archive.md5 and md5 != archive.md5:
        return f"md5 {md5}, expected {archive.md5}"
    if archive.sha256 and sha != archive.sha256:
        return f"sha256 {sha}, expected {archive.sha256}"
    return None


def fetch(archive: Archive, dest_dir: str | Path, progress: bool = True, timeout: float = 60.0) -> Path:
    """Download ``archive`` into ``dest_dir`` (resuming a ``.part`` file) and check it."""
    from ..progress import progress_bar

    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    final = dest_dir / archive.name
    if final.is_file():
        problem = check_archive(final, archive)
        if problem is None:
            return final
        final.unlink()  # a wrong file under the final name is never trusted; fetch it again
    part = dest_dir / (archive.name + ".part")
    have = part.stat().st_size if part.is_file() else 0
    if archive.size is not None and have > archive.size:
        part.unlink()
        have = 0
    interrupted = False
    if archive.size is None or have < archive.size:
        headers = {"User-Agent": "robustpose-bench"}
        if have:
            headers["Range"] = f"bytes={have}-"
        req = urllib.request.Request(archive.url, headers=headers)
        try:
            resp = urllib.request.urlopen(req, timeout=timeout)
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and have:  # nothing left to send: the part may be whole already
                resp = None
            else:
                raise UserError(f"download of {archive.url} failed: HTTP {exc.code} {exc.reason}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise UserError(f"download of {archive.url} failed: {getattr(exc, 'reason', exc)}; re-run to resume") from None
        if resp is not None:
            with resp:
                if have and resp.status == 206:
                    start = resp.headers.get("Content-Range", "")
                    if not start.startswith(f"bytes {have}-"):
                        raise UserError(f"download of {archive.url}: server resumed at {start!r}, expected byte {have}")
                    mode = "ab"
                else:  # 200: the server ignored Range (or this is a fresh start): begin again
                    have, mode = 0, "wb"
                sent = resp.headers.get("Content-Length")
                received = 0
                total = archive.size or (have + int(sent) if sent else None)
                bar = progress_bar(total=total, initial=have, unit="B", unit_scale=True, desc=archive.name,
                                   enabled=progress)
                try:
                    with open(part, mode) as fh:
                        while True:
                            try:
                                block = resp.read(CHUNK)
                            except (OSError, http.client.HTTPException) as exc:
                                raise UserError(f"download of {archive.url} interrupted: {exc}; re-run to resume") from None
                            if not block:
                                break
                            fh.write(block)
                            received += len(block)
                            bar.update(len(block))
                        fh.flush()
                        os.fsync(fh.fileno())
                finally:
                    bar.close()
                interrupted = sent is not None and received < int(sent)
    if interrupted:  # the stream ended before its Content-Length: keep the bytes for a resume
        got = part.stat().st_size
        raise UserError(f"download of {archive.url} stopped at {got} bytes; re-run to resume")
    problem = check_archive(part, archive)
    if problem is not None:
        part.unlink()
        raise UserError(f"{archive.name}: checksum mismatch ({problem}); the download was removed, re-run to fetch it again")
    os.replace(part, final)
    return final


def _check_member(info: zipfile.ZipInfo, zip_path: Path) -> PurePosixPath:
    """Refuse entries that could write outside the target or create links."""
    name = info.filename
    mode = info.external_attr >> 16
    bad = (
        not name or name.startswith("/") or "\\" in name or (len(name) > 1 and name[1] == ":")
        or any(part == ".." for part in name.split("/"))
    )
    if bad:
        raise UserError(f"{zip_path.name}: refusing unsafe entry {name!r} (absolute path or '..')")
    if stat.S_ISLNK(mode):
        raise UserError(f"{zip_path.name}: refusing symlink entry {name!r}")
    return PurePosixPath(name)


EXTRACT_PREFIX = ".extract-"  # .extract-<host>-<pid>-<random>: whose extraction it is


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True


def remove_stale_extractions(root: Path) -> list[str]:
    """Delete the temp folders of extractions killed part-way (their process is gone).

    A folder of a live process on this machine, or of another machine sharing the folder, is kept:
    it may be extracting right now. Folders named before the owner was recorded are stale.
    """
    removed = []
    host = socket.gethostname()
    for folder in sorted(root.glob(EXTRACT_PREFIX + "*")):
        owner = folder.name[len(EXTRACT_PREFIX):].rsplit("-", 2)
        if len(owner) == 3 and owner[1].isdigit():
            if owner[0] != host or _pid_alive(int(owner[1])):
                continue
        if folder.is_dir() and not folder.is_symlink():
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder.name)
    return removed


def safe_extract(zip_path: str | Path, root: str | Path) -> list[str]:
    """Extract into a temp folder inside ``root``, then rename each top-level entry into place.

    Returns the top-level names now present. An entry already present in ``root`` is kept (it
    came from an earlier complete extraction, or from the user).
    """
    zip_path, root = Path(zip_path), Path(root)
    root.mkdir(parents=True, exist_ok=True)
    try:
        zf = zipfile.ZipFile(zip_path)
    except zipfile.BadZipFile:
        raise UserError(f"{zip_path}: not a valid zip archive") from None
    with zf:
        infos = zf.infolist()
        paths = [_check_member(i, zip_path) for i in infos]
        need = sum(i.file_size for i in infos)
        if need > shutil.disk_usage(root).free:
            raise UserError(f"{zip_path.name}: extracting needs {need} bytes, more than the free space in {root}")
        tops = sorted({p.parts[0] for p in paths if p.parts})
        if tops and all((root / t).exists() for t in tops):
            return tops
        remove_stale_extractions(root)
        tmp = Path(tempfile.mkdtemp(prefix=f"{EXTRACT_PREFIX}{socket.gethostname()}-{os.getpid()}-", dir=root))
        try:
            for info, rel in zip(infos, paths):
                target = tmp.joinpath(*rel.parts)
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                try:
                    with zf.open(info) as src, open(target, "wb") as dst:
                        shutil.copyfileobj(src, dst, CHUNK)
                except zipfile.BadZipFile as exc:
                    raise UserError(f"{zip_path.name}: corrupt entry {info.filename!r} ({exc})") from None
            for t in tops:
                if not (root / t).exists():
                    os.replace(tmp / t, root / t)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return tops


def download_coco(root: str | Path, base_url: str | None = None, progress: bool = True,
                  remove_archives: bool = False, archives: list[Archive] | None = None) -> list[str]:
    """Fetch, check and extract val2017.zip and annotations_trainval2017.zip into ``root``."""
    root = Path(root)
    if root.is_dir():
        remove_stale_extractions(root)  # left by a run killed while extracting
    extracted: list[str] = []
    for archive in archives if archives is not None else coco_archives(base_url):
        if archive.extracts and all((root / e).is_dir() for e in archive.extracts):
            extracted += list(archive.extracts)  # extraction is atomic, so present means complete
            continue
        path = fetch(archive, root, progress=progress)
        extracted += safe_extract(path, root)
        if remove_archives:
            path.unlink()
    return extracted
