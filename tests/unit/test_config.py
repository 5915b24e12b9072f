"""Settings: read once, fail at start naming the variable, secrets never shown."""

from __future__ import annotations

import pytest

from brevo_sync.attributes import AttributeNames
from brevo_sync.config import ConfigError, Settings, looks_like_neon_pooler, redact_dsn


def test_defaults_with_nothing_set() -> None:
    settings = Settings.from_env({})
    assert settings.brevo_base_url == "https://api.brevo.com/v3"
    assert settings.admin_user == "admin" and settings.brevo_list_id is None
    assert settings.opt_out_action == "blocklist" and settings.delete_action == "unlist"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DATABASE_URL", "mysql://x"),
        ("BREVO_LIST_ID", "two"),
        ("BREVO_LIST_ID", "0"),
        ("BREVO_BASE_URL", "ftp://brevo"),
        ("BREVO_OPT_OUT_ACTION", "shred"),
        ("BREVO_REMOVAL_GUARD_SHARE", "2"),
        ("PHONE_DEFAULT_REGION", "France"),
        ("CRON_SECRET", " padded "),
    ],
)
def test_malformed_values_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value})


def test_secrets_never_print() -> None:
    settings = Settings.from_env(
        {
            "BREVO_API_KEY": "xkeysib-secret",
            "CRON_SECRET": "c" * 20,
            "ADMIN_PASSWORD": "hunter2hunter2",
        }
    )
    text = repr(settings) + str(settings)
    for secret in ("xkeysib-secret", "c" * 20, "hunter2hunter2"):
        assert secret not in text
    assert settings.require_brevo_key().reveal() == "xkeysib-secret"


def test_listener_prefers_the_unpooled_url() -> None:
    settings = Settings.from_env(
        {
            "DATABASE_URL": "postgresql://a@pooled/db",
            "DATABASE_URL_UNPOOLED": "postgresql://a@direct/db",
        }
    )
    assert settings.listener_dsn == "postgresql://a@direct/db"


def test_the_direct_url_alone_is_enough() -> None:
    settings = Settings.from_env({"DATABASE_URL_UNPOOLED": "postgresql://a@direct/db"})
    assert settings.require_database() == settings.listener_dsn == "postgresql://a@direct/db"


def test_neon_pooler_hosts_are_recognised() -> None:
    assert looks_like_neon_pooler("postgresql://u@ep-cool-1-pooler.eu-central-1.aws.neon.tech/db")
    assert not looks_like_neon_pooler("postgresql://u@ep-cool-1.eu-central-1.aws.neon.tech/db")


def test_missing_required_settings_name_the_variable() -> None:
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        Settings.from_env({}).require_database()
    with pytest.raises(ConfigError, match="BREVO_API_KEY"):
        Settings.from_env({}).require_brevo_key()


def test_attribute_names_default_to_brevos_and_can_be_the_accounts_own() -> None:
    assert Settings.from_env({}).attribute_names == AttributeNames(
        "FIRSTNAME", "LASTNAME", "SMS", "USED_WELCOME_OFFER")
    names = Settings.from_env({"BREVO_ATTR_FIRSTNAME": "prenom", "BREVO_ATTR_LASTNAME": "NOM",
                               "BREVO_ATTR_USED_WELCOME_OFFER": "OFFRE_1"}).attribute_names
    assert (names.firstname, names.lastname, names.sms, names.used_welcome_offer) == (
        "PRENOM", "NOM", "SMS", "OFFRE_1")


@pytest.mark.parametrize(("env", "variable"), [
    ({"BREVO_ATTR_FIRSTNAME": "first name"}, "BREVO_ATTR_FIRSTNAME"),
    ({"BREVO_ATTR_SMS": "EMAIL"}, "BREVO_ATTR_SMS"),
    ({"BREVO_ATTR_LASTNAME": "FIRSTNAME"}, "BREVO_ATTR_LASTNAME"),
])
def test_malformed_attribute_names_name_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        Settings.from_env(env)


def test_listener_stall_seconds() -> None:
    assert Settings.from_env({}).listener_stall_seconds == 300.0
    assert Settings.from_env({"LISTENER_STALL_SECONDS": "90"}).listener_stall_seconds == 90.0
    with pytest.raises(ConfigError, match="LISTENER_STALL_SECONDS"):
        Settings.from_env({"LISTENER_STALL_SECONDS": "0"})


def test_database_passwords_never_print() -> None:
    settings = Settings.from_env({
        "DATABASE_URL": "postgresql://app:pooled-pw@pooled/db",
        "DATABASE_URL_UNPOOLED": "postgresql://app:direct-pw@direct/db?sslmode=require",
    })
    text = repr(settings) + str(settings) + f"{settings}"
    assert "pooled-pw" not in text and "direct-pw" not in text
    assert "postgresql://app:**********@direct/db?sslmode=require" in text


@pytest.mark.parametrize(("text", "redacted"), [
    ("postgresql://u:p%40ss@h:5/db", "postgresql://u:**********@h:5/db"),
    ("failed: postgres://u:pw@h/db and more", "failed: postgres://u:**********@h/db and more"),
    ("postgresql://u@h/db?password=pw&sslmode=require",
     "postgresql://u@h/db?password=**********&sslmode=require"),
    ("host=h password='a b' dbname=d", "host=h password=********** dbname=d"),
    ("postgresql://u@h/db", "postgresql://u@h/db"),
    ("GET http://127.0.0.1:8025/v3/contacts/amy@example.com",
     "GET http://127.0.0.1:8025/v3/contacts/amy@example.com"),
])
def test_dsn_passwords_are_redacted(text: str, redacted: str) -> None:
    assert redact_dsn(text) == redacted


def test_every_wrong_setting_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"DATABASE_URL": "mysql://u:pw@h/db", "BREVO_LIST_ID": "abc",
                           "PHONE_DEFAULT_REGION": "France", "BREVO_API_KEY": "xkeysib-ok"})
    assert [p.split(" ")[0] for p in caught.value.problems] == [
        "DATABASE_URL", "BREVO_LIST_ID", "PHONE_DEFAULT_REGION"]
    assert "pw" not in str(caught.value)
