"""The sweep's answer: its JSON shape, its exit code (brevo_sync/sweep_cli.py) and its HTTP status
(api/sweep_answer.py). The terminal's progress line: tests/unit/test_sweep_cli.py."""

from __future__ import annotations

import pytest

from api.sweep_answer import status_code
from brevo_sync.reconcile import SweepResult
from brevo_sync.sweep_cli import exit_code


def result(status: str, failed: int = 0, **kw: object) -> SweepResult:
    return SweepResult(status, "message", run_id=7, failed=failed, **kw)  # type: ignore[arg-type]


def test_the_answer_has_the_sync_all_shape_plus_remaining() -> None:
    body = result("done", synced=3, total=4, remaining=1).as_json()
    assert {"success", "message", "synced", "failed", "total", "remaining", "results",
            "run_id"} <= body.keys()
    assert body["success"] is True and "error" not in body and "refused" not in body


@pytest.mark.parametrize(("status", "failed", "success", "code", "http"), [
    ("done", 0, True, 0, 200),
    ("partial", 0, True, 0, 200),
    ("done", 2, False, 1, 200),
    ("failed", 0, False, 1, 502),
    ("refused", 0, False, 3, 409),
    ("running", 0, False, 4, 409),
])
def test_each_outcome_has_its_exit_code_and_http_status(
        status: str, failed: int, success: bool, code: int, http: int) -> None:
    sweep = result(status, failed, refused="why" if status == "refused" else None)
    assert sweep.success is success
    assert exit_code(sweep) == code and status_code(sweep) == http
    assert ("error" in sweep.as_json()) == (status in ("failed", "running"))

