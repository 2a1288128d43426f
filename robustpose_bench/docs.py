"""The documentation that ships with the package, so that help texts and errors can point to pages a
pip user has (``robustpose-bench docs results``), not to a repository path a wheel does not contain.

``robustpose_bench/_docs`` is a link to the repository's ``docs/`` (as ``_data_manifests`` is to
``data_manifests/``): one copy of each page, installed as package data with the wheel.
"""
from __future__ import annotations

from pathlib import Path

from .errors import UserError

DOCS_DIR = Path(__file__).resolve().parent / "_docs"


def topics() -> dict[str, Path]:
    """Each page's topic name (its file name without ``.md``) and installed path, in name order."""
    if not DOCS_DIR.is_dir():
        raise UserError(f"{DOCS_DIR}: the documentation is missing from this installation "
                        "(reinstall robustpose-bench)")
    return {p.stem: p for p in sorted(DOCS_DIR.glob("*.md"))}


def title(path: Path) -> str:
    """A page's first heading, without the ``#``."""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            return line.lstrip("#").strip()
    return path.stem


def page(topic: str) -> Path:
    """The installed page of ``topic`` (``model_spec``, ``model-spec`` and ``model_spec.md`` all name
    the same page); a one-line error with the closest topics otherwise."""
    from difflib import get_close_matches

    pages = topics()
    key = topic.removesuffix(".md").replace("-", "_").lower()
    if key in pages:
        return pages[key]
    close = get_close_matches(key, list(pages), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else f"; topics: {', '.join(pages)}"
    raise UserError(f"no page named {topic!r}{hint}")


def ref(topic: str, section: str | None = None) -> str:
    """How help texts and errors cite a page: the command that shows it, which works from a wheel."""
    where = f"`robustpose-bench docs {topic}`"
    return f"{where}, {section}" if section else where
