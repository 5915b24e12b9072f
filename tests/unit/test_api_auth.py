"""The admin's credentials check and the cross-site check, without a server."""

from __future__ import annotations

import base64

import pytest
from starlette.datastructures import Headers

from api.auth import credentials_match, is_cross_site, is_public
from brevo_sync.config import Secret

SECRET = Secret("s3cret:with:colons")


def basic(text: str) -> str:
    return "Basic " + base64.b64encode(text.encode()).decode()


def test_right_credentials_match_even_with_colons_in_the_password() -> None:
    assert credentials_match(basic("admin:s3cret:with:colons"), "admin", SECRET)
    assert credentials_match("basic " + basic("admin:s3cret:with:colons")[6:], "admin", SECRET)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        basic("admin:s3cret"),
        basic("root:s3cret:with:colons"),
        "Basic %%%",
        "Digest abc",
        basic("admin"),
    ],
)
def test_anything_else_does_not(header: str | None) -> None:
    assert not credentials_match(header, "admin", SECRET)


@pytest.mark.parametrize(
    ("headers", "cross"),
    [
        ({}, False),
        ({"host": "a.test", "origin": "http://a.test"}, False),
        ({"host": "a.test", "origin": "https://a.test", "sec-fetch-site": "same-origin"}, False),
        (
            {"host": "internal:8000", "x-forwarded-host": "a.test", "origin": "https://a.test"},
            False,
        ),
        ({"sec-fetch-site": "none"}, False),
        ({"host": "a.test", "origin": "http://b.test"}, True),
        ({"host": "a.test", "origin": "null"}, True),
        ({"host": "a.test", "sec-fetch-site": "same-site"}, True),
        ({"host": "a.test", "origin": "http://[::1"}, True),
    ],
)
def test_cross_site_is_told_by_origin_or_fetch_metadata(
    headers: dict[str, str], cross: bool
) -> None:
    assert is_cross_site(Headers(headers)) is cross


def test_only_probes_assets_and_cron_are_public() -> None:
    assert all(
        is_public(p)
        for p in ("/healthz", "/readyz", "/metrics", "/static/admin.js", "/api/cron/sync-brevo")
    )
    assert not any(
        is_public(p) for p in ("/admin/clients", "/healthz/x", "/staticx", "/api/admin/views", "/")
    )
