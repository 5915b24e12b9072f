"""The `brevo-sync` command line."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence
from typing import Any, cast

from brevo_sync.brevo.errors import BrevoError
from brevo_sync.config import ConfigError, Settings, environment_epilog
from brevo_sync.failures import (
    DATABASE_ERRORS,
    EXIT_CONFIG,
    Unavailable,
    brevo_unavailable,
    check_database,
    database_setting,
    database_unreachable,
)
from brevo_sync.logs import configure
from brevo_sync.migrate import MigrationError
from brevo_sync.preflight import PreflightError
from brevo_sync.status import Status

# A drain whose database went away mid-way gives up after this long without a connection.
DRAIN_POOL_TIMEOUT_SECONDS = 15.0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    configure(args.log_level)
    try:
        return int(args.run(args) or 0)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"brevo-sync: configuration error: {problem}", file=sys.stderr)
        return EXIT_CONFIG
    except Unavailable as exc:
        return _stopped(exc)
    except DATABASE_ERRORS as exc:
        # Reached at the start, lost mid-way: the same line, naming the URL this command used.
        direct = args.command == "migrate" or (args.command == "listen" and not args.once)
        return _stopped(database_unreachable(exc, database_setting(os.environ, direct=direct)))
    except BrevoError as exc:
        return _stopped(brevo_unavailable(exc))
    except MigrationError as exc:
        print(f"brevo-sync: migrations: {exc}", file=sys.stderr)
        return 1
    except PreflightError as exc:
        print(exc.report.table(), file=sys.stderr)
        print(f"brevo-sync: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _stopped(exc: Unavailable) -> int:
    print(f"brevo-sync: {exc.line}", file=sys.stderr)
    return exc.exit_code


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Every option's default shown; epilogs (the "Environment:" block) kept as written."""

    def _get_help_string(self, action: argparse.Action) -> str:
        return help_with_default(action)


def help_with_default(action: argparse.Action) -> str:
    """An option's help with its default: "(default: off)" for a flag, the value otherwise,
    "(required)" for one without a default. An option whose default is None says in its own
    help what happens without it."""
    text = action.help or ""
    if action.required and action.option_strings:
        return f"{text} (required)"
    if action.default is argparse.SUPPRESS or "default" in text or action.default is None:
        return text
    if action.nargs == 0 and action.default is False:
        return f"{text} (default: off)"
    return f"{text} (default: %(default)s)"


