"""Where the database's TLS finds its CA roots."""

from __future__ import annotations

import certifi

from brevo_sync.tls import DEBIAN_BUNDLE, ca_bundle_override


def test_debian_roots_are_used_where_they_are() -> None:
    assert ca_bundle_override({}, exists=lambda path: path == DEBIAN_BUNDLE) == {}


def test_certifi_stands_in_where_debian_roots_are_missing() -> None:
    # Amazon Linux (Vercel's runtime) keeps its bundle elsewhere.
    assert ca_bundle_override({}, exists=lambda path: False) == {"SSL_CERT_FILE": certifi.where()}


def test_an_operators_choice_is_kept() -> None:
    assert ca_bundle_override({"SSL_CERT_FILE": "/etc/pki/x.pem"}, exists=lambda p: False) == {}
