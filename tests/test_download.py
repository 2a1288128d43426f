"""download: resumable HTTP(S) fetch, checksums, safe atomic extraction. Loopback server only."""
from __future__ import annotations

import hashlib
import http.server
import io
import random
import stat
import threading
import zipfile

import pytest

from robustpose_bench.builder.download import Archive, coco_archives, download_coco, fetch, safe_extract
from robustpose_bench.cli import main
from robustpose_bench.errors import UserError


class Server:
    """Serves ``files`` on 127.0.0.1 with Range support; can cut a response short or ignore Range."""

    def __init__(self, files: dict[str, bytes]):
        self.files = files
        self.requests: list[tuple[str, str | None]] = []
        self.cut_after: int | None = None
        self.ignore_range = False
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                name = self.path.lstrip("/")
                rng = self.headers.get("Range")
                outer.requests.append((name, rng))
                if name not in outer.files:
                    self.send_error(404)
                    return
                data = outer.files[name]
                start = 0
                if rng and not outer.ignore_range:
                    start = int(rng.split("=")[1].split("-")[0])
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if outer.cut_after is not None:
                    self.wfile.write(body[: outer.cut_after])
                    self.wfile.flush()
                    self.connection.shutdown(2)  # the connection drops mid-download
                    outer.cut_after = None
                    return
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def make_zip(entries: dict[str, bytes], symlinks: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, target)
    return buf.getvalue()


def spec(name: str, data: bytes, url: str, **override) -> Archive:
    fields = {"size": len(data), "md5": hashlib.md5(data).hexdigest(), "sha256": hashlib.sha256(data).hexdigest()}
    fields.update(override)
    return Archive(name, f"{url}/{name}", **fields)


ANN = b'{"images": [{"id": 1, "file_name": "000000000001.jpg", "width": 64, "height": 48}], "annotations": [], "categories": []}'
VAL = make_zip({"val2017/000000000001.jpg": random.Random(0).randbytes(200_000)})  # incompressible
ANNZIP = make_zip({"annotations/person_keypoints_val2017.json": ANN, "annotations/other.json": b"{}"})


def test_download_and_extract_gives_the_standard_layout(tmp_path):
    from robustpose_bench.datasets import resolve_sources

    with Server({"val2017.zip": VAL, "annotations_trainval2017.zip": ANNZIP}) as srv:
        archives = [spec("val2017.zip", VAL, srv.url), spec("annotations_trainval2017.zip", ANNZIP, srv.url)]
        tops = download_coco(tmp_path, archives=archives, progress=False)
        assert tops == ["val2017", "annotations"]
        src = resolve_sources("coco-c", root=tmp_path)
        assert src.files == ("000000000001.jpg",)
        # a second call finds the checked archives and the extracted folders: no request is made
        n = len(srv.requests)
        download_coco(tmp_path, archives=archives, progress=False)
        assert len(srv.requests) == n
        # with --remove-archives the extracted folders alone are enough to skip the download
        (tmp_path / "val2017.zip").unlink()
        known = [Archive(**{**a.__dict__, "extracts": ("val2017",)}) for a in archives[:1]]
        assert download_coco(tmp_path, archives=known, progress=False) == ["val2017"]
        assert len(srv.requests) == n
    assert not [p for p in tmp_path.iterdir() if p.name.startswith((".extract-",)) or p.suffix == ".part"]


def test_partial_download_is_resumed_with_a_range_request(tmp_path):
    with Server({"val2017.zip": VAL}) as srv:
        (tmp_path / "val2017.zip.part").write_bytes(VAL[:1000])
        path = fetch(spec("val2017.zip", VAL, srv.url), tmp_path, progress=False)
        assert path.read_bytes() == VAL
        assert srv.requests == [("val2017.zip", "bytes=1000-")]


def test_interrupted_download_keeps_its_bytes_and_resumes(tmp_path):
    with Server({"val2017.zip": VAL}) as srv:
        srv.cut_after = 5000
        with pytest.raises(UserError, match="re-run to resume"):
            fetch(spec("val2017.zip", VAL, srv.url), tmp_path, progress=False)
        part = tmp_path / "val2017.zip.part"
        assert part.stat().st_size == 5000  # the bytes so far are kept for the resume
        path = fetch(spec("val2017.zip", VAL, srv.url), tmp_path, progress=False)
        assert srv.requests[-1] == ("val2017.zip", "bytes=5000-")
        assert path.read_bytes() == VAL and not part.exists()


