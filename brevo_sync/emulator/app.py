"""The emulator as a Starlette app: Brevo's contacts API under /v3, control endpoints beside it."""

from __future__ import annotations

from collections import Counter

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from brevo_sync.emulator import (
    api_attributes,
    api_contacts,
    api_lists,
    api_processes,
    control,
    webhooks,
)
from brevo_sync.emulator.clock import Clock
from brevo_sync.emulator.config import EmulatorConfig
from brevo_sync.emulator.errors import EmulatedError
from brevo_sync.emulator.faults import EmulatedRateLimits, FaultInjector
from brevo_sync.emulator.gateway import BrevoGateway, Calls
from brevo_sync.emulator.store import ContactStore

# Literal paths come before `{identifier}` so that `lists`, `import`… are never taken for one.
BREVO_ROUTES: list[BaseRoute] = [
    Route("/v3/contacts", api_contacts.list_contacts, methods=["GET"]),
    Route("/v3/contacts", api_contacts.create_contact, methods=["POST"]),
    Route("/v3/contacts/import", api_processes.import_contacts, methods=["POST"]),
    Route("/v3/contacts/attributes", api_attributes.get_attributes, methods=["GET"]),
    Route(
        "/v3/contacts/attributes/{attributeCategory}/{attributeName}",
        api_attributes.create_attribute,
        methods=["POST"],
    ),
    Route(
        "/v3/contacts/attributes/{attributeCategory}/{attributeName}",
        api_attributes.delete_attribute,
        methods=["DELETE"],
    ),
    Route("/v3/contacts/lists", api_lists.get_lists, methods=["GET"]),
    Route("/v3/contacts/lists", api_lists.create_list, methods=["POST"]),
    Route("/v3/contacts/lists/{listId}", api_lists.get_list, methods=["GET"]),
    Route("/v3/contacts/lists/{listId}", api_lists.update_list, methods=["PUT"]),
    Route("/v3/contacts/lists/{listId}", api_lists.delete_list, methods=["DELETE"]),
    Route("/v3/contacts/lists/{listId}/contacts", api_lists.get_list_contacts, methods=["GET"]),
    Route("/v3/contacts/lists/{listId}/contacts/add", api_lists.add_to_list, methods=["POST"]),
    Route(
        "/v3/contacts/lists/{listId}/contacts/remove",
        api_lists.remove_from_list,
        methods=["POST"],
    ),
    Route("/v3/contacts/{identifier}", api_contacts.get_contact, methods=["GET"]),
    Route("/v3/contacts/{identifier}", api_contacts.update_contact, methods=["PUT"]),
    Route("/v3/contacts/{identifier}", api_contacts.delete_contact, methods=["DELETE"]),
    Route("/v3/webhooks", webhooks.get_webhooks, methods=["GET"]),
    Route("/v3/webhooks", webhooks.create_webhook, methods=["POST"]),
    Route("/v3/webhooks/{webhookId}", webhooks.get_webhook, methods=["GET"]),
    Route("/v3/webhooks/{webhookId}", webhooks.update_webhook, methods=["PUT"]),
    Route("/v3/webhooks/{webhookId}", webhooks.delete_webhook, methods=["DELETE"]),
    Route("/v3/processes", api_processes.get_processes, methods=["GET"]),
    Route("/v3/processes/{processId}", api_processes.get_process, methods=["GET"]),
]


async def _brevo_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, EmulatedError)  # noqa: S101 - registered for EmulatedError only
    return exc.response()


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)  # noqa: S101 - registered for HTTPException only
    if exc.status_code == 405:
        message = f"{request.method} Method is not allowed on this path"
        return JSONResponse({"code": "method_not_allowed", "message": message}, status_code=405)
    if exc.status_code == 404:
        return JSONResponse({"code": "document_not_found", "message": "Not Found"}, 404)
    return JSONResponse({"code": "bad_request", "message": exc.detail}, exc.status_code)


def create_app(config: EmulatorConfig | None = None, *, clock: Clock | None = None) -> Starlette:
    """A fresh fake Brevo account. `app.state` holds `config` (live), `store`, `calls`,
    `webhooks` (registered webhooks and their deliveries)."""
    config = config or EmulatorConfig()
    clock = clock or Clock()
    store = ContactStore(clock)
    store.attributes.reset(config.account_language)
    calls: Calls = Counter()
    limiter = EmulatedRateLimits(clock)
    faults = FaultInjector(clock, config)
    app: Starlette
    app = Starlette(
        routes=[*BREVO_ROUTES, *control.ROUTES],
        exception_handlers={EmulatedError: _brevo_error, HTTPException: _http_error},
        middleware=[
            Middleware(
                BrevoGateway,
                routes=BREVO_ROUTES,
                store=store,
                # Read at call time: PATCH /_emulator/config edits it, tests may replace it.
                config=lambda: app.state.config,
                calls=calls,
                limiter=limiter,
                faults=faults,
            )
        ],
    )
    app.state.config = config
    app.state.store = store
    app.state.calls = calls
    app.state.limiter = limiter
    app.state.faults = faults
    app.state.webhooks = webhooks.Webhooks(lambda: app.state.config)
    return app
