"""The README's code map names every module once, and only modules that exist: a module added,
moved or removed without its line fails here."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("brevo_sync", "listener", "api")
# Shown as one line: its modules are the emulator's own business.
ONE_LINE = ("brevo_sync/emulator/",)
ENTRY = re.compile(r"^- `([^`]+)` — \S")


def code_map() -> list[str]:
    """The paths the README's "Code map" section lists, in order."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Code map\n", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("- `")]
    unreadable = [line for line in lines if not ENTRY.match(line)]
    assert not unreadable, f"code map lines not as '- `path` — what it does': {unreadable}"
    return [m.group(1) for line in lines if (m := ENTRY.match(line))]


def modules() -> set[str]:
    """Every module of the three packages, the emulator's as its one folder."""
    found: set[str] = set()
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            name = path.relative_to(ROOT).as_posix()
            if path.name == "__init__.py" or "__pycache__" in name:
                continue
            folder = next((f for f in ONE_LINE if name.startswith(f)), None)
            found.add(folder or name)
    return found


def test_the_code_map_lists_every_module_once() -> None:
    listed = code_map()
    repeated = sorted({p for p in listed if listed.count(p) > 1})
    assert repeated == [], f"listed more than once: {repeated}"
    missing = sorted(modules() - set(listed))
    assert missing == [], f"modules the README's code map does not list: {missing}"


def test_every_module_the_code_map_lists_exists() -> None:
    gone = sorted(set(code_map()) - modules())
    assert gone == [], f"the README's code map lists what is not there: {gone}"
    assert all((ROOT / p).exists() for p in code_map())
