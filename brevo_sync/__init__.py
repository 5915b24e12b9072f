"""brevo-sync: keep a Postgres customers table in one-way sync with Brevo contacts."""

__version__ = "0.1.0"
