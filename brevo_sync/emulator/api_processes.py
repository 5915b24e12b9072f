"""Brevo's POST /v3/contacts/import and the /v3/processes it is followed through."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from brevo_sync.emulator import errors, validation
from brevo_sync.emulator.endpoint import config_of, json_body, query, store_of
from brevo_sync.emulator.imports import submit_import


async def import_contacts(request: Request) -> Response:
    store = store_of(request)
    body, size = await json_body(request)
    process = submit_import(store, body, config_of(request), body_bytes=size)
    return JSONResponse({"processId": process.id}, status_code=202)


async def get_process(request: Request) -> Response:
    text = request.path_params["processId"]
    processes = store_of(request).processes
    process = processes.get(int(text)) if text.isdigit() else None
    if process is None:
        raise errors.EmulatedError(404, "invalid_parameter", errors.PROCESS_INVALID)
    return JSONResponse(process.as_json(processes.now()))


async def get_processes(request: Request) -> Response:
    params = query(request)
    processes = store_of(request).processes
    page, total = processes.page(
        offset=validation.query_int(params, "offset", 0),
        limit=validation.query_int(params, "limit", 10, maximum=50),
        sort=validation.query_sort(params),
    )
    now = processes.now()
    return JSONResponse({"processes": [item.as_json(now) for item in page], "count": total})
