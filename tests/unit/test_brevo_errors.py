"""Classification of Brevo responses into the client's exception tree."""

from __future__ import annotations

import pytest

from brevo_sync.brevo.errors import (
    BrevoAccountError,
    BrevoError,
    BrevoNotFoundError,
    BrevoPermanentError,
    BrevoRateLimitedError,
    BrevoTransientError,
    classify_response,
    is_account_failure,
    is_attribute_exists,
    is_duplicate_email,
    is_duplicate_sms,
    is_list_noop,
)

SMS_DUPLICATE = {
    "code": "duplicate_parameter",
    "message": "Unable to update contact, SMS is already associated with another Contact",
    "metadata": {"duplicate_identifiers": ["SMS"]},
}


@pytest.mark.parametrize("status", [200, 201, 202, 204])
def test_success_statuses_are_not_errors(status: int) -> None:
    assert classify_response(status, None) is None


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (
            400,
            {"code": "invalid_parameter", "message": "Invalid phone number"},
            BrevoPermanentError,
        ),
        (401, {"code": "unauthorized", "message": "Key not found"}, BrevoAccountError),
        (402, {"code": "not_enough_credits", "message": "x"}, BrevoAccountError),
        (403, {"code": "permission_denied", "message": "x"}, BrevoAccountError),
        (
            404,
            {"code": "document_not_found", "message": "Contact does not exist"},
            BrevoNotFoundError,
        ),
        (405, {"code": "method_not_allowed", "message": "x"}, BrevoPermanentError),
        (408, None, BrevoTransientError),
        (425, {"code": "account_in_process", "message": "Too Early"}, BrevoTransientError),
        (429, {"message": "Too Many Requests"}, BrevoRateLimitedError),
        (500, None, BrevoTransientError),
        (502, "<html>Bad gateway</html>", BrevoTransientError),
        (503, {"message": "unavailable"}, BrevoTransientError),
        (524, "<html>A timeout occurred</html>", BrevoTransientError),
    ],
)
def test_status_decides_the_branch(status: int, body: object, expected: type[BrevoError]) -> None:
    """Each status lands on exactly the expected class of the tree."""
    err = classify_response(status, body)
    assert type(err) is expected


def test_permanent_error_keeps_brevo_code_message_and_metadata() -> None:
    err = classify_response(400, SMS_DUPLICATE)
    assert isinstance(err, BrevoPermanentError)
    assert (err.status, err.code) == (400, "duplicate_parameter")
    assert err.message == SMS_DUPLICATE["message"]
    assert err.duplicate_identifiers == ["SMS"]
    assert str(err) == (
        "Brevo HTTP 400 duplicate_parameter: "
        "Unable to update contact, SMS is already associated with another Contact"
    )


def test_error_without_code_still_reads_well() -> None:
    """SPEC26 makes only `message` required; some 401 bodies have no code."""
    err = classify_response(401, {"message": "Key not found"})
    assert isinstance(err, BrevoPermanentError)
    assert err.code is None
    assert str(err) == "Brevo HTTP 401: Key not found"


def test_rate_limited_error_carries_reset_after() -> None:
    err = classify_response(429, {"message": "Too Many Requests"}, reset_after=7.0)
    assert isinstance(err, BrevoRateLimitedError)
    assert err.reset_after == 7.0
    assert err.status == 429


def test_not_found_is_permanent() -> None:
    assert issubclass(BrevoNotFoundError, BrevoPermanentError)
    assert issubclass(BrevoRateLimitedError, BrevoTransientError)


@pytest.mark.parametrize(
    "body",
    [
        SMS_DUPLICATE,
        # Same condition reported with code invalid_parameter (reference §12.3).
        {**SMS_DUPLICATE, "code": "invalid_parameter"},
        # No metadata: the message alone names the identifier.
        {
            "code": "duplicate_parameter",
            "message": "Unable to create contact, SMS is already associated with another Contact",
        },
        {
            "code": "invalid_parameter",
            "message": "Unable to update contact, SMS or EXT_ID are already associated "
            "with another Contact",
        },
        {
            "code": "duplicate_parameter",
            "message": "x",
            "metadata": {"duplicate_identifiers": ["SMS", "WHATSAPP", "EXT_ID"]},
        },
    ],
)
def test_duplicate_sms_is_recognised_whatever_the_code(body: dict[str, object]) -> None:
    err = classify_response(400, body)
    assert err is not None
    assert is_duplicate_sms(err)
    assert not is_duplicate_email(err)