def _command(commands: Any, name: str, summary: str, description: str | None = None,
             environment: str | None = None) -> argparse.ArgumentParser:
    """A command whose --help shows every option's default and, from config.ENVIRONMENT, the
    environment variables it reads (`environment`: the name the table knows it by, for a
    subcommand of a group such as "webhooks install")."""
    return cast(argparse.ArgumentParser, commands.add_parser(
        name, help=summary, description=description or summary[0].upper() + summary[1:] + ".",
        epilog=environment_epilog(environment or name), formatter_class=HelpFormatter))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="brevo-sync",
        description="Keep a Postgres customers table in one-way sync with Brevo contacts.",
        epilog="Each command's --help lists its options with their defaults, and the"
        " environment variables it reads.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--log-level", default="INFO", type=str.upper,
                        choices=("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"),
                        help="how much the command logs")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    migrate = _command(commands, "migrate", "create or upgrade the sync's tables",
                       "Create or upgrade the sync's tables, through the direct URL"
                       " (idempotent, advisory-locked).")
    migrate.set_defaults(run=_migrate)

    listen = _command(commands, "listen", "push each change to Brevo as it happens")
    listen.add_argument("--once", action="store_true",
                        help="drain what is pending, print the counts as JSON, then exit")
    listen.add_argument("--metrics-port", type=int, default=None, metavar="PORT",
                        help="port for /healthz, /readyz and /metrics (default: 9108; 0 turns"
                        " it off)")
    listen.set_defaults(run=_listen)

    serve = _command(commands, "serve", "run the admin API and page")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on")
    serve.set_defaults(run=_serve)

    reconcile = _command(commands, "reconcile", "repair drift between the table and Brevo",
                         "One sweep: compare the table with Brevo and repair what differs.")
    reconcile.add_argument("--budget", type=float, default=None, metavar="SECONDS",
                           help="stop pushing after this long, the rest waits for next time"
                           " (default: none, the sweep runs to its end)")
    reconcile.add_argument("--dry-run", action="store_true",
                           help="print what the sweep would change, change nothing (Brevo is"
                           " only read)")
    reconcile.add_argument("--json", action="store_true",
                           help="print JSON (the default when stdout is not a terminal,"
                           " except for --dry-run)")
    reconcile.set_defaults(run=_reconcile)

    check = _command(commands, "check", "check the Brevo account's setup: key, list, attributes",
                     "Check the Brevo account's setup: the key, the list, the attributes"
                     " (creating missing attributes). Exits 1 on any problem.")
    check.add_argument("--json", action="store_true", help="print the report as JSON")
    check.set_defaults(run=_check)

    status = _command(commands, "status", "print sync totals",
                      "Print customers, opted in, in Brevo, pending, failed, oldest pending.")
    status.add_argument("--json", action="store_true", help="print the totals as JSON")
    status.set_defaults(run=_status)

    dev = _command(commands, "dev", "run everything locally: embedded Postgres, emulator",
                   "Run everything locally, nothing to configure: an embedded PostgreSQL"
                   " when DATABASE_URL is unset, the Brevo emulator when BREVO_API_KEY is"
                   " unset, demo customers, the listener and the admin page. Prints the"
                   " database's URL and the admin's credentials, then a line starting with"
                   " \"ready\".")
    dev.add_argument("--seed", type=int, default=25, metavar="N",
                     help="demo customers to add when the table is empty")
    dev.add_argument("--port", type=int, default=8000, help="port of the admin page and API")
    dev.add_argument("--db-port", type=int, default=0, metavar="PORT",
                     help="TCP port of the embedded PostgreSQL on 127.0.0.1; 0 picks a free one")
    dev.add_argument("--reset", action="store_true",
                     help="start from an empty embedded database (deletes its data directory;"
                     " refused when DATABASE_URL is set)")
    dev.set_defaults(run=_dev)

    _webhooks_parser(commands)

    fake = _command(commands, "fake-brevo", "serve the Brevo emulator under /v3")
    fake.add_argument("--host", default="127.0.0.1", help="address to listen on")
    fake.add_argument("--port", type=int, default=8025, help="port to listen on")
    fake.add_argument("--api-key", default=None,
                      help="accept only this key (default: any key)")
    fake.add_argument("--latency-ms", type=float, default=0.0, help="added to every call")
    fake.add_argument("--error-rate", type=float, default=0.0, help="share of calls given a 5xx")
    fake.add_argument("--timeout-rate", type=float, default=0.0,
                      help="share of calls that hang --timeout-seconds")
    fake.add_argument("--timeout-seconds", type=float, default=2.0,
                      help="how long a hanging call hangs")
    fake.add_argument("--storm-rate", type=float, default=0.0,
                      help="chance per call that a 429 storm starts")
    fake.add_argument("--storm-seconds", type=float, default=1.0,
                      help="how long a 429 storm lasts")
    fake.add_argument("--rate-limits", action="store_true", help="enforce Brevo's rate limits")
    fake.add_argument("--contacts-rps", type=float, default=10,
                      help="contacts calls allowed per second, with --rate-limits")
    fake.add_argument("--contacts-rph", type=int, default=36_000,
                      help="contacts calls allowed per hour, with --rate-limits")
    fake.add_argument("--other-rph", type=int, default=100,
                      help="other calls allowed per hour, with --rate-limits")
    fake.add_argument("--account-language", choices=("en", "fr"), default="en",
                      help="fr: an account with NOM/PRENOM instead of FIRSTNAME/LASTNAME")
    fake.add_argument("--list-unsubscription", action="store_true",
                      help="per-list unsubscription on (contacts carry listUnsubscribed)")
    fake.add_argument("--import-false-keeps-true", action="store_true",
                      help="a false in an import body does not overwrite a true, as reported")
    fake.add_argument("--import-queue-seconds", type=float, default=0.0,
                      help="how long each import waits queued before it starts")
    fake.add_argument("--import-outcome", choices=("completed", "failed", "cancelled"),
                      default="completed", help="how imports end")
    fake.set_defaults(run=_fake_brevo)
    return parser


