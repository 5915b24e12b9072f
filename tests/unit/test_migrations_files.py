"""Migration files and SQL blocks load as the runner expects."""

from __future__ import annotations

from brevo_sync.db import parse_blocks, queries
from brevo_sync.migrate import load_migrations


def test_migrations_are_numbered_in_order() -> None:
    versions = [m.version for m in load_migrations()]
    assert versions == sorted(versions) and versions[0] == 1


def test_named_blocks_are_split() -> None:
    blocks = parse_blocks("-- name: a\nSELECT 1;\n\n-- name: b\nSELECT 2;\n")
    assert blocks == {"a": "SELECT 1;", "b": "SELECT 2;"}


def test_engine_queries_exist() -> None:
    assert {"claim", "load", "release_done", "write_back", "status"} <= set(queries())
