"""`brevo-sync reconcile` on a terminal: the progress line and its redrawing."""

from __future__ import annotations

import io

from brevo_sync.sweep_cli import TerminalProgress, progress_line


def test_the_progress_line_shows_a_bar_of_the_pushes() -> None:
    line = progress_line({"listed": 1200, "drift_found": 10, "synced": 4, "failed": 1,
                          "remaining": 5}, width=10)
    assert line == "listed 1,200 | drift 10 | [#####-----] 5/10 pushed | 1 failed"


def test_the_terminal_line_is_redrawn_in_place() -> None:
    out = io.StringIO()
    bar = TerminalProgress(out, interval=0)
    bar({"listed": 1000})
    bar({"listed": 5})  # shorter: padded over the old text
    bar.close()
    assert out.getvalue() == "\rlisted 1,000\rlisted 5    \n"
