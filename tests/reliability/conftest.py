"""Fixtures that start real processes and stop every one of them after the test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.harness import Emulator, Listener

StartEmulator = Callable[..., Emulator]
StartListener = Callable[..., Listener]


@pytest.fixture
def processes() -> Iterator[list[Emulator | Listener]]:
    started: list[Emulator | Listener] = []
    yield started
    for thing in reversed(started):
        thing.close()


@pytest.fixture
def start_emulator(processes: list[Emulator | Listener]) -> StartEmulator:
    def start(*flags: str) -> Emulator:
        emulator = Emulator(*flags)
        processes.append(emulator)
        return emulator

    return start


@pytest.fixture
def start_listener(processes: list[Emulator | Listener], tmp_path: Path) -> StartListener:
    """`start_listener(database_url, emulator, env={...})`; its logs go to tmp_path."""

    def start(database_url: str, emulator: Emulator, **options: Any) -> Listener:
        listener = Listener(database_url, emulator.base_url, tmp_path, **options)
        processes.append(listener)
        return listener

    return start
