"""The listener's outage report: at error level once a minute while the outage lasts."""

from __future__ import annotations

from structlog.testing import capture_logs

from listener.outage import Outage
from tests.support.clock import FakeClock


def test_an_outage_is_reported_at_error_level_once_a_minute_while_it_lasts() -> None:
    clock = FakeClock()
    outage = Outage("listener_waiting_for_database", "DATABASE_URL", clock=clock)
    reported = []
    with capture_logs() as logs:
        for _ in range(30):  # a failed attempt every 10 s for five minutes
            reported.append(outage.failed(error="refused"))
            clock.now += 10
    assert reported.count(True) == 4  # at 60, 120, 180, 240 s (the last attempt is at 290 s)
    assert [entry["log_level"] for entry in logs] == ["error"] * 4
    assert logs[0]["waiting_for"] == "DATABASE_URL" and logs[0]["down_seconds"] == 60
    assert logs[-1]["down_seconds"] == 240 and logs[-1]["error"] == "refused"


def test_a_new_outage_starts_its_own_minute() -> None:
    clock = FakeClock()
    outage = Outage("listener_waiting_for_brevo", "BREVO_BASE_URL", clock=clock)
    with capture_logs() as logs:
        outage.failed()
        clock.now += 50
        outage.ended()
        outage.failed()
        clock.now += 50
        assert not outage.failed()
        clock.now += 10
        assert outage.failed()
    assert len(logs) == 1 and logs[0]["down_seconds"] == 60
