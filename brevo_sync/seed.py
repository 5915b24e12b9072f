"""Demo customers for `brevo-sync dev`: realistic names (accents included), most opted in,
some with phone numbers, and one whose phone Brevo refuses, so the page shows an error."""

from __future__ import annotations

import random
import unicodedata
from collections.abc import Iterator
from dataclasses import astuple, dataclass
from typing import Any

import psycopg

from brevo_sync.db import q

FIRST_NAMES = (
    "Amélie",
    "José",
    "Zoë",
    "Łukasz",
    "Søren",
    "Chloé",
    "Jürgen",
    "Ana",
    "Mohammed",
    "Wei",
    "Olivia",
    "Noah",
    "Émile",
    "Inès",
    "Yuki",
    "Björn",
    "Fatima",
    "Liam",
    "Maël",
    "Nora",
    "Ciarán",
    "Dóra",
    "Élodie",
    "Mateus",
)
LAST_NAMES = (
    "Dupont",
    "García",
    "Müller",
    "Nowak",
    "O'Brien",
    "Rossi",
    "Søndergaard",
    "Öztürk",
    "Nguyen",
    "Smith",
    "Lefèvre",
    "Kowalski",
    "Silva",
    "Haddad",
    "Tanaka",
    "Ivanova",
    "Martin",
    "Dubois",
    "Łęcki",
    "Núñez",
)
DOMAINS = ("example.com", "example.org", "example.net")
# Parses as a phone number but is valid nowhere: Brevo would answer "Invalid phone number",
# so the sync leaves it out and pushes the customer without it (and says so in history).
INVALID_PHONE = "+1 555 0100"
# Passes the sync's own simple check, but Brevo answers "Invalid email address" (no "_" in a
# domain): a row Brevo refuses.
REFUSED_EMAIL_DOMAIN = "exa_mple.com"
REFUSED_EMAIL = f"bad.email@{REFUSED_EMAIL_DOMAIN}"
OPT_IN_SHARE = 0.8
PHONE_SHARE = 0.5
OFFER_SHARE = 0.3
# Letters NFKD does not split into a base letter and an accent.
_UNDECOMPOSABLE = str.maketrans(
    {"Ł": "L", "ł": "l", "Ø": "O", "ø": "o", "Æ": "Ae", "æ": "ae", "ß": "ss", "Đ": "D", "đ": "d"}
)


@dataclass(frozen=True)
class DemoCustomer:
    email: str
    first_name: str
    last_name: str
    phone: str | None
    marketing_opt_in: bool
    used_welcome_offer: bool


def demo_customers(count: int, seed: int = 1) -> Iterator[DemoCustomer]:
    """`count` customers; the first has the invalid phone, the second an email Brevo refuses,
    both opted in so they are pushed."""
    rng = random.Random(seed)
    for n in range(count):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        domain = rng.choice(DOMAINS) if n != 1 else REFUSED_EMAIL_DOMAIN
        email = f"{_ascii(first)}.{_ascii(last)}{n + 1}@{domain}".lower()
        if n == 0:
            phone: str | None = INVALID_PHONE
        elif rng.random() < PHONE_SHARE:
            phone = f"+33 6 {rng.randrange(10**8):08d}"
        else:
            phone = None
        yield DemoCustomer(
            email,
            first,
            last,
            phone,
            n < 2 or rng.random() < OPT_IN_SHARE,
            rng.random() < OFFER_SHARE,
        )


def seed_customers(conn: psycopg.Connection[Any], count: int, seed: int = 1) -> int:
    """Insert the demo customers (the trigger queues them for the sync); returns how many."""
    if count <= 0:
        return 0
    with conn.cursor() as cur:
        cur.executemany(q("seed_customer"), [astuple(c) for c in demo_customers(count, seed)])
    return count


def customer_count(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute(q("seed_count")).fetchone()
    assert row is not None
    return int(row[0] if isinstance(row, tuple) else row["n"])


def _ascii(name: str) -> str:
    """Łukasz -> lukasz, O'Brien -> obrien: what people type in an email address."""
    folded = unicodedata.normalize("NFKD", name.translate(_UNDECOMPOSABLE))
    return "".join(ch for ch in folded if ch.isascii() and ch.isalnum())
