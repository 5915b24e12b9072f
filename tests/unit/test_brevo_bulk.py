"""Splitting bulk work into calls Brevo accepts."""

from __future__ import annotations

import pytest

from brevo_sync.brevo.bulk import IMPORT_ENVELOPE_BYTES, chunk_import_rows, chunked, encode_json


def row(n: int, padding: int = 0) -> dict[str, object]:
    return {"email": f"user{n}@example.com", "attributes": {"FIRSTNAME": "é" * padding}}


def test_chunked_slices_in_order() -> None:
    chunks = list(chunked(list(range(301)), 150))
    assert [len(c) for c in chunks] == [150, 150, 1]
    assert [x for c in chunks for x in c] == list(range(301))


def test_chunked_rejects_nonpositive_size() -> None:
    with pytest.raises(ValueError):
        list(chunked([1], 0))


def test_import_rows_fit_in_one_chunk_when_small() -> None:
    rows = [row(n) for n in range(100)]
    assert chunk_import_rows(rows) == [rows]


def test_import_chunks_stay_under_the_byte_limit() -> None:
    """Sizes are counted in encoded bytes, so non-ASCII names count double."""
    rows = [row(n, padding=200) for n in range(500)]
    max_bytes = 50_000
    chunks = chunk_import_rows(rows, max_bytes=max_bytes)
    assert len(chunks) > 1
    assert [r for c in chunks for r in c] == rows
    for chunk in chunks:
        body = {"jsonBody": chunk, "listIds": [1, 2, 3], "updateExistingContacts": True}
        assert len(encode_json(body)) <= max_bytes
    # Greedy: every chunk but the last is nearly full.
    for chunk in chunks[:-1]:
        assert len(encode_json(chunk)) > max_bytes - IMPORT_ENVELOPE_BYTES - 1_000


def test_a_row_too_big_to_send_alone_is_refused() -> None:
    with pytest.raises(ValueError, match="over the 5000-byte limit"):
        chunk_import_rows([row(1, padding=10_000)], max_bytes=5_000)


def test_no_rows_no_chunks() -> None:
    assert chunk_import_rows([]) == []
