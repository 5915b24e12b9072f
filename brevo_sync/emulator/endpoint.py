"""Small helpers every Brevo handler uses: the shared state, JSON bodies, path and query values."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from brevo_sync.emulator import errors
from brevo_sync.emulator.config import EmulatorConfig
from brevo_sync.emulator.store import ContactStore
from brevo_sync.emulator.validation import parse_json_object


def store_of(request: Request) -> ContactStore:
    store: ContactStore = request.app.state.store
    return store


def config_of(request: Request) -> EmulatorConfig:
    config: EmulatorConfig = request.app.state.config
    return config


async def json_body(request: Request) -> tuple[dict[str, Any], int]:
    """The body as an object and its size; an empty body reads as {} (handlers decide)."""
    raw = await request.body()
    if not raw.strip():
        return {}, 0
    content_type = request.headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() != "application/json":
        raise errors.EmulatedError(406, "not_acceptable", errors.NOT_JSON)
    return parse_json_object(raw), len(raw)


def path_int(request: Request, name: str, not_found_message: str) -> int:
    """An integer path id; anything else cannot name an existing object."""
    text = request.path_params[name]
    if not text.isdigit():
        raise errors.not_found(not_found_message)
    return int(text)


def query(request: Request) -> dict[str, str]:
    return dict(request.query_params)


def query_list_ids(request: Request) -> list[int]:
    """listIds as CSV (`listIds=1,2`, the swagger SDKs) or repeated keys (the Fern SDKs)."""
    ids = []
    for value in request.query_params.getlist("listIds"):
        for part in value.split(","):
            if part.strip():
                if not part.strip().isdigit():
                    raise errors.invalid("listIds should be an array of integers")
                ids.append(int(part))
    return ids


def no_content() -> Response:
    return Response(status_code=204)