def _webhooks_parser(commands: Any) -> None:
    summary = "register Brevo's marketing webhook so unsubscribes arrive in seconds"
    hooks = commands.add_parser(
        "webhooks", help=summary, description=summary[0].upper() + summary[1:] + ".",
        epilog="Environment: see each action's own --help (brevo-sync webhooks ACTION --help).",
        formatter_class=HelpFormatter)
    actions = hooks.add_subparsers(dest="webhooks_command", required=True, metavar="ACTION")
    install = _command(actions, "install",
                       "register (or update) the webhook, with BREVO_WEBHOOK_SECRET as bearer",
                       environment="webhooks install")
    install.add_argument("--url", required=True,
                         help="the deployed route, https://…/api/webhooks/brevo (http only for"
                              " localhost)")
    install.set_defaults(run=_webhooks_install)
    status = _command(actions, "status",
                      "list the registered webhooks and when a delivery last arrived",
                      environment="webhooks status")
    status.add_argument("--json", action="store_true", help="print JSON instead of text")
    status.set_defaults(run=_webhooks_status)
    remove = _command(actions, "remove", "remove brevo-sync's webhook from Brevo",
                      environment="webhooks remove")
    remove.add_argument("--url", default=None,
                        help="remove the webhook for this URL only (default: all of ours)")
    remove.set_defaults(run=_webhooks_remove)


