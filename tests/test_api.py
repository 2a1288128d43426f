"""The Python API: ``robustpose_bench.evaluate`` on a model file and on an in-memory torch module, and the
README's example run as written (issue 24)."""
from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path

import pytest
import torch
from cli_helpers import run_cli

import robustpose_bench as rpb
from robustpose_bench.errors import UserError
from robustpose_bench.models.spec import heatmap_model_spec

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def built(shared_dir, tmp_path_factory) -> Path:
    """The README's build: coco-c of the shared sample, contrast at severity 1, in WORK/out."""
    work = tmp_path_factory.mktemp("api")
    s = shared_dir / "data" / "coco_sample"
    rc, _, err = run_cli("build", "coco-c", "--images", s, "--ann", s / "test_coco.json", "--data", work / "out",
                         "--corruptions", "contrast", "--severities", "1", "--jobs", "1", "--no-progress")
    assert rc == 0, err
    return work


def test_the_readme_example_runs_as_written(built, shared_dir, monkeypatch):
    text = (REPO / "README.md").read_text("utf-8")
    block = re.search(r"<!-- api-example[^>]*-->\n```python\n(.*?)```", text, flags=re.S).group(1)
    monkeypatch.chdir(built)
    code = block.replace("../shared", str(shared_dir))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md (api-example)", "exec"), {})
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    clean, contrast = map(float, lines[0].split())
    assert 0 < contrast < clean <= 1
    sha, _ = lines[1].split()
    assert re.fullmatch(r"[0-9a-f]{64}", sha)
    runs = sorted(p.relative_to(built).as_posix() for p in (built / "runs" / "coco-c").iterdir())
    assert runs == ["runs/coco-c/movenet_lightning_int8-1", "runs/coco-c/mynet-1"]
    assert (built / "runs/coco-c/mynet-1/model.pt").is_file()


def test_an_in_memory_module_equals_the_same_module_saved_as_a_file(built, shared_dir, tmp_path):
    """The module is scripted with its spec embedded: evaluating it equals `eval` on the same file."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(),
                              torch.nn.Conv2d(8, 17, kernel_size=4, stride=4))
    spec = heatmap_model_spec("tiny", 256, 192)
    s = shared_dir / "data" / "coco_sample"
    kw = dict(images=s, ann=s / "test_coco.json", data=built / "out", partial=True)
    got = rpb.evaluate(net, "coco-c", spec=spec, output=tmp_path / "a" / "results.json", **kw)
    saved = tmp_path / "a" / "results.model.pt"
    assert saved.is_file()
    rc, _, err = run_cli("eval", saved, "--dataset", "coco-c", "--images", s, "--ann", s / "test_coco.json",
                         "--data", built / "out", "--partial", "-o", tmp_path / "b" / "results.json", "--no-progress")
    assert rc == 0, err
    ref = json.loads((tmp_path / "b" / "results.json").read_text())
    assert got["rows"] == ref["rows"]
    assert got["provenance"]["model"]["sha256"] == ref["provenance"]["model"]["sha256"]
    # the same module again: the same bytes, so the run resumes instead of being refused
    again = rpb.evaluate(net, "coco-c", spec=spec, output=tmp_path / "a" / "results.json", **kw)
    assert again["rows"] == got["rows"]


def test_bad_calls_are_one_line_errors(built):
    net = torch.nn.Conv2d(3, 17, 4, stride=4)
    with pytest.raises(UserError, match="give its spec"):
        rpb.evaluate(net, "coco-c", data=built / "out")
    with pytest.raises(UserError, match="a preset name needs a model file"):
        rpb.evaluate(net, "coco-c", spec="hrnet", data=built / "out")
    with pytest.raises(UserError, match="expected a model file path or a torch.nn.Module, got int"):
        rpb.evaluate(3, "coco-c")


def test_a_users_file_where_the_module_would_be_saved_is_never_overwritten(built, shared_dir, tmp_path):
    """With -o results.json the module is saved beside it as results.model.pt: a file of that name
    that is not this model is the user's, refused and left as it was (overwrite=True replaces it)."""
    net = torch.nn.Conv2d(3, 17, kernel_size=4, stride=4)
    spec = heatmap_model_spec("tiny", 256, 192)
    s = shared_dir / "data" / "coco_sample"
    kw = dict(images=s, ann=s / "test_coco.json", data=built / "out", partial=True)
    theirs = tmp_path / "results.model.pt"
    theirs.write_bytes(b"someone's checkpoint")
    with pytest.raises(UserError, match=r"results\.model\.pt: exists and is not this model"):
        rpb.evaluate(net, "coco-c", spec=spec, output=tmp_path / "results.json", **kw)
    assert theirs.read_bytes() == b"someone's checkpoint"
    assert not (tmp_path / "results.json").exists()
    rpb.evaluate(net, "coco-c", spec=spec, output=tmp_path / "results.json", overwrite=True, **kw)
    assert theirs.read_bytes()[:2] == b"PK"  # now the scripted model (a zip)
