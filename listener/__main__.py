"""`python -m listener`: the same service as `brevo-sync listen`."""

from __future__ import annotations

import sys

from brevo_sync.cli import main

if __name__ == "__main__":
    sys.exit(main(["listen", *sys.argv[1:]]))
