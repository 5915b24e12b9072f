"""The install command's refusals and what it registers (pure)."""

from __future__ import annotations

import pytest

from brevo_sync.config import Secret
from brevo_sync.webhook_setup import DESCRIPTION, SetupError, checked_url, definition, ours, shown


@pytest.mark.parametrize("url", ["http://example.com/api/webhooks/brevo", "ftp://x/y", "nope"])
def test_a_url_other_than_https_or_local_http_is_refused(url: str) -> None:
    with pytest.raises(SetupError):
        checked_url(url)


@pytest.mark.parametrize("url", ["https://example.com/api/webhooks/brevo",
                                 "http://localhost:8000/api/webhooks/brevo",
                                 "http://127.0.0.1:8000/api/webhooks/brevo"])
def test_https_and_local_http_are_taken(url: str) -> None:
    assert checked_url(url) == url


def test_no_secret_no_install() -> None:
    with pytest.raises(SetupError, match="BREVO_WEBHOOK_SECRET"):
        definition("https://x/api/webhooks/brevo", None)


def test_the_definition_is_a_batched_marketing_webhook_with_the_bearer() -> None:
    body = definition("https://x/api/webhooks/brevo", Secret("s3cret"))
    assert body["type"] == "marketing" and body["batched"] is True
    assert body["auth"] == {"type": "bearer", "token": "s3cret"}
    assert set(body["events"]) == {"unsubscribed", "hardBounce", "spam", "listAddition",
                                   "contactUpdated", "contactDeleted"}


def test_ours_are_found_by_description_or_url_and_shown_without_token() -> None:
    hooks = [{"id": 1, "url": "https://a", "description": DESCRIPTION,
              "auth": {"type": "bearer", "token": "s3cret"}},
             {"id": 2, "url": "https://b", "description": "someone else's"}]
    assert [h["id"] for h in ours(hooks)] == [1]
    assert [h["id"] for h in ours(hooks, "https://b")] == [2]
    assert "s3cret" not in str(shown(hooks[0]))
