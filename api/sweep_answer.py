"""A sweep's result as an HTTP answer, the same for the cron route and the admin's Sync All.

A sweep already running, or one the removal guard stopped, is a conflict (409: for the cron,
an alarm its log shows as a failed run); one that failed midway (Brevo or the database gone)
is a bad gateway (502); Brevo refusing the account (pushing paused) is a 503. A finished
sweep, partial or not, is a 200: its rows' failures are in the body.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.responses import JSONResponse

from brevo_sync.reconcile import SweepResult

_STATUS = {"done": 200, "partial": 200, "running": 409, "refused": 409, "failed": 502,
           "paused": 503}


def status_code(result: SweepResult) -> int:
    return _STATUS.get(result.status, 200)


def sweep_response(result: SweepResult, headers: Mapping[str, str] | None = None
                   ) -> JSONResponse:
    return JSONResponse(result.as_json(), status_code=status_code(result), headers=headers)
