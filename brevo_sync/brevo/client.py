"""The Brevo contacts API client.

Every call goes through :meth:`BrevoClient._request`, the one place that waits for the rate
limiter, sends JSON with the API key, reads the rate-limit headers, turns responses and httpx
errors into :mod:`brevo_sync.brevo.errors`, and retries what is transient.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any, Literal, Self
from urllib.parse import quote

import httpx
import structlog

from brevo_sync import __version__
from brevo_sync.brevo.bulk import IMPORT_MAX_BYTES, chunked, encode_json
from brevo_sync.brevo.errors import (
    BrevoDeadlineError,
    BrevoError,
    BrevoNotFoundError,
    BrevoPermanentError,
    BrevoRateLimitedError,
    BrevoTransientError,
    classify_response,
    is_attribute_exists,
    is_list_noop,
)
from brevo_sync.brevo.limiter import (
    Group,
    RateLimiter,
    current_deadline,
    group_for,
    reset_after,
)
from brevo_sync.brevo.models import Contact, ImportProcess, ListResult, format_datetime
from brevo_sync.brevo.pages import offset_pages
from brevo_sync.brevo.payloads import (
    contact_body,
    email_path,
    import_row,
    list_members,
    list_result,
    lowered_email,
)
from brevo_sync.brevo.retry import MAX_ATTEMPTS, delay_for
from brevo_sync.brevo.secret import Secret, redact, scrubbed

DEFAULT_BASE_URL = "https://api.brevo.com/v3"
DEFAULT_TIMEOUT = 10.0
# A 429 whose window resets later than this is handed to the caller instead of slept through:
# an hourly budget can take up to an hour to come back, longer than any push should block.
MAX_RETRY_DELAY = 60.0
LIST_CONTACTS_MAX = 1000
LIST_LISTS_MAX = 50  # GET /contacts/lists takes at most 50 a page

ResponseObserver = Callable[[str, int, float], None]
Sleep = Callable[[float], Awaitable[None]]

log = structlog.get_logger(__name__)

# Path segments that hold an email (already URL-encoded): masked in error messages.
_EMAIL_SEGMENT = re.compile(r"/[^/?]*%40[^/?]*")


@dataclass
class ClientStats:
    """Counters for metrics: calls by (method, group), retries by reason."""

    calls: Counter[tuple[str, str]] = field(default_factory=Counter)
    retries: int = 0
    retries_by_reason: Counter[str] = field(default_factory=Counter)
    transport_errors: int = 0


class BrevoClient:
    """Async client for Brevo's contacts API (the subset brevo-sync needs)."""

    def __init__(
        self,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        *,
        limiter: RateLimiter | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_attempts: int = MAX_ATTEMPTS,
        sleep: Sleep = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] = random.random,
        on_response: ResponseObserver | None = None,
        max_retry_delay: float = MAX_RETRY_DELAY,
    ) -> None:
        if not api_key or not api_key.strip():
            raise ValueError("Brevo API key is empty")
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
        self._api_key = Secret(api_key.strip())
        self.base_url = base_url.rstrip("/")
        self.limiter = limiter or RateLimiter(clock=clock, sleep=sleep)
        self.max_attempts = max_attempts
        self.max_retry_delay = max_retry_delay
        self.on_response = on_response
        self.stats = ClientStats()
        self._sleep = sleep
        self._clock = clock
        self._rng = rng
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            transport=transport,
            timeout=timeout,
            headers={
                "api-key": self._api_key.reveal(),
                "accept": "application/json",
                "content-type": "application/json",
                "user-agent": f"brevo-sync/{__version__}",
            },
        )

    def __repr__(self) -> str:
        return f"BrevoClient(base_url={self.base_url!r}, api_key={self._api_key!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # --- contacts -------------------------------------------------------------------------

    async def upsert_contact(
        self,
        email: str,
        attributes: Mapping[str, Any],
        *,
        list_ids: Iterable[int] | None = None,
        email_blacklisted: bool | None = None,
    ) -> int:
        """Create or update the contact with this email; return its Brevo id."""
        body = contact_body(email, attributes, list_ids, email_blacklisted, update=True)
        response = await self._request("POST", "/contacts", json=body)
        contact_id = _created_id(response)
        if contact_id is not None:
            return contact_id
        # 204: Brevo updated an existing contact and does not say which one.
        contact = await self.get_contact_by_email(email)
        if contact is None:
            raise BrevoTransientError(
                "Brevo accepted the upsert but the contact is not found by email yet"
            )
        return contact.id

    async def create_contact(
        self,
        email: str,
        attributes: Mapping[str, Any],
        *,
        list_ids: Iterable[int] | None = None,
        email_blacklisted: bool | None = None,
    ) -> int:
        """Create a contact; an existing email is a 400 (see :func:`is_duplicate_email`).

        Not idempotent: if a first attempt times out after Brevo created the contact, the
        retry gets the duplicate-email 400. Prefer :meth:`upsert_contact`.
        """
        body = contact_body(email, attributes, list_ids, email_blacklisted, update=False)
        response = await self._request("POST", "/contacts", json=body)
        contact_id = _created_id(response)
        if contact_id is None:
            raise BrevoTransientError(f"Brevo answered {response.status_code} without an id")
        return contact_id

    async def get_contact_by_email(self, email: str) -> Contact | None:
        return await self._get_contact(email_path(email), "email_id")

    async def get_contact_by_id(self, contact_id: int) -> Contact | None:
        return await self._get_contact(f"/contacts/{int(contact_id)}", "contact_id")

    async def update_contact(
        self,
        contact_id: int,
        *,
        attributes: Mapping[str, Any] | None = None,
        email: str | None = None,
        email_blacklisted: bool | None = None,
        list_ids: Iterable[int] | None = None,
        unlink_list_ids: Iterable[int] | None = None,
    ) -> None:
        """Change only what is given; ``email`` renames the contact (attributes.EMAIL).

        Raises BrevoNotFoundError when the contact no longer exists (PUT never creates).
        """
        merged = dict(attributes or {})
        if email is not None:
            merged["EMAIL"] = lowered_email(email)
        body: dict[str, Any] = {}
        if merged:
            body["attributes"] = merged
        if email_blacklisted is not None:
            body["emailBlacklisted"] = email_blacklisted
        if list_ids:
            body["listIds"] = [int(list_id) for list_id in list_ids]
        if unlink_list_ids:
            body["unlinkListIds"] = [int(list_id) for list_id in unlink_list_ids]
        if not body:
            return  # nothing to change; Brevo would reject an empty body anyway
        await self._request(
            "PUT",
            f"/contacts/{int(contact_id)}",
            json=body,
            params={"identifierType": "contact_id"},
        )

    async def delete_contact(self, contact_id: int) -> bool:
        """Delete a contact; False when it was already gone (deleting is idempotent)."""
        try:
            await self._request(
                "DELETE", f"/contacts/{int(contact_id)}", params={"identifierType": "contact_id"}
            )
        except BrevoNotFoundError:
            return False
        return True

    async def list_contacts(
        self,
        *,
        limit: int = LIST_CONTACTS_MAX,
        offset: int = 0,
        modified_since: datetime | None = None,
        sort: Literal["asc", "desc"] = "asc",
    ) -> tuple[list[Contact], int]:
        """One page of contacts and the total count matching the filter."""
        if not 1 <= limit <= LIST_CONTACTS_MAX:
            raise ValueError(f"limit must be 1..{LIST_CONTACTS_MAX}, got {limit}")
        if sort not in ("asc", "desc"):
            raise ValueError(f"sort must be 'asc' or 'desc', got {sort!r}")
        params: dict[str, str | int] = {"limit": limit, "offset": offset, "sort": sort}
        if modified_since is not None:
            params["modifiedSince"] = format_datetime(modified_since)
        body = _json_object(await self._request("GET", "/contacts", params=params))
        contacts = [Contact.from_api(item) for item in body.get("contacts") or []]
        return contacts, int(body.get("count") or 0)

    # --- lists ----------------------------------------------------------------------------

    async def remove_from_list(
        self,
        list_id: int,
        *,
        emails: Sequence[str] | None = None,
        ids: Sequence[int] | None = None,
    ) -> ListResult:
        """Remove contacts from a list, 150 per call; nothing-to-do is not an error."""
        return await self._change_list(list_id, "remove", emails, ids)

    # --- imports --------------------------------------------------------------------------

    async def import_contacts(
        self,
        rows: Sequence[Mapping[str, Any]],
        *,
        list_ids: Iterable[int],
        update_existing: bool = True,
        email_blacklist: bool = False,
        disable_notification: bool = True,
        empty_attributes: bool = False,
    ) -> int:
        """Start an asynchronous import of ``{"email", "attributes"}`` rows; return its process id.

        ``empty_attributes``: an empty value in a row erases the contact's value (Brevo's
        ``emptyContactsAttributes``); otherwise empty values are ignored.

        The body must stay under 8 MB: split rows with
        :func:`brevo_sync.brevo.bulk.chunk_import_rows` first.

        Only a 429 is resent: after a time-out or a 5xx Brevo may have accepted the import all
        the same, and a second one would import the same rows twice. The caller learns what
        happened to them instead (see brevo_sync.importer).
        """
        if not rows:
            raise ValueError("import_contacts needs at least one row")
        body = {
            "jsonBody": [import_row(row) for row in rows],
            "listIds": [int(list_id) for list_id in list_ids],
            "updateExistingContacts": update_existing,
            "emailBlacklist": email_blacklist,
            # Automated syncs would otherwise mail the account owner after every import.
            "disableNotification": disable_notification,
            "emptyContactsAttributes": empty_attributes,
        }
        if not body["listIds"]:
            raise ValueError("Brevo requires at least one list id for an import")
        size = len(encode_json(body))
        if size > IMPORT_MAX_BYTES:
            raise ValueError(
                f"import body is {size} bytes, over Brevo's {IMPORT_MAX_BYTES}-byte guidance: "
                "split the rows with chunk_import_rows()"
            )
        response = await self._request("POST", "/contacts/import", json=body,
                                       resend=_not_sent)
        return int(_json_object(response)["processId"])

    async def get_process(self, process_id: int, *, retry: bool = True) -> ImportProcess:
        """One process; ``retry=False`` spends one call of the 100-an-hour budget at most."""
        response = await self._request("GET", f"/processes/{int(process_id)}",
                                       resend=None if retry else _never)
        return ImportProcess.from_api(_json_object(response))

    async def list_processes(self, *, limit: int = 50, offset: int = 0,
                             sort: Literal["asc", "desc"] = "desc") -> list[ImportProcess]:
        """One page of the account's processes, newest first by default (one "other" call)."""
        if not 1 <= limit <= 50:
            raise ValueError(f"limit must be 1..50, got {limit}")
        response = await self._request("GET", "/processes", resend=_never,
                                       params={"limit": limit, "offset": offset, "sort": sort})
        return [ImportProcess.from_api(item)
                for item in _json_object(response).get("processes") or []]

    # --- attributes -----------------------------------------------------------------------

    async def get_list(self, list_id: int) -> dict[str, Any] | None:
        """A contact list (GET /contacts/lists/{id}): name, subscribers; None when missing."""
        try:
            response = await self._request("GET", f"/contacts/lists/{int(list_id)}")
        except BrevoNotFoundError:
            return None
        return _json_object(response)

    async def list_names(self) -> dict[int, str]:
        """Every contact list's name by id (GET /contacts/lists, 50 a page: Brevo's most)."""

        async def fetch(offset: int) -> tuple[list[dict[str, Any]], int]:
            body = _json_object(await self._request(
                "GET", "/contacts/lists", params={"limit": LIST_LISTS_MAX, "offset": offset}))
            return list(body.get("lists") or []), int(body.get("count") or 0)

        names: dict[int, str] = {}
        async for page in offset_pages(fetch, LIST_LISTS_MAX):
            names.update({int(item["id"]): str(item.get("name") or "") for item in page.items})
        return names

    async def list_attributes(self) -> dict[str, str | None]:
        """Attribute names (upper-case) mapped to their type, when Brevo gives one."""
        body = _json_object(await self._request("GET", "/contacts/attributes"))
        return {
            str(item["name"]).upper(): item.get("type") for item in body.get("attributes") or []
        }

    async def create_attribute(self, name: str, type: str, category: str = "normal") -> bool:
        """Create a contact attribute; False when it already existed."""
        path = f"/contacts/attributes/{quote(category, safe='')}/{quote(name.upper(), safe='')}"
        try:
            await self._request("POST", path, json={"type": type})
        except BrevoPermanentError as err:
            if is_attribute_exists(err):
                return False
            raise
        return True

    # --- webhooks -------------------------------------------------------------------------

    async def list_webhooks(self, type: str = "marketing") -> list[dict[str, Any]]:
        """The account's webhooks of one type (GET /webhooks)."""
        body = _json_object(await self._request("GET", "/webhooks", params={"type": type}))
        return [w for w in body.get("webhooks") or [] if isinstance(w, dict)]

    async def create_webhook(self, definition: Mapping[str, Any]) -> int:
        """Register a webhook (POST /webhooks); returns its id. Not retried once sent: a
        retry after a time-out could register it twice."""
        response = await self._request("POST", "/webhooks", json=dict(definition),
                                       resend=_not_sent)
        webhook_id = _created_id(response)
        if webhook_id is None:
            raise BrevoTransientError(f"Brevo answered {response.status_code} without an id")
        return webhook_id

    async def update_webhook(self, webhook_id: int, definition: Mapping[str, Any]) -> None:
        await self._request("PUT", f"/webhooks/{int(webhook_id)}", json=dict(definition))

    async def delete_webhook(self, webhook_id: int) -> bool:
        """False when it was already gone."""
        try:
            await self._request("DELETE", f"/webhooks/{int(webhook_id)}")
        except BrevoNotFoundError:
            return False
        return True

    # --- transport ------------------------------------------------------------------------

    async def _get_contact(self, path: str, identifier_type: str) -> Contact | None:
        try:
            response = await self._request("GET", path, params={"identifierType": identifier_type})
        except BrevoNotFoundError:
            return None
        return Contact.from_api(_json_object(response))

    async def _change_list(
        self,
        list_id: int,
        action: Literal["add", "remove"],
        emails: Sequence[str] | None,
        ids: Sequence[int] | None,
    ) -> ListResult:
        key, members = list_members(emails, ids)
        path = f"/contacts/lists/{int(list_id)}/contacts/{action}"
        result = ListResult()
        for chunk in chunked(members):
            try:
                response = await self._request("POST", path, json={key: chunk})
            except BrevoPermanentError as err:
                # "Contact already in list / already removed and/or does not exist": a no-op.
                if not is_list_noop(err):
                    raise
                result.unchanged.extend(chunk)
                continue
            result.merge(list_result(chunk, _json_object(response)))
        return result

    async def _request(
        self,
        method: str,
        path: str,
        *,
        json: object = None,
        params: Mapping[str, str | int] | None = None,
        resend: Callable[[BrevoTransientError], bool] | None = None,
    ) -> httpx.Response:
        """Send one API call, retrying transient failures (those `resend` allows, if given);
        raise BrevoError when it fails."""
        group = group_for(path)
        attempt = 0
        while True:
            attempt += 1
            try:
                return await self._attempt(method, path, group, json, params)
            except BrevoDeadlineError:
                raise
            except BrevoTransientError as err:
                delay = self._retry_delay(err, attempt)
                if delay is None or (resend is not None and not resend(err)):
                    raise
                until = current_deadline()
                if until is not None and self._clock() + delay > until:
                    raise
                self._note_retry(err, method, path, attempt, delay)
                if isinstance(err, BrevoRateLimitedError):
                    # Hold the whole group, not just this task: the budget is per account.
                    wait = err.reset_after if err.reset_after is not None else delay
                    self.limiter.penalize(group, wait)
                await self._sleep(delay)

    async def _attempt(
        self,
        method: str,
        path: str,
        group: Group,
        payload: object,
        params: Mapping[str, str | int] | None,
    ) -> httpx.Response:
        await self.limiter.acquire(group)
        self.stats.calls[(method, group)] += 1
        content = encode_json(payload) if payload is not None else None
        started = time.perf_counter()
        try:
            response = await self._http.request(method, path, content=content, params=params)
        except httpx.HTTPError as exc:
            self.stats.transport_errors += 1
            raise self._translate(exc, method, path) from scrubbed(exc, self._api_key.reveal())
        elapsed = time.perf_counter() - started
        self.limiter.observe(group, response.headers)
        if self.on_response is not None:
            self.on_response(group, response.status_code, elapsed)
        error = classify_response(
            response.status_code, _decode(response), reset_after=reset_after(response.headers)
        )
        if error is not None:
            raise error
        return response

    def _retry_delay(self, err: BrevoError, attempt: int) -> float | None:
        if attempt >= self.max_attempts:
            return None
        delay = delay_for(err, attempt, rng=self._rng)
        return delay if delay <= self.max_retry_delay else None

    def _note_retry(
        self, err: BrevoTransientError, method: str, path: str, attempt: int, delay: float
    ) -> None:
        reason = "network" if err.status is None else str(err.status)
        self.stats.retries += 1
        self.stats.retries_by_reason[reason] += 1
        log.warning(
            "brevo_retry",
            method=method,
            route=_route(path),
            reason=reason,
            attempt=attempt,
            delay_s=round(delay, 3),
        )

    def _translate(self, exc: httpx.HTTPError, method: str, path: str) -> BrevoTransientError:
        """The one place httpx errors become Brevo errors; headers never enter the message."""
        kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "failed"
        detail = str(redact(str(exc), self._api_key.reveal()))
        suffix = f": {detail}" if detail else ""
        return BrevoTransientError(
            f"Brevo {method} {_route(path)} {kind} ({type(exc).__name__}{suffix})"
        )


def _not_sent(err: BrevoTransientError) -> bool:
    """A 429 is refused before Brevo looks at the request."""
    return isinstance(err, BrevoRateLimitedError)


def _never(err: BrevoTransientError) -> bool:
    return False


def _route(path: str) -> str:
    return _EMAIL_SEGMENT.sub("/{email}", path)


def _created_id(response: httpx.Response) -> int | None:
    if response.status_code == 204 or not response.content:
        return None
    body = _decode(response)
    if isinstance(body, Mapping) and body.get("id") is not None:
        return int(body["id"])
    return None


def _json_object(response: httpx.Response) -> dict[str, Any]:
    body = _decode(response)
    if not isinstance(body, dict):
        raise BrevoTransientError(
            f"Brevo answered {response.status_code} with a body that is not a JSON object"
        )
    return body


def _decode(response: httpx.Response) -> object:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return response.text[:200]