def _webhooks_install(args: argparse.Namespace) -> int:
    from brevo_sync.webhook_setup import SetupError, install
    from brevo_sync.wiring import client_from

    settings = Settings.from_env()

    async def run() -> tuple[str, int]:
        async with client_from(settings) as client:
            return await install(client, args.url, settings.webhook_secret)

    try:
        done, webhook_id = asyncio.run(run())
    except SetupError as exc:
        print(f"brevo-sync: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    print(f"webhook {webhook_id} {done}: {args.url.strip()}")
    return 0


def _webhooks_status(args: argparse.Namespace) -> int:
    from brevo_sync.webhook_setup import last_delivery, ours, shown, status_lines
    from brevo_sync.wiring import client_from, pool_from

    settings = Settings.from_env()

    async def run() -> tuple[list[dict[str, Any]], dict[str, Any]]:
        async with client_from(settings) as client:
            hooks = ours(await client.list_webhooks("marketing"))
        async with pool_from(settings, "brevo-sync-webhooks") as pool:
            return hooks, await last_delivery(pool)

    hooks, delivery = asyncio.run(run())
    if args.json:
        print(json.dumps({"webhooks": [shown(h) for h in hooks], **delivery}))
    else:
        print("\n".join(status_lines(hooks, delivery)))
    return 0


def _webhooks_remove(args: argparse.Namespace) -> int:
    from brevo_sync.webhook_setup import remove
    from brevo_sync.wiring import client_from

    settings = Settings.from_env()

    async def run() -> list[int]:
        async with client_from(settings) as client:
            return await remove(client, args.url)

    removed = asyncio.run(run())
    print(f"removed: {', '.join(map(str, removed))}" if removed else "nothing to remove")
    return 0


def _migrate(args: argparse.Namespace) -> int:
    from brevo_sync.migrate import migrate, migration_dsn

    settings = Settings.from_env()
    applied = migrate(migration_dsn(settings.database_url, settings.database_url_unpooled))
    print("applied: " + ", ".join(applied) if applied else "up to date")
    return 0


def _listen(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    if args.once:
        return asyncio.run(_drain_once(settings))
    from listener.run import run

    return int(run(settings, metrics_port=args.metrics_port))


async def _drain_once(settings: Settings) -> int:
    from brevo_sync.brevo import BrevoAccountError
    from brevo_sync.pause import note_accepted, note_refused
    from brevo_sync.wiring import client_from, engine_from, pool_from

    await _check_services(settings)
    async with pool_from(settings, "brevo-sync-drain") as pool, client_from(settings) as client:
        pool.timeout = DRAIN_POOL_TIMEOUT_SECONDS
        try:
            report = await engine_from(settings, pool, client, source="cli").drain()
        except BrevoAccountError as exc:
            # The account's failure: every row stays pending, untouched, for the next run.
            await note_refused(pool, exc, source="cli")
            print(json.dumps({"paused": str(exc), "synced": 0, "failed": 0}))
            return 1
        await note_accepted(pool, source="cli")
    counts = dict(report.counts)
    print(json.dumps({"synced": report.synced, "failed": report.failed,
                      "retrying": counts.get("retry", 0), "bulk_imports": report.bulk_imports}))
    return 0


def _check(args: argparse.Namespace) -> int:
    from brevo_sync.preflight import run_preflight
    from brevo_sync.wiring import client_from

    settings = Settings.from_env()

    async def checked() -> Any:
        async with client_from(settings) as client:
            return await run_preflight(client, settings)

    report = asyncio.run(checked())
    print(json.dumps(report.as_json()) if args.json else report.table())
    return 0 if report.ok else 1


def _serve(args: argparse.Namespace) -> int:
    from api.server import serve

    return int(serve(Settings.from_env(), host=args.host, port=args.port))


def _reconcile(args: argparse.Namespace) -> int:
    from brevo_sync.sweep_cli import run_cli, run_plan_cli

    settings = Settings.from_env()
    # A dry run writes nothing, in Brevo either: its plan checks the setup without creating.
    asyncio.run(_check_services(settings, prepare=not args.dry_run))
    if args.dry_run:
        return int(run_plan_cli(settings, as_json=args.json))
    return int(run_cli(settings, budget=args.budget, as_json=args.json))


async def _check_services(settings: Settings, *, prepare: bool = True) -> None:
    """The database and Brevo, each in bounded time: one that is down, or a key Brevo refuses,
    ends the command with one line rather than retries without end or a failed run."""
    from brevo_sync.brevo import BrevoAccountError
    from brevo_sync.pause import note_refused
    from brevo_sync.wiring import client_from, pool_from, prepare_brevo

    await check_database(settings.require_database(), database_setting(os.environ, direct=False))
    if not prepare:
        return
    async with client_from(settings) as client:
        try:
            await prepare_brevo(client, settings)
        except BrevoAccountError as exc:
            # Recorded as the pause it is (status, /readyz and the page say so), then the
            # command ends on its one line: rows stay pending, nothing against customers.
            async with pool_from(settings, "brevo-sync-check") as pool:
                await note_refused(pool, exc, source="cli")
            raise


def _status(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    status = asyncio.run(_read_status(settings.require_database()))
    print(json.dumps(status.as_json()) if args.json else status.as_text())
    return 0


async def _read_status(dsn: str) -> Status:
    from brevo_sync.db import connect
    from brevo_sync.status import read_status

    async with await connect(dsn, "brevo-sync-status") as conn:
        return await read_status(conn)


def _dev(args: argparse.Namespace) -> int:
    from brevo_sync.devrun import run_dev

    return int(run_dev(seed=args.seed, port=args.port, db_port=args.db_port,
                       reset=args.reset))


def _fake_brevo(args: argparse.Namespace) -> int:
    from brevo_sync.emulator import EmulatorConfig
    from brevo_sync.emulator.server import run_server

    config = EmulatorConfig(
        api_key=args.api_key, latency_ms=args.latency_ms, error_rate=args.error_rate,
        timeout_rate=args.timeout_rate, timeout_seconds=args.timeout_seconds,
        storm_rate=args.storm_rate, storm_seconds=args.storm_seconds,
        rate_limits=args.rate_limits, contacts_rps=args.contacts_rps,
        contacts_rph=args.contacts_rph, other_rph=args.other_rph,
        account_language=args.account_language, list_unsubscription=args.list_unsubscription,
        import_false_keeps_true=args.import_false_keeps_true,
        import_queue_seconds=args.import_queue_seconds, import_outcome=args.import_outcome,
    )
    print(f"Brevo emulator (not the real Brevo) on http://{args.host}:{args.port}/v3",
          file=sys.stderr)
    run_server(config, args.host, args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
