"""The client-side rate limiter, driven by a fake clock (no real sleeping)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from brevo_sync.brevo.limiter import Group, RateLimiter, RateLimits, group_for
from tests.support.clock import FakeClock

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"



@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make_limiter(clock: FakeClock, **limits: Any) -> RateLimiter:
    return RateLimiter(RateLimits(**limits), clock=clock, sleep=clock.sleep)


async def send_times(limiter: RateLimiter, clock: FakeClock, group: Group, n: int) -> list[float]:
    """Acquire n slots from n concurrent tasks; return the times they were granted."""
    times: list[float] = []

    async def one() -> None:
        async with limiter.slot(group):
            times.append(clock.now)

    await asyncio.gather(*(one() for _ in range(n)))
    return sorted(times)


@pytest.mark.parametrize(
    ("path", "group"),
    [
        ("/contacts", "contacts"),
        ("/contacts/a%40b.com", "contacts"),
        ("/contacts/lists/3/contacts/add", "contacts"),
        ("contacts/import", "contacts"),
        ("/processes/12", "other"),
        ("/account", "other"),
    ],
)
def test_group_for_path(path: str, group: str) -> None:
    assert group_for(path) == group


async def test_idle_request_goes_at_once(clock: FakeClock) -> None:
    limiter = make_limiter(clock)
    await limiter.acquire("contacts")
    assert clock.sleeps == []
    assert limiter.stats.waits == 0


async def test_never_more_than_ten_in_any_second(clock: FakeClock) -> None:
    """A strict server-side sliding 1 s window would never see an 11th request."""
    limiter = make_limiter(clock)
    times = await send_times(limiter, clock, "contacts", 100)
    for first, eleventh in zip(times, times[10:], strict=False):
        assert eleventh - first > 1.0
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert min(gaps) >= 0.1 - 1e-9, "requests are spaced, not sent in bursts"


async def test_headroom_keeps_remaining_above_zero(clock: FakeClock) -> None:
    """With one request of headroom, our own traffic never exhausts Brevo's 1 s window."""
    limiter = make_limiter(clock)
    times = await send_times(limiter, clock, "contacts", 100)
    for first, tenth in zip(times, times[9:], strict=False):
        assert tenth - first >= 1.1 - 1e-9
    # ...and the margins cost little: about 8 per second, not 5.
    assert 11.0 < times[-1] - times[0] < 12.5


async def test_higher_plan_rate_is_configurable(clock: FakeClock) -> None:
    limiter = make_limiter(clock, contacts_per_second=20)
    times = await send_times(limiter, clock, "contacts", 60)
    for first, twentieth in zip(times, times[19:], strict=False):
        assert twentieth - first > 1.0
    assert times[-1] - times[0] < 4.0


async def test_hourly_cap_holds_the_next_request_for_the_hour(clock: FakeClock) -> None:
    limiter = make_limiter(clock, contacts_per_second=1_000, contacts_per_hour=50)
    times = await send_times(limiter, clock, "contacts", 51)
    assert times[49] - times[0] < 1.0
    assert times[50] - times[0] >= 3_600.0


async def test_other_group_has_its_own_hourly_budget(clock: FakeClock) -> None:
    """/processes polling neither uses nor waits for the contacts budget."""
    limiter = make_limiter(clock, other_per_hour=3)
    await send_times(limiter, clock, "contacts", 5)
    start = clock.now
    times = await send_times(limiter, clock, "other", 4)
    assert times[2] - start < 1.0
    assert times[3] - times[0] >= 3_600.0
    assert limiter.stats.waits_by_group["other"] == 1


async def test_remaining_zero_blocks_the_group_until_reset(clock: FakeClock) -> None:
    limiter = make_limiter(clock)
    limiter.observe(
        "contacts",
        {
            "x-sib-ratelimit-limit": "10",
            "x-sib-ratelimit-remaining": "0",
            "x-sib-ratelimit-reset": "30",
        },
    )
    assert limiter.blocked_for("contacts") == pytest.approx(30.0)
    assert limiter.blocked_for("other") == 0.0
    start = clock.now
    await limiter.acquire("contacts")
    assert clock.now - start == pytest.approx(30.0)
    assert limiter.stats.waits == 1
    assert limiter.stats.wait_seconds == pytest.approx(30.0)


