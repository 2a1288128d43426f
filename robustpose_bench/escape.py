"""Escaping text for each output format: names come from users and must stay text.

An entry or model name is data, never markup: in Markdown it must not become raw HTML
(``<script>``, ``<img onerror>``) or a link (``[x](javascript:...)``); in HTML it is entity-escaped
and only http(s) or relative URLs are linked; in a CSV it must not start a formula (OWASP's CSV
injection advice: prefix ``'`` to a cell starting with ``=``, ``+``, ``-``, ``@``, tab or carriage
return); in LaTeX every special character is escaped.
"""
from __future__ import annotations

import html
import re
from urllib.parse import quote, urlsplit

# CommonMark lets a backslash escape any ASCII punctuation; these are the ones that can start markup.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|!#~])")


def md(text: str) -> str:
    """One Markdown table cell: no HTML, no links, no emphasis, no broken rows."""
    text = " ".join(str(text).split())  # newlines would end the row
    text = _MD_SPECIAL.sub(r"\\\1", text)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def html_text(text: object) -> str:
    """Text or attribute value in HTML (quotes escaped too)."""
    return html.escape(str(text), quote=True)


def safe_href(url: str | None) -> str | None:
    """``url`` if it is an http(s) link, else None: an entry's URL never becomes ``javascript:``."""
    if not url:
        return None
    parts = urlsplit(str(url).strip())
    if parts.scheme.lower() in ("http", "https") and parts.netloc:
        return str(url).strip()
    return None


def relative_href(path: str) -> str:
    """A relative file link with every segment percent-encoded (a ':' can never start a scheme)."""
    return "/".join(quote(part, safe="") for part in path.split("/"))


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> object:
    """A CSV cell that no spreadsheet evaluates: text starting a formula gets a leading quote."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def csv_frame(frame):
    """A copy of a pandas DataFrame with every text cell made formula-safe (numbers untouched)."""
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    out = frame.copy()
    for col in out.columns:
        if not (is_numeric_dtype(out[col]) or is_bool_dtype(out[col])):
            out[col] = out[col].astype(object).map(csv_cell)
    out.columns = [csv_cell(c) for c in out.columns]
    return out


_TEX_ESCAPES = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
    "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "<": r"\textless{}",
    ">": r"\textgreater{}", "|": r"\textbar{}", "–": "--",
}
_TEX_SPECIAL = re.compile("|".join(re.escape(c) for c in _TEX_ESCAPES))


def tex(text: object) -> str:
    """Text in a LaTeX table cell: every special character escaped, newlines folded."""
    return _TEX_SPECIAL.sub(lambda m: _TEX_ESCAPES[m.group()], " ".join(str(text).split()))
