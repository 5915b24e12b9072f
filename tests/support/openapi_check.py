"""OpenAPI conformance for everything that crosses the Brevo boundary in tests.

`OpenAPIConformance(app, spec_path)` is plain ASGI middleware: every request under /v3 that a
client sends, and every answer the app gives, is validated with openapi-core against Brevo's
published definition (tests/openapi/brevo-contacts-v3.yaml). Problems are appended to
`.violations` (strings) instead of raised, so a test can assert on them at the end.

Brevo's definition is not perfect; these deviations are tolerated, and only these:

1. `POST /contacts/lists/{listId}/contacts/add|remove` bodies are a `oneOf` of object schemas
   with no required keys, so any valid body is "valid under each of" them (reference §12 item
   13). The check reads it as intended: exactly one of `emails`/`ids`/`extIds` (or `all` for
   remove) present, each item typed and 1..150 items.
2. `postContactInfo.contacts.success|failure` are a `oneOf` of an email array and an id array;
   an empty array matches both. Read as `anyOf`.
3. 401, 402, 403, 405, 406 and 429 apply to every operation (the definition's introduction
   lists them; 402 and 403 are the account's refusals, §14.3) but are declared on few. When
   an operation does not declare one, its body is checked against
   `components.schemas.errorModel` instead, so an undeclared status is no excuse for a bad body.
4. 502/503/504 are gateway answers (Cloudflare/envoy, or the emulator's injected faults), not
   Brevo's; they are not checked.
5. Response headers (x-sib-ratelimit-*) are not declared anywhere; they are not checked.
6. Empty answers (201/204) are declared as `content: {}`, a Swagger 2 conversion artefact that
   openapi-core reads as "a body is required"; the empty `content` is dropped, so an empty
   answer passes (and a 204 that carries a body is reported separately).

Everything else is reported: an unknown path or method, a missing required field, a wrong type,
a missing api-key header, an out-of-range `limit`, an undeclared status, a body off its schema.
"""

from __future__ import annotations

import copy
import json
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import yaml
from jsonschema import Draft4Validator
from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_core.templating.responses.exceptions import ResponseNotFound
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from werkzeug.datastructures import Headers, ImmutableMultiDict

SPEC_PATH = Path(__file__).resolve().parents[1] / "openapi" / "brevo-contacts-v3.yaml"
# The definition's only server is https://api.brevo.com/v3; requests are matched against it.
BREVO_HOST = "https://api.brevo.com"
GLOBAL_ERROR_STATUSES = {401, 402, 403, 405, 406, 429}
GATEWAY_STATUSES = {502, 503, 504}
MEMBERSHIP_PATHS = (
    "/contacts/lists/{listId}/contacts/add",
    "/contacts/lists/{listId}/contacts/remove",
)


def _exactly_one_of(schema: dict[str, Any]) -> dict[str, Any]:
    """Deviation 1: the same alternatives, each requiring its own key and only that key."""
    alternatives = []
    for option in schema["oneOf"]:
        (key,) = option["properties"]
        alternatives.append({**option, "required": [key], "additionalProperties": False})
    return {"oneOf": alternatives}


def patched_spec(spec_path: Path) -> dict[str, Any]:
    spec: dict[str, Any] = yaml.safe_load(spec_path.read_text())
    for path in MEMBERSHIP_PATHS:
        media = spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]
        media["schema"] = _exactly_one_of(media["schema"])
    for item in spec["paths"].values():
        for operation in item.values():
            for response in operation.get("responses", {}).values():
                if response.get("content") == {}:
                    del response["content"]
    contacts = spec["components"]["schemas"]["postContactInfo"]["properties"]["contacts"]
    for key in ("success", "failure"):
        contacts["properties"][key] = {"anyOf": contacts["properties"][key]["oneOf"]}
    return spec


@lru_cache(maxsize=4)
def _load(spec_path: Path) -> tuple[OpenAPI, dict[str, Any]]:
    spec = patched_spec(spec_path)
    return OpenAPI.from_dict(copy.deepcopy(spec)), spec


class _Request:
    """openapi-core's Request protocol over a finished ASGI request."""

    def __init__(self, scope: Scope, body: bytes) -> None:
        headers = Headers([(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]])
        self.host_url = BREVO_HOST
        self.path: str = scope["path"]
        self.method: str = scope["method"].lower()
        self.body = body
        self.content_type = headers.get("content-type", "").lower()
        query = scope.get("query_string", b"").decode("latin-1")
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(parse_qsl(query, keep_blank_values=True)),
            header=headers,
            cookie=ImmutableMultiDict(),
        )


class _Response:
    def __init__(self, status: int, headers: Headers, body: bytes) -> None:
        self.status_code = status
        self.headers = headers
        self.content_type = headers.get("content-type", "").lower()
        self.data = body


class OpenAPIConformance:
    def __init__(self, app: ASGIApp, spec_path: Path | str = SPEC_PATH, prefix: str = "/v3"):
        self.app = app
        self.prefix = prefix
        self.violations: list[str] = []
        self.checked = 0
        self._openapi, self._spec = _load(Path(spec_path).resolve())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        body, replay = await _buffered(receive)
        request = _Request(scope, body)
        self._check_request(request)
        captured: dict[str, Any] = {"body": b""}

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                captured["status"] = message["status"]
                captured["headers"] = message.get("headers", [])
            elif message["type"] == "http.response.body":
                captured["body"] += message.get("body", b"")
            await send(message)

        await self.app(scope, replay, capture)
        headers = Headers(
            [(k.decode("latin-1"), v.decode("latin-1")) for k, v in captured["headers"]]
        )
        self._check_response(request, _Response(captured["status"], headers, captured["body"]))
        self.checked += 1

    def _where(self, request: _Request) -> str:
        return f"{request.method.upper()} {request.path}"

    def _check_request(self, request: _Request) -> None:
        result = self._openapi.unmarshal_request(request)
        for error in result.errors:
            self.violations.append(f"request {self._where(request)}: {_describe(error)}")

    def _check_response(self, request: _Request, response: _Response) -> None:
        if response.status_code in GATEWAY_STATUSES:
            return
        if response.status_code == 204 and response.data:
            self.violations.append(f"response 204 to {self._where(request)}: has a body")
        result = self._openapi.unmarshal_response(request, response)
        for error in result.errors:
            if isinstance(error, ResponseNotFound) and self._global_error_ok(response):
                continue
            self.violations.append(
                f"response {response.status_code} to {self._where(request)}: {_describe(error)}"
            )

    def _global_error_ok(self, response: _Response) -> bool:
        """Deviation 3: an undeclared global status still needs an errorModel body."""
        if response.status_code not in GLOBAL_ERROR_STATUSES:
            return False
        try:
            body = json.loads(response.data)
        except ValueError:
            return False
        schema = self._spec["components"]["schemas"]["errorModel"]
        return bool(Draft4Validator(schema).is_valid(body))


async def _buffered(receive: Receive) -> tuple[bytes, Receive]:
    """Read the whole request body, and a `receive` that hands the same body to the app."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, replay


def _describe(error: Exception) -> str:
    """The error and, for schema failures, the nested reasons openapi-core keeps in __cause__."""
    parts = [str(error) or type(error).__name__]
    cause = error.__cause__
    while cause is not None:
        nested = getattr(cause, "schema_errors", None)
        if nested:
            parts.extend(str(getattr(item, "message", item)) for item in nested)
        elif str(cause):
            parts.append(str(cause))
        cause = cause.__cause__
    return "; ".join(parts)