@pytest.mark.parametrize(
    "headers",
    [
        {"x-sib-ratelimit-remaining": "3", "x-sib-ratelimit-reset": "30"},
        {"x-sib-ratelimit-remaining": "0"},
        {"x-sib-ratelimit-remaining": "0", "x-sib-ratelimit-reset": "soon"},
        {"x-sib-ratelimit-remaining": "0", "x-sib-ratelimit-reset": "-5"},
        {"x-sib-ratelimit-remaining": "0", "x-sib-ratelimit-reset": "inf"},
        {},
    ],
)
def test_headers_that_do_not_block(clock: FakeClock, headers: dict[str, str]) -> None:
    limiter = make_limiter(clock)
    limiter.observe("contacts", headers)
    assert limiter.blocked_for("contacts") == 0.0


async def test_penalize_after_429_holds_every_task(clock: FakeClock) -> None:
    limiter = make_limiter(clock)
    limiter.penalize("contacts", 5.0)
    times = await send_times(limiter, clock, "contacts", 3)
    assert all(t >= 1_005.0 for t in times)


def test_penalize_never_shortens_a_block(clock: FakeClock) -> None:
    limiter = make_limiter(clock)
    limiter.penalize("contacts", 10.0)
    limiter.penalize("contacts", 2.0)
    assert limiter.blocked_for("contacts") == pytest.approx(10.0)


async def test_stats_count_waits_and_seconds(clock: FakeClock) -> None:
    limiter = make_limiter(clock)
    await send_times(limiter, clock, "contacts", 3)
    assert limiter.stats.waits == 2
    assert limiter.stats.wait_seconds == pytest.approx(2 * 1.1 / 9)
    assert limiter.stats.waits_by_group == {"contacts": 2}


async def test_a_wait_past_the_deadline_is_refused_without_sleeping(clock: FakeClock) -> None:
    from brevo_sync.brevo.errors import BrevoDeadlineError
    from brevo_sync.brevo.limiter import deadline

    limiter = make_limiter(clock, other_per_hour=2)
    await limiter.acquire("other")
    await limiter.acquire("other")
    with deadline(clock.now + 240), pytest.raises(BrevoDeadlineError, match="past the caller"):
        await limiter.acquire("other")
    assert clock.sleeps == []
    # Without a deadline the same call waits for the hour's window, as before.
    await limiter.acquire("other")
    assert clock.sleeps and clock.sleeps[0] > 3000


async def test_a_short_wait_within_the_deadline_is_slept(clock: FakeClock) -> None:
    from brevo_sync.brevo.limiter import deadline

    limiter = make_limiter(clock, contacts_per_second=2, headroom=0)
    with deadline(clock.now + 5):
        times = await send_times(limiter, clock, "contacts", 3)
    assert times[-1] - times[0] < 5


async def test_an_inner_deadline_never_extends_an_outer_one(clock: FakeClock) -> None:
    from brevo_sync.brevo.limiter import current_deadline, deadline

    with deadline(100.0):
        with deadline(500.0):
            assert current_deadline() == 100.0
        with deadline(None):
            assert current_deadline() == 100.0
        with deadline(50.0):
            assert current_deadline() == 50.0
    assert current_deadline() is None


async def test_waiting_behind_another_task_is_bounded_by_the_deadline() -> None:
    """A task sleeping on the group (here: for an hour) must not hold a deadline caller."""
    from brevo_sync.brevo.errors import BrevoDeadlineError
    from brevo_sync.brevo.limiter import deadline

    limiter = RateLimiter(RateLimits(other_per_hour=1))
    await limiter.acquire("other")
    sleeper = asyncio.create_task(limiter.acquire("other"))
    await asyncio.sleep(0)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with deadline(asyncio.get_running_loop().time() + 0.2), \
            pytest.raises(BrevoDeadlineError):
        await limiter.acquire("other")
    assert loop.time() - started < 1.0
    sleeper.cancel()
    with pytest.raises(asyncio.CancelledError):
        await sleeper
