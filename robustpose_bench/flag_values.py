"""The values that several commands take, parsed one way: ``--shard``, ``--severities``, ``--corruptions``.

One parser per idea, so that ``build``, ``eval``, ``eval-external`` and the library calls behind them
accept the same forms and fail with the same one-line ``UserError`` naming the flag:

- ``--shard I/N``: shards are numbered 1..N everywhere (``build``, ``eval``, ``merge``);
- ``--severities``: ``1-5``, ``3`` or ``1,3,5``, values 1..5 only;
- ``--corruptions``: one comma-separated list (or a named set: benchmark, all, validation), returned in
  the registry's order, unknown names answered with the closest registered ones.
"""
from __future__ import annotations

from .errors import UserError

SEVERITIES = (1, 2, 3, 4, 5)
CORRUPTION_SETS = ("benchmark", "all", "validation")


def parse_shard(text: str | None, flag: str = "--shard") -> tuple[int, int] | None:
    """``'I/N'`` with 1 <= I <= N -> ``(I, N)``; None stays None. ``0/N`` (build's old, 0-based numbering)
    gets its own message naming the shard it now is."""
    if text is None:
        return None
    try:
        i, n = (int(v) for v in str(text).split("/"))
    except ValueError:
        raise UserError(f"{flag} must be I/N with integers, e.g. 1/4; got {text!r}") from None
    if n >= 1 and i == 0:
        raise UserError(f"{flag}: shards are numbered 1..N (as in eval and merge); {flag} 0/{n} is now {flag} 1/{n}")
    if n < 1 or not 1 <= i <= n:
        raise UserError(f"{flag} {text}: needs 1 <= I <= N")
    return i, n


def parse_severities(text: str, flag: str = "--severities") -> tuple[int, ...]:
    """``'1-5'``, ``'3'``, ``'1,3,5'`` (or a mix: ``'1-2,5'``) -> sorted severities within 1..5; a range
    is checked before it is expanded (``1-99999999999`` is not a list to build)."""
    out: set[int] = set()
    try:
        for part in str(text).split(","):
            part = part.strip()
            if "-" in part:
                lo, hi = (int(x) for x in part.split("-"))
                if not 1 <= lo <= hi <= 5:
                    raise UserError(f"{flag} must be within 1..5 (a range low-high, low <= high), got {text!r}")
                out.update(range(lo, hi + 1))
            else:
                out.add(int(part))
    except ValueError:
        raise UserError(f"{flag} must look like 1-5, 3 or 1,3,5; got {text!r}") from None
    if not out or not out <= set(SEVERITIES):
        raise UserError(f"{flag} must be within 1..5, got {text!r}")
    return tuple(sorted(out))


def parse_corruptions(text: str, flag: str = "--corruptions") -> tuple[str, ...]:
    """A named set (benchmark: the 15, all: 19, validation: 4) or comma-separated names -> names in
    registry order (so that a manifest or a run does not depend on the order they were typed in)."""
    from corruptions import CORRUPTIONS, get_corruption, list_corruptions

    text = str(text)
    if text.strip() in CORRUPTION_SETS:
        return tuple(list_corruptions(subset=text.strip()))
    names: set[str] = set()
    for name in (n.strip() for n in text.split(",")):
        if not name:
            continue
        try:
            names.add(get_corruption(name).name)
        except ValueError as exc:  # "unknown corruption 'fgo'; did you mean fog?"
            raise UserError(f"{flag}: {exc} (see `robustpose-bench list corruptions`)") from None
    if not names:
        raise UserError(f"{flag} is empty: give comma-separated names, e.g. {flag} snow,fog, or "
                        f"one of {', '.join(CORRUPTION_SETS)}")
    return tuple(n for n in CORRUPTIONS if n in names)
