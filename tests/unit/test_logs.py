"""What reaches a log line: JSON, no customer's email in clear, no chatty library."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from brevo_sync.logs import configure, mask_emails


@pytest.fixture(autouse=True)
def logging_as_it_was() -> Iterator[None]:
    """configure() binds the logs to this test's captured stderr: undone for later tests."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    structlog.reset_defaults()
    root.handlers[:], root.level = handlers, level
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.NOTSET)


@pytest.mark.parametrize(("text", "masked"), [
    ("amelie.poulain@example.fr", "a***@example.fr"),
    ("GET /v3/contacts/dora%40example.hu HTTP/1.1", "GET /v3/contacts/d***%40example.hu HTTP/1.1"),
    ("customer 42 has no email", "customer 42 has no email"),
])
def test_emails_are_masked(text: str, masked: str) -> None:
    assert mask_emails(text) == masked


def test_a_log_line_is_json_with_emails_masked(capsys: pytest.CaptureFixture[str]) -> None:
    configure("INFO", json=True)
    structlog.get_logger("t").warning("push failed", customer_id=7,
                                      message="Contact zoe@example.com exists",
                                      detail={"to": ["zoe@example.com"]})
    logging.getLogger("psycopg.pool").warning("server at amy@example.org refused")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert "zoe@" not in json.dumps(lines) and "amy@" not in json.dumps(lines)
    assert lines[0]["customer_id"] == 7 and lines[0]["message"] == "Contact z***@example.com exists"
    assert lines[1]["event"] == "server at a***@example.org refused"


def test_httpx_request_lines_are_not_logged(capsys: pytest.CaptureFixture[str]) -> None:
    configure("DEBUG", json=True)
    logging.getLogger("httpx").info("HTTP Request: GET https://api.brevo.com/v3/contacts/x")
    assert capsys.readouterr().err == ""
    assert logging.getLogger("httpcore").getEffectiveLevel() == logging.WARNING


def test_a_logged_traceback_shows_no_frame_locals_and_no_dsn_password(
        capsys: pytest.CaptureFixture[str]) -> None:
    configure("INFO", json=True)

    def connect(dsn: str) -> None:
        conninfo = {"password": "pw-in-a-local"}
        raise ConnectionError(f"cannot reach {dsn} with {len(conninfo)} parameter")

    try:
        connect("postgresql://app:pw-in-a-dsn@127.0.0.1:1/app")
    except ConnectionError:
        structlog.get_logger("t").exception("failed", dsn="postgres://app:pw-in-a-value@h/db")
    try:
        connect("host=h password=pw-in-a-keyword-dsn dbname=app")
    except ConnectionError:
        logging.getLogger("psycopg.pool").exception("library failed")
    err = capsys.readouterr().err
    lines = [json.loads(line) for line in err.splitlines()]
    assert len(lines) == 2 and "ConnectionError" in err
    assert lines[0]["exception"][0]["frames"], "the traceback itself is still there"
    for secret in ("pw-in-a-local", "pw-in-a-dsn", "pw-in-a-value", "pw-in-a-keyword-dsn"):
        assert secret not in err
    assert "postgresql://app:**********@127.0.0.1:1/app" in err


def test_the_console_renderer_shows_no_frame_locals(capsys: pytest.CaptureFixture[str]) -> None:
    configure("INFO", json=False)
    secret_local = "pw-in-a-local"
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        structlog.get_logger("t").exception("failed")
    err = capsys.readouterr().err
    assert "RuntimeError: boom" in err and secret_local not in err
