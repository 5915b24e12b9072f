"""Brevo's /v3/contacts/attributes endpoints."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from brevo_sync.emulator.endpoint import json_body, no_content, store_of


async def get_attributes(request: Request) -> Response:
    attributes = store_of(request).attributes.all()
    return JSONResponse({"attributes": [item.as_json() for item in attributes]})


async def create_attribute(request: Request) -> Response:
    body, _ = await json_body(request)
    store_of(request).attributes.create(
        request.path_params["attributeCategory"], request.path_params["attributeName"], body
    )
    return Response(status_code=201)


async def delete_attribute(request: Request) -> Response:
    store_of(request).attributes.delete(
        request.path_params["attributeCategory"], request.path_params["attributeName"]
    )
    return no_content()
