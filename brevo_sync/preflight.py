"""Preflight: is the Brevo account set up the way the sync writes to it?

The key works, the list (BREVO_LIST_ID) exists, and each attribute the sync writes exists with
the type it writes: Brevo silently drops a value for an unknown attribute or of the wrong type,
so a wrong setup would otherwise show only as contacts without names and endless drift.
A missing attribute is created when Brevo lets us; anything else is a problem that names what
to fix. `brevo-sync check` prints the findings; `listen`, `serve` and `reconcile` run the same
checks when they start (wiring.prepare_brevo, once per client).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import structlog

from brevo_sync.brevo import BrevoClient, BrevoError, BrevoPermanentError, BrevoTransientError
from brevo_sync.config import Settings

log = structlog.get_logger("brevo_sync.preflight")

OK, CREATED, PROBLEM, NOT_CHECKED = "ok", "created", "PROBLEM", "not checked"
# How a missing attribute reads when the checks were asked not to create it (a dry run).
WOULD_CREATE = "missing: create it as"
# Where an admin fixes an attribute in Brevo's web app.
ATTRIBUTES_PAGE = "Contacts > Settings > Contact attributes"
# Names other language editions of Brevo give the default name attributes: a hint, not a rule.
OTHER_NAMES = {"FIRSTNAME": ("PRENOM", "VORNAME", "NOMBRE", "NOME"),
               "LASTNAME": ("NOM", "NACHNAME", "APELLIDOS", "COGNOME")}


@dataclass(frozen=True)
class Finding:
    check: str       # what was checked: "key", "list", or the setting naming an attribute
    name: str        # the thing in Brevo: the base URL, the list id, the attribute name
    result: str      # ok | created | PROBLEM | not checked
    detail: str


@dataclass
class Preflight:
    findings: list[Finding] = field(default_factory=list)
    # Brevo unreachable, or refusing the key: an account matter, not the setup's.
    error: BrevoError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and all(f.result in (OK, CREATED) for f in self.findings)

    @property
    def problems(self) -> list[Finding]:
        return [f for f in self.findings if f.result == PROBLEM]

    def table(self) -> str:
        rows = [("CHECK", "NAME", "RESULT", "DETAIL")] + [
            (f.check, f.name, f.result, f.detail) for f in self.findings]
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        lines = ["  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True))
                 + "  " + row[3] for row in rows]
        problems = len(self.problems)
        lines.append("")
        lines.append("ready: the Brevo account is set up for the sync" if self.ok else
                     f"{problems} problem{'s' if problems != 1 else ''}: fix and run"
                     " `brevo-sync check` again")
        return "\n".join(lines)

    def summary(self) -> str:
        """One line naming every problem, for logs and a sweep's message."""
        return "; ".join(f"{f.check} {f.name}: {f.detail}" for f in self.problems)

    def as_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "findings": [f.__dict__ for f in self.findings]}


class PreflightError(Exception):
    """The Brevo account is not set up for the sync; the message names each problem."""

    def __init__(self, report: Preflight) -> None:
        super().__init__(f"Brevo is not set up for the sync: {report.summary()}")
        self.report = report


async def run_preflight(client: BrevoClient, settings: Settings, *,
                        create: bool = True) -> Preflight:
    """Check the account (and create missing attributes when `create`); never raises for
    what it finds: the findings say it."""
    report = Preflight()
    wanted = settings.attribute_names.wanted()
    try:
        existing = await client.list_attributes()
    except BrevoError as exc:
        report.error = exc
        report.findings.append(Finding("key", "BREVO_API_KEY", PROBLEM, _refusal(exc)))
        report.findings += [Finding("list", _list_name(settings), NOT_CHECKED, "")]
        report.findings += [Finding(s, n, NOT_CHECKED, "") for s, n, _ in wanted]
        return report
    report.findings.append(Finding("key", "BREVO_API_KEY", OK,
                                   f"Brevo answered at {settings.brevo_base_url}"))
    report.findings.append(await _check_list(client, settings.brevo_list_id, report))
    for setting, name, kind in wanted:
        report.findings.append(
            await _check_attribute(client, existing, setting, name, kind, report, create))
    return report


