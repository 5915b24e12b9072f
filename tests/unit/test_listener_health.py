"""/healthz and /metrics answers, decided without a server or a database."""

from __future__ import annotations

import asyncio
import json

import pytest
from structlog.testing import capture_logs

from brevo_sync.brevo.errors import BrevoAccountError, classify_response
from listener.connection import warn_if_pooled
from listener.health import STALE_SECONDS, STALL_SECONDS, Health, route, start_server
from listener.metrics import ListenerMetrics
from tests.support.clock import FakeClock


def test_healthy_only_when_connected_and_ticking() -> None:
    clock = FakeClock(100.0)
    health = Health(clock=clock)
    assert health.check()[0] is False  # never ticked
    health.tick()
    assert health.check()[0] is False  # ticking but not connected
    health.connected = True
    assert health.check() == (True, {"status": "ok", "connected": True,
                                     "last_tick_seconds_ago": 0.0, "ready": 0,
                                     "stalled": False, "progress_seconds_ago": 0.0})
    clock.now += STALE_SECONDS + 1
    healthy, body = health.check()
    assert not healthy and body["status"] == "unhealthy"


def test_unhealthy_when_rows_wait_and_nothing_moves_for_the_stall_time() -> None:
    clock = FakeClock(100.0)
    health = Health(clock=clock, stall_seconds=30, connected=True)
    health.queue_sampled(500)
    clock.now += 30
    health.tick()
    assert health.check()[0] is True
    clock.now += 1
    health.tick()
    healthy, body = health.check()
    assert not healthy and body["stalled"] is True and body["ready"] == 500
    health.progressed()
    assert health.check()[0] is True


def test_rows_waiting_out_a_pause_are_not_a_stall() -> None:
    """Brevo refusing the account keeps rows pending on purpose; a restart would not help."""
    clock = FakeClock(100.0)
    health = Health(clock=clock, stall_seconds=30, connected=True)
    health.queue_sampled(500)
    health.paused = "Brevo HTTP 401 unauthorized: Key not found"
    clock.now += 600
    health.tick()
    healthy, body = health.check()
    assert healthy and body["stalled"] is False
    assert health.ready()[0] is False


def test_an_empty_queue_or_fewer_rows_ready_is_progress() -> None:
    clock = FakeClock(100.0)
    health = Health(clock=clock, stall_seconds=30, connected=True)
    health.queue_sampled(0)
    clock.now += 100
    health.tick()
    assert health.check()[0] is True, "an idle listener with nothing to do is not stalled"
    health.queue_sampled(500)
    clock.now += 20
    health.queue_sampled(480)  # claimed: a bulk import may take minutes before an outcome
    clock.now += 20
    health.queue_sampled(490)  # more arrived, none claimed
    health.tick()
    assert health.check()[0] is True
    clock.now += 11
    health.tick()
    assert health.check()[0] is False


def test_the_stall_time_defaults_to_five_minutes() -> None:
    assert Health().stall_seconds == STALL_SECONDS == 300.0


def test_routes() -> None:
    health, metrics = Health(connected=True), ListenerMetrics()
    health.tick()
    assert route("GET", "/healthz", health, metrics)[0] == 200
    health.connected = False
    status, content_type, body = route("GET", "/healthz", health, metrics)
    assert status == 503 and json.loads(body)["connected"] is False
    status, content_type, body = route("GET", "/metrics", health, metrics)
    assert status == 200 and content_type.startswith("text/plain")
    assert b"brevo_sync_listener_reconnects_total 0.0" in body
    assert route("DELETE", "/metrics", health, metrics)[0] == 405
    status, _, body = route("GET", "/admin", health, metrics)
    assert status == 404 and "error" in json.loads(body)


@pytest.mark.anyio
async def test_bad_requests_get_a_4xx_not_a_crash() -> None:
    server = await start_server(0, Health(), ListenerMetrics(), host="127.0.0.1")
    port = server.sockets[0].getsockname()[1]
    try:
        for request, status in ((b"garbage\r\n\r\n", b"400"),
                                (b"GET /healthz HTTP/1.1\r\n\r\n", b"503"),
                                (b"HEAD /metrics HTTP/1.1\r\n\r\n", b"200"),
                                (b"GET /healthz", b"400")):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(request)
            if not request.endswith(b"\r\n\r\n"):
                writer.write_eof()
            answer = await reader.read()
            writer.close()
            assert answer.split(b" ", 2)[1] == status, (request, answer)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"HEAD /metrics HTTP/1.1\r\n\r\n")
        assert (await reader.read()).endswith(b"\r\n\r\n"), "HEAD must carry no body"
        writer.close()
    finally:
        server.close()
        await server.wait_closed()


def test_a_pooled_neon_host_is_warned_about() -> None:
    with capture_logs() as logs:
        assert warn_if_pooled("postgresql://u:pw@ep-cool-1-pooler.eu.aws.neon.tech/db")
        assert not warn_if_pooled("postgresql://u:pw@ep-cool-1.eu.aws.neon.tech/db")
    assert [e["event"] for e in logs] == ["listener_pooled_dsn"]
    assert "pw" not in json.dumps(logs)


def test_a_pause_is_alive_but_not_ready_and_shows_in_metrics() -> None:
    """Brevo refusing the account: /healthz stays 200 (a restart would not help), /readyz is
    503 with Brevo's reason, and the gauge holds the refusal's status until it ends."""
    health, metrics = Health(connected=True), ListenerMetrics()
    health.tick()
    assert route("GET", "/readyz", health, metrics)[0] == 200
    refusal = classify_response(401, {"code": "unauthorized", "message": "Key not found"})
    assert isinstance(refusal, BrevoAccountError)
    health.paused = str(refusal)
    metrics.observe_pause(refusal)
    status, _, body = route("GET", "/healthz", health, metrics)
    assert status == 200 and json.loads(body)["paused"] == str(refusal)
    status, _, body = route("GET", "/readyz", health, metrics)
    answer = json.loads(body)
    assert status == 503 and answer["status"] == "paused" and "Key not found" in answer["error"]
    assert b"brevo_sync_brevo_account_paused 401.0" in metrics.render()
    health.paused = None
    metrics.observe_pause(None)
    assert route("GET", "/readyz", health, metrics)[0] == 200
    assert b"brevo_sync_brevo_account_paused 0.0" in metrics.render()
