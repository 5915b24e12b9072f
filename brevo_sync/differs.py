"""When Brevo's contact differs from the customer's row: one rule, for the engine (decide.py),
the sweep (reconcile.sql `drift_rows`, then `sweep_phone_differs` here) and the admin page
(views.differences).

A field differs when what the sync would send is not what Brevo holds:
- email: the row's, trimmed and lower-cased, against Brevo's, lower-cased;
- first and last name: the row's, trimmed (absent: empty), against Brevo's as it is;
- phone (SMS): the digits of the number as the sync sends it (E.164, normalize_phone; none
  when Brevo would refuse it) against the digits Brevo holds;
- used_welcome_offer: true against Brevo's, a boolean Brevo leaves out being false.

A phone the sync withheld (Brevo refused it, or holds it on another contact: the row's
fingerprint is in sync_state.sms_withheld_fingerprint) is not a difference until the row
changes, for the sweep and the page. The engine is not asked: it pushes a queued row as it is.

The sweep's SQL can tell names, emails and booleans apart but cannot parse a phone number: it
settles the two plain cases (no phone on either side; an international number whose digits
are those Brevo holds, Brevo holding only numbers it accepted) and hands every other phone to
`sweep_phone_differs`.
"""

from __future__ import annotations

from typing import Any

from brevo_sync.normalize import normalize_phone

FIELDS = ("email", "first_name", "last_name", "phone", "used_welcome_offer")


def digits(value: Any) -> str:
    return "".join(ch for ch in str(value or "") if ch.isdigit())


def same_sms(sent: Any, held: Any) -> bool:
    """The SMS the sync sends (E.164, or nothing) against the one Brevo holds."""
    return digits(sent) == digits(held)


def phone_differs(phone: str | None, held_sms: Any, region: str | None) -> bool:
    return not same_sms(normalize_phone(phone, region), held_sms)


def held_bool(value: Any) -> bool:
    """A boolean attribute as Brevo may return it: true, "true", or absent (false)."""
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return value is True


def differences(*, email: str | None, first_name: str | None, last_name: str | None,
                phone: str | None, used_welcome_offer: bool | None,
                held_email: str | None, held_first_name: str | None,
                held_last_name: str | None, held_sms: Any, held_used_welcome_offer: Any,
                region: str | None, sms_withheld: bool = False) -> list[str]:
    """The fields (in FIELDS' order) where Brevo's contact differs from the row."""
    found = []
    if (email or "").strip().lower() != (held_email or "").lower():
        found.append("email")
    if (first_name or "").strip() != (held_first_name or ""):
        found.append("first_name")
    if (last_name or "").strip() != (held_last_name or ""):
        found.append("last_name")
    if not sms_withheld and phone_differs(phone, held_sms, region):
        found.append("phone")
    if bool(used_welcome_offer) != held_bool(held_used_welcome_offer):
        found.append("used_welcome_offer")
    return found


def sweep_phone_differs(candidates: list[dict[str, Any]], region: str | None
                        ) -> tuple[list[Any], list[Any]]:
    """The sweep's phones its SQL could not settle (`customer_id`, `phone`, `held_sms`,
    `list_drift`): the customers whose phone differs (drift of kind attributes), and those
    whose phone is the same but who are missing from the list (kind list)."""
    attributes, listed = [], []
    for row in candidates:
        if phone_differs(row["phone"], row["held_sms"], region):
            attributes.append(row["customer_id"])
        elif row["list_drift"]:
            listed.append(row["customer_id"])
    return attributes, listed
