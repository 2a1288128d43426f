"""Reading JSON files given by the user: one helper, so every command reports problems the same way.

A missing, unreadable or malformed file becomes a one-line ``UserError`` that names the file and
what it was supposed to be, never a traceback.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .errors import UserError


def read_json(path: str | os.PathLike, what: str = "file") -> Any:
    """Parse the JSON file at ``path``; ``what`` names it in errors (e.g. "detection file")."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"{what} not found: {path}") from None
    except IsADirectoryError:
        raise UserError(f"{what} {path} is a folder, expected a JSON file") from None
    except OSError as exc:
        raise UserError(f"cannot read {what} {path} ({exc.strerror})") from None
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: not valid JSON ({exc})") from None
