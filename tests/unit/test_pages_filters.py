"""How the admin pages word times."""

from __future__ import annotations

from api.pages import ago


def test_ages_read_as_a_person_says_them() -> None:
    assert [ago(s) for s in (None, 0, 59, 60, 185, 3599, 3600, 86399, 86400, 3 * 86400)] == [
        "never", "just now", "just now", "1 min ago", "3 min ago", "59 min ago", "1 h ago",
        "23 h ago", "1 day ago", "3 days ago"]
