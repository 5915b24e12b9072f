"""Migration files and SQL blocks load as the runner expects."""

from __future__ import annotations

import pytest

from brevo_sync.config import ConfigError
from brevo_sync.db import parse_blocks, queries
from brevo_sync.migrate import Migration, load_migrations, migration_dsn


def test_migrations_are_numbered_in_order() -> None:
    versions = [m.version for m in load_migrations()]
    assert versions == sorted(versions) and versions[0] == 1


def test_named_blocks_are_split() -> None:
    blocks = parse_blocks("-- name: a\nSELECT 1;\n\n-- name: b\nSELECT 2;\n")
    assert blocks == {"a": "SELECT 1;", "b": "SELECT 2;"}


def test_engine_queries_exist() -> None:
    assert {"claim", "claimed_customers_with_state", "release_done", "write_back",
            "status"} <= set(queries())


def test_migrations_use_the_direct_url_when_there_is_one() -> None:
    direct = "postgresql://u@ep-x.eu-central-1.aws.neon.tech/db"
    pooled = "postgresql://u@ep-x-pooler.eu-central-1.aws.neon.tech/db"
    assert migration_dsn(pooled, direct) == direct
    assert migration_dsn(None, direct) == direct
    assert migration_dsn(direct, None) == direct


@pytest.mark.parametrize(("url", "unpooled", "variable"), [
    ("postgresql://u@ep-x-pooler.eu-central-1.aws.neon.tech/db", None, "DATABASE_URL"),
    (None, "postgresql://u@ep-x-pooler.eu-central-1.aws.neon.tech/db", "DATABASE_URL_UNPOOLED"),
])
def test_migrations_refuse_a_pooler(url: str | None, unpooled: str | None,
                                    variable: str) -> None:
    with pytest.raises(ConfigError, match=f"^{variable} names a connection pooler"):
        migration_dsn(url, unpooled)


def test_migrations_without_any_url_name_both_variables() -> None:
    with pytest.raises(ConfigError, match="DATABASE_URL_UNPOOLED"):
        migration_dsn(None, None)


def test_a_changed_file_changes_the_checksum() -> None:
    first = load_migrations()[0]
    assert first.checksum != Migration(first.version, first.name, first.sql + " ").checksum