@pytest.mark.parametrize(
    "body",
    [
        {
            "code": "duplicate_parameter",
            "message": "Unable to create contact, email is already associated with another Contact",
            "metadata": {"duplicate_identifiers": ["email"]},
        },
        {
            "code": "invalid_parameter",
            "message": "Unable to update contact, email is already associated with another Contact",
        },
    ],
)
def test_duplicate_email_is_recognised_whatever_the_code(body: dict[str, object]) -> None:
    err = classify_response(400, body)
    assert err is not None
    assert is_duplicate_email(err)
    assert not is_duplicate_sms(err)


@pytest.mark.parametrize(
    ("status", "body"),
    [
        # A duplicate code alone is not enough: the message must say what clashed.
        (400, {"code": "duplicate_parameter", "message": "Contact already exist"}),
        (400, {"code": "invalid_parameter", "message": "Invalid phone number"}),
        # Not a 400: a 5xx mentioning SMS is no duplicate.
        (500, {"message": "SMS is already associated"}),
    ],
)
def test_other_errors_are_not_duplicates(status: int, body: dict[str, object]) -> None:
    err = classify_response(status, body)
    assert err is not None
    assert not is_duplicate_sms(err)
    assert not is_duplicate_email(err)


@pytest.mark.parametrize(
    "message",
    [
        "Contact already in list and/or does not exist",
        "Contact already removed from list and/or does not exist",
        "Contacts already removed from list and/or does not exist",
    ],
)
def test_list_noop_messages(message: str) -> None:
    err = classify_response(400, {"code": "invalid_parameter", "message": message})
    assert err is not None
    assert is_list_noop(err)


def test_list_noop_needs_a_400() -> None:
    err = classify_response(404, {"code": "document_not_found", "message": "List ID not found"})
    assert err is not None
    assert not is_list_noop(err)


def test_attribute_exists() -> None:
    err = classify_response(
        400, {"code": "invalid_parameter", "message": "Attribute name must be unique"}
    )
    assert err is not None
    assert is_attribute_exists(err)


IP_REFUSED = {
    "code": "unauthorized",
    "message": "We have detected you are using an unrecognised IP address 203.0.113.9. If you"
    " performed this action make sure to add the new IP address in this link:"
    " https://app.brevo.com/security/authorised_ips",
}


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (401, {"code": "unauthorized", "message": "Key not found"}),
        (401, {"message": "Key not found"}),
        (401, {"message": "authentication not found in headers", "code": "unauthorized"}),
        (401, IP_REFUSED),
        (401, "<html>Unauthorized</html>"),
        (402, {"code": "not_enough_credits", "message": "Not enough credits"}),
        (403, {"code": "permission_denied", "message": "Permission denied"}),
        (403, {"code": "account_under_validation", "message": "Account under validation"}),
        (400, {"code": "account_under_validation", "message": "Account under validation"}),
        (400, {"code": "not_enough_credits", "message": "Not enough credits"}),
    ],
)
def test_account_refusals_are_account_errors_not_row_errors(status: int, body: object) -> None:
    """A revoked key, an unauthorised IP, no credits, an account under validation: the
    account's failure, kept with Brevo's status and message."""
    err = classify_response(status, body)
    assert isinstance(err, BrevoAccountError)
    assert err.status == status
    assert isinstance(err, BrevoPermanentError)  # never retried by the client


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (400, {"code": "invalid_parameter", "message": "Invalid phone number"}),
        (400, SMS_DUPLICATE),
        (404, {"code": "document_not_found", "message": "Contact does not exist"}),
        (425, {"code": "account_in_process", "message": "Too Early"}),
        (429, {"code": "unauthorized", "message": "Too Many Requests"}),
        (500, {"code": "unauthorized", "message": "oops"}),
    ],
)
def test_row_and_transient_errors_are_not_account_errors(status: int, body: object) -> None:
    assert not isinstance(classify_response(status, body), BrevoAccountError)


def test_is_account_failure_reads_status_and_code() -> None:
    assert is_account_failure(401, None) and is_account_failure(403, "anything")
    assert is_account_failure(400, "permission_denied")
    assert not is_account_failure(400, "invalid_parameter")
    assert not is_account_failure(503, "unauthorized")
