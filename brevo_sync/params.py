"""Query-string values in, page values out: the helpers the admin's paged reads share (the
views, brevo_sync/views.py, and the history, brevo_sync/history.py).

A bad value raises ParamError, which the API answers with a 400 saying which value and why;
user text goes on to SQL only as bound parameters.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime

MAX_PAGE = 1_000_000


class ParamError(ValueError):
    """A query-string value the page cannot take; the message says which and why."""


def parse_int(params: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    if not re.fullmatch(r"[+-]?\d{1,12}", raw.strip()):
        raise ParamError(f"{name} must be a whole number")
    value = int(raw)
    if not low <= value <= high:
        raise ParamError(f"{name} must be between {low} and {high}")
    return value


def text_param(raw: str | None, name: str) -> str | None:
    if raw is None:
        return None
    if "\x00" in raw:
        raise ParamError(f"{name} must not contain a NUL character")
    text = raw.strip()
    return text or None


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