async def ensure_ready(client: BrevoClient, settings: Settings) -> Preflight:
    """The checks a process runs at start. Raises the BrevoError when Brevo cannot be reached
    or refuses the key (the caller knows whether to wait or stop), PreflightError on a setup
    problem."""
    report = await run_preflight(client, settings)
    for finding in report.findings:
        if finding.result == CREATED:
            log.warning("brevo_attribute_created", setting=finding.check, name=finding.name,
                        detail=finding.detail)
    if report.error is not None:
        raise report.error
    if not report.ok:
        log.error("brevo_setup_problem", problems=report.summary())
        raise PreflightError(report)
    log.info("brevo_preflight_ok", list_id=settings.brevo_list_id,
             attributes=[name for _, name, _ in settings.attribute_names.wanted()])
    return report


def _list_name(settings: Settings) -> str:
    return str(settings.brevo_list_id) if settings.brevo_list_id else "-"


async def _check_list(client: BrevoClient, list_id: int | None, report: Preflight) -> Finding:
    if list_id is None:
        return Finding("list", "-", OK, "BREVO_LIST_ID not set: contacts are added to no list")
    try:
        found = await client.get_list(list_id)
    except BrevoError as exc:
        report.error = report.error or _account_error(exc)
        return Finding("list", str(list_id), PROBLEM, f"could not be read: {exc}")
    if found is None:
        return Finding("list", str(list_id), PROBLEM,
                       f"Brevo has no list {list_id}: set BREVO_LIST_ID to the id shown in"
                       " Contacts > Lists")
    subscribers = found.get("totalSubscribers")
    count = f", {subscribers} subscribers" if isinstance(subscribers, int) else ""
    return Finding("list", str(list_id), OK, f"{found.get('name', '')!r}{count}")


async def _check_attribute(client: BrevoClient, existing: Mapping[str, str | None],
                           setting: str, name: str, kind: str, report: Preflight,
                           create: bool) -> Finding:
    if name in existing:
        return _typed(setting, name, kind, existing[name])
    other = _same_meaning(setting, name, existing)
    if other is not None:
        # Creating FIRSTNAME beside PRENOM would store names where the account's templates
        # do not look: the admin chooses.
        return Finding(setting, name, PROBLEM,
                       f"missing; the account has {other} instead (another language edition"
                       f" of Brevo): set {setting}={other}, or create {name} in Brevo to use it")
    if not create:
        return Finding(setting, name, PROBLEM, f"{WOULD_CREATE} {kind}")
    try:
        await client.create_attribute(name, kind)
    except BrevoError as exc:
        report.error = report.error or _account_error(exc)
        return Finding(setting, name, PROBLEM,
                       f"missing, and Brevo refused to create it ({_message(exc)}): create it in"
                       f" {ATTRIBUTES_PAGE} as {kind}, or set {setting} to one that exists")
    return Finding(setting, name, CREATED, f"{kind}, created now")


def _typed(setting: str, name: str, kind: str, found: str | None) -> Finding:
    if found is not None and found.lower() == kind:
        return Finding(setting, name, OK, kind)
    what = f"a {found} attribute" if found else "an attribute without a type (calculated?)"
    return Finding(setting, name, PROBLEM,
                   f"is {what}, the sync writes {kind} (Brevo would drop every value): change"
                   f" it in {ATTRIBUTES_PAGE}, or set {setting} to a {kind} attribute")


def _same_meaning(setting: str, name: str, existing: Mapping[str, str | None]) -> str | None:
    """The attribute another language edition of Brevo gives a default name, when the account
    has it and the setting was left at the default."""
    default = setting.removeprefix("BREVO_ATTR_")
    if name != default:
        return None
    return next((other for other in OTHER_NAMES.get(default, ()) if other in existing), None)


def _account_error(exc: BrevoError) -> BrevoError | None:
    """Only Brevo being unreachable or refusing the account stops the other checks' meaning."""
    if isinstance(exc, BrevoTransientError):
        return exc
    if isinstance(exc, BrevoPermanentError) and exc.status in (401, 402, 403):
        return exc
    return None


def _refusal(exc: BrevoError) -> str:
    if isinstance(exc, BrevoPermanentError) and exc.status == 401:
        return (f"Brevo refused the key ({_message(exc)}): check BREVO_API_KEY, and the"
                " account's authorised IPs")
    if isinstance(exc, BrevoPermanentError):
        return f"Brevo refused the account ({exc.status}: {_message(exc)})"
    return f"Brevo could not be reached: {exc}"


def _message(exc: BrevoError) -> str:
    return str(getattr(exc, "message", None) or exc)
