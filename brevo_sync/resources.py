"""Files the project ships beside its code: the migrations and the admin page's static files.

Both live in top-level folders of the project's layout (`migrations/`, `public/`), which an
install carries inside the packages (`brevo_sync.migrations`, `api.public`, see pyproject.toml).
A checkout, or an editable install of it, has no such packages: there the folders are read
where they are. Vercel's function holds both: the project's sources at its root, which are
imported first, and the installed package in `_vendor/`, which alone has the files.
"""

from __future__ import annotations

from importlib import metadata
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

_CHECKOUT = Path(__file__).resolve().parent.parent


def migrations_dir() -> Traversable:
    return _shipped("brevo_sync.migrations", "migrations")


def public_dir() -> Traversable:
    """What Vercel's CDN serves from `public/`; `serve` and the image serve the same files."""
    return _shipped("api.public", "public")


def _shipped(package: str, folder: str) -> Traversable:
    try:
        return files(package)
    except ModuleNotFoundError:
        pass
    checkout = _CHECKOUT / folder
    if checkout.is_dir():
        return checkout
    try:
        installed = Path(str(metadata.distribution("brevo-sync").locate_file(
            package.replace(".", "/"))))
    except metadata.PackageNotFoundError:
        return checkout
    return installed if installed.is_dir() else checkout
