"""The pure parts of drift: the safeguard against mass removals, and against copying a mass
blocklisting from Brevo."""

from __future__ import annotations

import pytest

from brevo_sync.drift import GUARD_FLOOR, guard_refusal, unsubscribe_refusal


@pytest.mark.parametrize(("removals", "synced", "share", "refused"), [
    (0, 0, 0.10, False),
    (10, 100, 0.10, False),            # exactly the share is allowed
    (11, 100, 0.10, True),
    (GUARD_FLOOR - 1, 5, 0.10, False),  # a handful never trips it
    (GUARD_FLOOR, 5, 0.10, True),
    (60, 100, 0.50, True),
    (50, 100, 0.50, False),
    (GUARD_FLOOR, 10, 0.0, True),      # share 0: any mass removal refused
    (100, 100, 1.0, False),            # share 1: the guard is off
])
def test_the_safeguard_refuses_more_removals_than_the_share(
        removals: int, synced: int, share: float, refused: bool) -> None:
    reason = guard_refusal(removals, synced, share)
    assert (reason is not None) == refused
    if reason is not None:
        assert f"{removals} of {synced}" in reason and "BREVO_REMOVAL_GUARD_SHARE" in reason


def test_a_mass_blocklisting_in_brevo_is_refused_like_a_mass_removal() -> None:
    assert unsubscribe_refusal(3, 10, 0.10) is None          # under the floor
    assert unsubscribe_refusal(10, 100, 0.10) is None
    reason = unsubscribe_refusal(11, 100, 0.10)
    assert reason is not None and "11 of 100" in reason and "blocklisted" in reason
