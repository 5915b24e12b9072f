"""The admin's credentials check, the login throttle and the cross-site check, without a
server."""

from __future__ import annotations

import base64

import pytest
from starlette.datastructures import Headers

from api.auth import (
    basic_credentials,
    bearer_matches,
    credentials_match,
    cross_site_refusal,
    is_cross_site,
    is_public,
    masked_user,
)
from api.throttle import (
    FORGET_AFTER_SECONDS,
    FREE_FAILURES,
    MAX_DELAY_SECONDS,
    LoginThrottle,
    delay_after,
    retry_after_header,
)
from brevo_sync.config import Secret
from tests.support.clock import FakeClock

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


# What Starlette hands over for any header bytes: each byte as one latin-1 character.
HOSTILE_HEADERS = [
    *(f"Basic {chr(code)}" for code in range(256)),
    *(f"Basic YWRtaW46{chr(code)}" for code in range(128, 256)),
    "Basic \xe9\xe8\xff",
    "Basic ÿÿÿÿ",
    "Basic " + base64.b64encode(b"\xff\xfe:\xc3").decode(),
    "Basic " + base64.b64encode("admin:s3cret:with:colons".encode("utf-16")).decode(),
    "Basic =",
    "Basic ====",
    "Basic YWRtaW4",  # bad padding
    "Basic " + "A" * 100_000,
    "Basic  " + basic("admin:s3cret:with:colons")[6:] + " trailing",
    "Bearer \xff",
    "\xff\xfe",
    " ",
    "Basic:",
]


@pytest.mark.parametrize("header", HOSTILE_HEADERS)
def test_no_header_makes_the_check_raise(header: str) -> None:
    assert basic_credentials(header) is None
    assert credentials_match(header, "admin", SECRET) is False
    assert bearer_matches(header, SECRET) is False


def test_basic_credentials_split_at_the_first_colon() -> None:
    assert basic_credentials(basic("admin:a:b")) == ("admin", "a:b")
    assert basic_credentials(basic("ädmin:pässwörd")) == ("ädmin", "pässwörd")
    assert basic_credentials(basic("no-colon")) is None


def test_the_metrics_bearer_matches_only_its_token() -> None:
    token = Secret("metrics-token-0123456789")
    assert bearer_matches("Bearer metrics-token-0123456789", token)
    assert bearer_matches("bearer metrics-token-0123456789", token)
    assert not bearer_matches("Bearer metrics-token-012345678", token)
    assert not bearer_matches("Basic metrics-token-0123456789", token)
    assert not bearer_matches("Bearer ", None)
    assert not bearer_matches(None, token)


def test_a_user_name_is_logged_as_given_only_when_it_is_the_admins() -> None:
    assert masked_user("admin", "admin") == "admin"
    assert masked_user("correct horse battery staple", "admin") == "c***"
    assert masked_user("", "admin") == ""


def test_a_state_change_without_origin_or_fetch_metadata_is_told_why() -> None:
    assert "Origin" in (cross_site_refusal(Headers({"host": "a.test"})) or "")
    assert cross_site_refusal(Headers({"origin": "http://b.test"})) == "cross-site request refused"


# -- the login throttle ----------------------------------------------------------------------



def test_the_delay_grows_from_the_fifth_failure_and_stops_at_the_maximum() -> None:
    assert [delay_after(n) for n in range(1, 10)] == [0, 0, 0, 0, 1, 2, 4, 8, 16]
    assert delay_after(FREE_FAILURES + 20) == MAX_DELAY_SECONDS
    assert delay_after(10**6) == MAX_DELAY_SECONDS


def test_a_key_waits_after_its_failures_and_longer_after_each_new_one() -> None:
    clock = FakeClock()
    throttle = LoginThrottle(clock=clock)
    keys = ["client:10.0.0.1"]
    for _ in range(FREE_FAILURES - 1):
        throttle.failed(keys)
        assert throttle.wait(keys) == 0
    waits = []
    for _ in range(3):
        throttle.failed(keys)
        waits.append(throttle.wait(keys))
        clock.now += waits[-1]
        assert throttle.wait(keys) == 0
    assert waits == [1.0, 2.0, 4.0]
    assert throttle.wait(["client:10.0.0.2"]) == 0


def test_the_longest_wait_among_the_keys_applies() -> None:
    throttle = LoginThrottle(clock=FakeClock())
    for _ in range(FREE_FAILURES + 2):
        throttle.failed(["client:a", "user:admin"])
    assert throttle.wait(["client:b", "user:admin"]) == 4.0
    assert throttle.wait(["client:b"]) == 0


def test_success_forgets_and_quiet_keys_start_afresh() -> None:
    clock = FakeClock()
    throttle = LoginThrottle(clock=clock)
    for _ in range(FREE_FAILURES):
        throttle.failed(["client:a", "client:b"])
    throttle.succeeded(["client:a"])
    assert throttle.wait(["client:a"]) == 0 and throttle.wait(["client:b"]) > 0
    clock.now += FORGET_AFTER_SECONDS + 1
    assert throttle.failed(["client:b"]) == 1


def test_memory_is_bounded_and_the_least_recent_key_goes_first() -> None:
    throttle = LoginThrottle(clock=FakeClock(), max_keys=3)
    for _ in range(FREE_FAILURES):
        throttle.failed(["client:kept"])
    for n in range(1000):
        throttle.failed([f"client:{n}"])
        throttle.failed(["client:kept"])
    assert len(throttle) == 3
    assert throttle.wait(["client:kept"]) == MAX_DELAY_SECONDS
    assert throttle.wait(["client:0"]) == 0


def test_retry_after_is_whole_seconds_rounded_up() -> None:
    assert [retry_after_header(s) for s in (0.01, 1.0, 1.2, 299.5)] == ["1", "1", "2", "300"]


@pytest.mark.parametrize(
    ("headers", "cross"),
    [
        ({}, True),
        ({"host": "a.test"}, True),
        ({"host": "a.test", "origin": "http://a.test"}, False),
        ({"host": "a.test", "sec-fetch-site": "same-origin"}, False),
        ({"host": "a.test", "sec-fetch-site": "none", "origin": "http://a.test"}, False),
        ({"host": "a.test", "origin": "https://a.test", "sec-fetch-site": "same-origin"}, False),
        (
            {"host": "internal:8000", "x-forwarded-host": "a.test", "origin": "https://a.test"},
            False,
        ),
        ({"sec-fetch-site": "none"}, True),
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
        is_public(p) for p in ("/healthz", "/readyz", "/static/admin.js", "/api/cron/sync-brevo")
    )
    assert not any(
        is_public(p)
        for p in ("/admin/clients", "/healthz/x", "/staticx", "/api/admin/views", "/", "/metrics")
    )
