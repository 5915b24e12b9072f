"""--reset deletes dev's embedded data folder only when no live process holds it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from brevo_sync.devdb import EmbeddedInUse, url_for, wipe


def data_dir(tmp_path: Path, holders: list[int]) -> Path:
    folder = tmp_path / "dev-postgres"
    folder.mkdir()
    (folder / "PG_VERSION").write_text("18\n")
    (folder / ".handle_pids.json").write_text(json.dumps(holders))
    return folder


def finished_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # reaped: its pid names no process now
    return child.pid


def test_reset_refuses_while_a_live_process_holds_the_database(tmp_path: Path) -> None:
    folder = data_dir(tmp_path, [os.getpid()])
    with pytest.raises(EmbeddedInUse, match=f"in use by process {os.getpid()}"):
        wipe(folder)
    assert (folder / "PG_VERSION").exists()


def test_reset_deletes_what_a_killed_run_left(tmp_path: Path) -> None:
    folder = data_dir(tmp_path, [finished_pid()])
    wipe(folder)
    assert not folder.exists()


def test_the_url_is_tcp_on_the_loopback_address() -> None:
    assert url_for(54321) == "postgresql://postgres@127.0.0.1:54321/postgres"
