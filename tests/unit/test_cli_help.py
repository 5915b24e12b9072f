"""`--help` explains every command: each option with its meaning and default, and the
environment variables the command reads, from the one table in config.py."""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from brevo_sync.cli import _parser, help_with_default
from brevo_sync.config import ENVIRONMENT, Settings, environment_for

ROOT = Path(__file__).resolve().parents[2]
# Where the code reads the environment itself: os.environ.get("X"), environ["X"], "X" in env.
ENV_READ = re.compile(r"""environ(?:\.get\(|\[)\s*["']([A-Z][A-Z0-9_]+)["']"""
                      r"""|["']([A-Z][A-Z0-9_]+)["']\s+in\s+environ""")


def commands(parser: argparse.ArgumentParser, prefix: str = "") -> Iterator[
        tuple[str, argparse.ArgumentParser]]:
    """Every command, a group's subcommands named with the group ("webhooks install")."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield f"{prefix}{name}", sub
                yield from commands(sub, f"{prefix}{name} ")


COMMANDS = dict(commands(_parser()))


def options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions
            if a.option_strings and not isinstance(a, argparse._HelpAction)]


def flat(text: str) -> str:
    return " ".join(text.split())


class Recording(Mapping[str, str]):
    """An empty environment that notes every name asked of it."""

    def __init__(self) -> None:
        self.asked: set[str] = set()

    def __getitem__(self, name: str) -> str:
        self.asked.add(name)
        raise KeyError(name)

    def __contains__(self, name: object) -> bool:
        self.asked.add(str(name))
        return False

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def test_the_commands_are_the_ones_documented() -> None:
    assert {"migrate", "listen", "serve", "reconcile", "check", "status", "dev",
            "fake-brevo"} <= set(COMMANDS)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_option_says_what_it_does_and_its_default(name: str) -> None:
    parser = COMMANDS[name]
    shown = flat(parser.format_help())
    for action in options(parser):
        text = help_with_default(action)
        assert action.help, f"{name} {action.option_strings[0]} has no help"
        if action.required:
            assert "(required)" in text, f"{name} {action.option_strings[0]} is not said required"
        else:
            assert "default" in text, f"{name} {action.option_strings[0]} shows no default"
        assert flat(text % {"default": action.default}) in shown


def test_the_top_level_option_shows_its_default_too() -> None:
    shown = flat(_parser().format_help())
    assert "--log-level" in shown and "(default: INFO)" in shown


def test_defaults_are_shown_as_values_or_off() -> None:
    dev = flat(COMMANDS["dev"].format_help())
    assert "demo customers to add when the table is empty (default: 25)" in dev
    assert "refused when DATABASE_URL is set) (default: off)" in dev
    assert "(default: None)" not in flat("".join(p.format_help() for p in COMMANDS.values()))


def test_the_top_level_help_lists_each_command_on_one_line() -> None:
    shown = _parser().format_help()
    for name in COMMANDS:
        if " " in name:
            continue  # a group's subcommands are listed by the group's own --help
        line = next((ln for ln in shown.splitlines() if ln.split()[:1] == [name]), None)
        assert line is not None and len(line.split()) > 1, f"{name}: no one-line description"


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_each_command_names_the_environment_it_reads(name: str) -> None:
    shown = COMMANDS[name].format_help()
    epilog = shown[shown.index("Environment:"):]
    listed = set(re.findall(r"^  ([A-Z][A-Z0-9_]+)  ", epilog, re.MULTILINE))
    assert listed == {var.name for var in environment_for(name)}
    for var in environment_for(name):
        assert flat(var.meaning) in flat(epilog)


def test_the_commands_read_what_they_use() -> None:
    def names(command: str) -> set[str]:
        return {var.name for var in environment_for(command)}

    assert {"DATABASE_URL", "DATABASE_URL_UNPOOLED"} <= names("migrate")
    assert "BREVO_API_KEY" not in names("migrate") | names("status")
    assert {"ADMIN_PASSWORD", "ADMIN_USER", "XDG_CACHE_HOME"} <= names("dev")
    assert {"BREVO_API_KEY", "BREVO_LIST_ID", "BREVO_ATTR_SMS"} <= names("check")
    assert {"CRON_SECRET", "RECONCILE_BUDGET_SECONDS"} <= names("serve")
    assert names("fake-brevo") == set()
    assert "Environment: none read." in COMMANDS["fake-brevo"].format_help()


def test_every_variable_settings_read_is_documented() -> None:
    env = Recording()
    Settings.from_env(env)
    assert env.asked, "the recording saw nothing: Settings reads the environment otherwise"
    assert env.asked <= {var.name for var in ENVIRONMENT}


def test_every_variable_the_code_reads_is_documented() -> None:
    read = set()
    for folder in ("brevo_sync", "listener", "api"):
        for path in (ROOT / folder).rglob("*.py"):
            read |= {a or b for a, b in ENV_READ.findall(path.read_text())}
    assert {"DATABASE_URL", "XDG_CACHE_HOME", "SSL_CERT_FILE", "LOG_LEVEL"} <= read
    assert read <= {var.name for var in ENVIRONMENT}


def test_the_table_names_only_real_commands_and_each_variable_once() -> None:
    names = [var.name for var in ENVIRONMENT]
    assert len(names) == len(set(names))
    for var in ENVIRONMENT:
        assert var.meaning and "\n" not in var.meaning
        assert set(var.commands) <= set(COMMANDS), var.name
