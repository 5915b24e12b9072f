"""Splitting bulk work into calls Brevo accepts: 150 contacts per list call, ~8 MB per import."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

T = TypeVar("T")

LIST_CHUNK = 150
# Brevo caps inline imports at 10 MB and recommends staying under about 8 MB.
IMPORT_MAX_BYTES = 8_000_000
# Room for the import envelope around jsonBody (listIds, flags); generous on purpose.
IMPORT_ENVELOPE_BYTES = 4_096


def encode_json(payload: object) -> bytes:
    """The exact bytes the client sends for a JSON body (compact, UTF-8)."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def chunked(items: Sequence[T], size: int = LIST_CHUNK) -> Iterator[list[T]]:
    """Consecutive slices of at most ``size`` items."""
    if size < 1:
        raise ValueError(f"chunk size must be positive, got {size}")
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def chunk_import_rows(
    rows: Sequence[dict[str, Any]], max_bytes: int = IMPORT_MAX_BYTES
) -> list[list[dict[str, Any]]]:
    """Split import rows so each chunk's whole request body stays within ``max_bytes``.

    Order is kept. A single row that cannot fit alone raises ValueError.
    """
    budget = max_bytes - IMPORT_ENVELOPE_BYTES
    chunks: list[list[dict[str, Any]]] = []
    current: list[dict[str, Any]] = []
    used = 2  # the brackets of the jsonBody array
    for row in rows:
        size = len(encode_json(row)) + 1  # and its comma
        if size + 2 > budget:
            raise ValueError(
                f"one import row encodes to {size} bytes, over the {max_bytes}-byte limit"
            )
        if current and used + size > budget:
            chunks.append(current)
            current, used = [], 2
        current.append(row)
        used += size
    if current:
        chunks.append(current)
    return chunks
