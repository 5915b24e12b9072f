"""Brevo's error answers: one exception carrying status, code, message and optional metadata.

Message strings are the ones real clients match on (reference §1, §2, §7, §9); keep them verbatim.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse

# Identifier names in the order Brevo lists them in duplicate messages.
IDENTIFIER_ORDER = ("email", "SMS", "WHATSAPP", "LANDLINE_NUMBER", "EXT_ID")

CONTACT_NOT_FOUND = "Contact does not exist"
LIST_NOT_FOUND = "List ID does not exist"
INVALID_EMAIL = "Invalid email address"
INVALID_PHONE = "Invalid phone number"
MISSING_IDENTIFIER = "Please provide Email or SMS attribute value to create user"
ALREADY_IN_LIST = "Contact already in list and/or does not exist"
ALREADY_REMOVED = "Contact already removed from list and/or does not exist"
ALL_ALREADY_REMOVED = "Contacts already removed from list and/or does not exist"
ATTRIBUTE_NOT_UNIQUE = "Attribute name must be unique"
NO_INPUTS = "No inputs in the body"
PROCESS_INVALID = "processId is invalid"
INVALID_JSON = "Input must be a valid JSON object"
NOT_JSON = "Content-Type must be application/json"


class EmulatedError(Exception):
    """An error answer in Brevo's `{"code", "message", "metadata"?}` shape."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.metadata = metadata

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.metadata is not None:
            body["metadata"] = self.metadata
        return body

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status)


def invalid(message: str) -> EmulatedError:
    return EmulatedError(400, "invalid_parameter", message)


def missing(message: str) -> EmulatedError:
    return EmulatedError(400, "missing_parameter", message)


def not_found(message: str) -> EmulatedError:
    return EmulatedError(404, "document_not_found", message)


def duplicate_identifiers(names: list[str], *, creating: bool) -> EmulatedError:
    """E.g. "Unable to update contact, SMS or EXT_ID are already associated with another Contact"
    with metadata {"duplicate_identifiers": ["SMS", "EXT_ID"]}."""
    ordered = [name for name in IDENTIFIER_ORDER if name in names]
    verb = "is" if len(ordered) == 1 else "are"
    action = "create" if creating else "update"
    message = (
        f"Unable to {action} contact, {' or '.join(ordered)} {verb} already associated"
        " with another Contact"
    )
    return EmulatedError(
        400, "duplicate_parameter", message, metadata={"duplicate_identifiers": ordered}
    )
