"""An outcome as the admin API shows it, and whose email it carries."""

from __future__ import annotations

import uuid

from brevo_sync.outcome import Outcome
from brevo_sync.rows import Customer, QueueItem

ITEM = QueueItem(uuid.uuid4(), 1)


def test_the_admin_api_shape() -> None:
    outcome = Outcome(ITEM, Customer(ITEM.customer_id, "ada@example.com"), "create", "ok",
                      contact_id=47, message="created")
    assert outcome.as_json() == {
        "customerId": str(ITEM.customer_id), "email": "ada@example.com", "success": True,
        "brevoId": 47, "action": "create", "outcome": "ok", "message": "created",
    }


def test_skipped_is_a_success_and_a_retry_or_an_error_is_not() -> None:
    customer = Customer(ITEM.customer_id, "ada@example.com")
    success = {result: Outcome(ITEM, customer, "update", result).as_json()["success"]
               for result in ("ok", "skipped", "error", "retry")}
    assert success == {"ok": True, "skipped": True, "error": False, "retry": False}


def test_a_deleted_customer_carries_the_email_its_queue_row_kept() -> None:
    deleted = QueueItem(ITEM.customer_id, 2, deleted=True, deleted_email="gone@example.com")
    assert Outcome(deleted, None, "remove", "ok").email == "gone@example.com"
    assert Outcome(ITEM, None, "remove", "ok").email is None
    no_email = Customer(ITEM.customer_id, None)
    assert Outcome(deleted, no_email, "remove", "ok").email == "gone@example.com"
