"""A request's JSON body, read so that no body can hurt: it must be declared JSON (415), it is
counted while it streams in and refused past the limit before the rest is read (413), and its
nesting is bounded before it is parsed, so a deep one is a 400 rather than a RecursionError."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from api.errors import ApiError

MAX_BODY_BYTES = 16_384
# Far beyond any body the API takes ({"budget": 60}), far below the parser's recursion limit.
MAX_DEPTH = 32
JSON_MEDIA_TYPE = "application/json"

_OPENERS = frozenset("[{")
_CLOSERS = frozenset("]}")


async def json_object(request: Request) -> dict[str, Any]:
    """The request's JSON object; an empty body is an empty object."""
    declared = request.headers.get("content-type")
    if declared is not None and not is_json_media_type(declared):
        raise _not_json()
    text = _utf8(await read_limited(request, MAX_BODY_BYTES))
    if not text.strip():
        return {}
    if declared is None:
        raise _not_json()
    if too_deep(text, MAX_DEPTH):
        raise ApiError(400, f"the request body is nested deeper than {MAX_DEPTH} levels")
    try:
        data = json.loads(text)
    except ValueError:
        raise ApiError(400, "the request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise ApiError(400, "the request body must be a JSON object")
    return data


async def read_limited(request: Request, limit: int) -> bytes:
    """The body, refused as soon as it is known to exceed `limit`: by its Content-Length
    before a byte is read, else while it streams in."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise _too_large(limit)
    return bytes(body)


def is_json_media_type(content_type: str) -> bool:
    """`application/json`, with any parameters (`; charset=utf-8`)."""
    return content_type.split(";", 1)[0].strip().lower() == JSON_MEDIA_TYPE


def too_deep(text: str, limit: int) -> bool:
    """Whether arrays and objects nest deeper than `limit`, brackets inside strings aside."""
    depth = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in _OPENERS:
            depth += 1
            if depth > limit:
                return True
        elif char in _CLOSERS:
            depth -= 1
    return False


def _utf8(body: bytes) -> str:
    # JSON exchanged between systems is UTF-8 (RFC 8259 §8.1); scanning the decoded text keeps
    # a multi-byte character from passing for a quote or a bracket.
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "the request body is not valid JSON (UTF-8)") from None


def _not_json() -> ApiError:
    return ApiError(415, f"the request body must be JSON (Content-Type: {JSON_MEDIA_TYPE})")


def _too_large(limit: int) -> ApiError:
    return ApiError(413, f"the request body is larger than {limit} bytes")
