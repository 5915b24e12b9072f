"""The cron route's door: only the bearer CRON_SECRET admits."""

from __future__ import annotations

import pytest

from api.cron import cron_authorized
from brevo_sync.config import Secret


@pytest.mark.parametrize(("header", "admitted"), [
    (None, False),
    ("", False),
    ("Bearer right-secret-123456", True),
    ("bearer right-secret-123456", True),
    ("Bearer wrong-secret-123456", False),
    ("Basic right-secret-123456", False),
    ("right-secret-123456", False),
    ("Bearer right-secret-1234567", False),
    ("Bearer rïght-secret-123456", False),
])
def test_only_the_bearer_secret_admits(header: str | None, admitted: bool) -> None:
    assert cron_authorized(header, Secret("right-secret-123456")) is admitted


def test_no_secret_admits_nobody() -> None:
    assert not cron_authorized("Bearer ", None)
    assert not cron_authorized("Bearer ", Secret(""))
    assert not cron_authorized("Bearer None", None)
