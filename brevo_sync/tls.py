"""CA roots for the database's TLS on every host.

psycopg's binary wheel carries its own OpenSSL, which looks for the system's CA roots only at
Debian's path. Vercel's runtime (Amazon Linux) keeps them elsewhere, so `sslrootcert=system`
would find none there. Where Debian's bundle is missing, OpenSSL is pointed at certifi's.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, MutableMapping

import certifi

DEBIAN_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


def ca_bundle_override(environ: Mapping[str, str],
                       exists: Callable[[str], bool] = os.path.exists) -> dict[str, str]:
    """The environment OpenSSL needs here: nothing when roots are found, or an operator chose
    them (SSL_CERT_FILE)."""
    if "SSL_CERT_FILE" in environ or exists(DEBIAN_BUNDLE):
        return {}
    return {"SSL_CERT_FILE": certifi.where()}


def ensure_ca_roots(environ: MutableMapping[str, str] = os.environ) -> None:
    environ.update(ca_bundle_override(environ))
