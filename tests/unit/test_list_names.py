"""Brevo's list names for the Brevo view: kept a while, never a reason for the page to fail."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from api import list_names
from api.list_names import ListNames
from brevo_sync.brevo import BrevoTransientError

pytestmark = pytest.mark.anyio


class FakeBrevo:
    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.calls = 0

    async def list_names(self) -> dict[int, str]:
        self.calls += 1
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        if answer == "slow":
            await asyncio.sleep(10)
        result: dict[int, str] = answer
        return result


async def test_names_are_listed_once_and_kept() -> None:
    brevo = FakeBrevo({2: "Customers"})
    names = ListNames(brevo)  # type: ignore[arg-type]
    assert await names.label([2, 9]) == [{"id": 2, "name": "Customers"}, {"id": 9, "name": None}]
    assert await names.label([2]) == [{"id": 2, "name": "Customers"}]
    assert brevo.calls == 1


async def test_brevo_failing_leaves_ids_and_is_asked_again_later(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    brevo = FakeBrevo(BrevoTransientError("down", status=503), {2: "Customers"})
    names = ListNames(brevo)  # type: ignore[arg-type]
    assert await names.label([2]) == [{"id": 2, "name": None}]
    assert await names.label([2]) == [{"id": 2, "name": None}]  # not asked again at once
    assert brevo.calls == 1
    monkeypatch.setattr(list_names, "RETRY_SECONDS", 0.0)
    names.clear()
    assert await names.label([2]) == [{"id": 2, "name": "Customers"}]


async def test_a_slow_brevo_does_not_hold_the_page(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(list_names, "FETCH_TIMEOUT_SECONDS", 0.05)
    names = ListNames(FakeBrevo("slow"))  # type: ignore[arg-type]
    assert await asyncio.wait_for(names.label([2]), 1) == [{"id": 2, "name": None}]