def test_server_ignoring_range_restarts_cleanly(tmp_path):
    with Server({"val2017.zip": VAL}) as srv:
        srv.ignore_range = True
        (tmp_path / "val2017.zip.part").write_bytes(b"garbage that is not the start of the file")
        path = fetch(spec("val2017.zip", VAL, srv.url), tmp_path, progress=False)
        assert path.read_bytes() == VAL


def test_checksum_mismatch_is_refused_and_removed(tmp_path):
    with Server({"val2017.zip": VAL}) as srv:
        bad = spec("val2017.zip", VAL, srv.url, sha256="0" * 64)
        with pytest.raises(UserError, match="checksum mismatch.*sha256"):
            fetch(bad, tmp_path, progress=False)
        assert not (tmp_path / "val2017.zip").exists() and not (tmp_path / "val2017.zip.part").exists()
        tampered = VAL[:-1] + bytes([VAL[-1] ^ 1])
        srv.files["val2017.zip"] = tampered
        with pytest.raises(UserError, match="md5"):
            fetch(spec("val2017.zip", VAL, srv.url), tmp_path, progress=False)


def test_cli_checks_the_official_checksums(tmp_path, capsys):
    """A mirror serving other bytes under the official names is refused with a one-line error."""
    with Server({"val2017.zip": VAL, "annotations_trainval2017.zip": ANNZIP}) as srv:
        rc = main(["download", "coco", "--root", str(tmp_path), "--base-url", srv.url, "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and "val2017.zip: checksum mismatch (size" in err and err.count("\n") == 1
    assert not (tmp_path / "val2017").exists()


def test_shipped_archive_facts():
    official = {a.name: a for a in coco_archives()}
    assert official["val2017.zip"].size == 815585330
    assert official["val2017.zip"].md5 == "442b8da7639aecaf257c1dceb8ba8c80"
    assert official["annotations_trainval2017.zip"].md5 == "f4bbac642086de4f52a3fdda2de5fa2c"
    assert official["val2017.zip"].url == "http://images.cocodataset.org/zips/val2017.zip"
    assert official["val2017.zip"].extracts == ("val2017",)
    assert official["annotations_trainval2017.zip"].extracts == ("annotations",)


@pytest.mark.parametrize("entries, symlinks", [
    ({"val2017/ok.jpg": b"1", "../evil.txt": b"pwned"}, None),
    ({"val2017/../../evil.txt": b"pwned"}, None),
    ({"/tmp/evil.txt": b"pwned"}, None),
    ({"val2017/ok.jpg": b"1"}, {"val2017/link": "/etc/passwd"}),
])
def test_malicious_zip_entries_are_refused(tmp_path, entries, symlinks):
    root = tmp_path / "root"
    root.mkdir()
    zpath = tmp_path / "evil.zip"
    zpath.write_bytes(make_zip(entries, symlinks))
    with pytest.raises(UserError, match="refusing"):
        safe_extract(zpath, root)
    assert list(root.iterdir()) == []  # nothing extracted, not even the safe entries
    assert not (tmp_path / "evil.txt").exists()


def test_malicious_zip_via_download_is_refused(tmp_path):
    evil = make_zip({"val2017/a.jpg": b"1", "val2017/../../escape.txt": b"x"})
    with Server({"val2017.zip": evil}) as srv:
        with pytest.raises(UserError, match="unsafe entry"):
            download_coco(tmp_path / "root", archives=[spec("val2017.zip", evil, srv.url)], progress=False)
    assert not (tmp_path / "escape.txt").exists() and not (tmp_path / "root" / "val2017").exists()


def test_extraction_folders_left_by_a_killed_run_are_removed_on_the_next(tmp_path):
    import os
    import socket
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)  # a process that has exited
    host = socket.gethostname()
    legacy = tmp_path / ".extract-k2j4x9"  # named by an older version: no owner recorded
    killed = tmp_path / f".extract-{host}-{dead_pid}-a1b2c3"
    running = tmp_path / f".extract-{host}-{os.getpid()}-d4e5f6"  # a live extraction: left alone
    elsewhere = tmp_path / ".extract-otherhost-1-g7h8i9"  # another machine's: cannot tell, left alone
    for folder in (legacy, killed, running, elsewhere):
        (folder / "val2017").mkdir(parents=True)
        (folder / "val2017" / "half.jpg").write_bytes(b"\xff\xd8 half")
    with Server({"val2017.zip": VAL, "annotations_trainval2017.zip": ANNZIP}) as srv:
        archives = [spec("val2017.zip", VAL, srv.url), spec("annotations_trainval2017.zip", ANNZIP, srv.url)]
        download_coco(tmp_path, archives=archives, progress=False)
    left = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".extract-"))
    assert left == sorted([running.name, elsewhere.name])
    assert (tmp_path / "val2017" / "000000000001.jpg").is_file()
