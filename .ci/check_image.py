"""CI's checks of the project's image, run for real against PostgreSQL and the Brevo emulator.

    python3 .ci/check_image.py IMAGE [--postgres-image local/postgres:15]

On a network of its own: a PostgreSQL container (the tests' image), the emulator in a container
of IMAGE (`brevo-sync fake-brevo`), then IMAGE run twice:
  1. `brevo-sync migrate`, then the default command (the listener): a customer inserted from
     the host reaches the emulator, the HEALTHCHECK reports healthy, and `docker stop` ends it
     with exit code 0 inside Docker's grace period (no SIGKILL);
  2. `brevo-sync serve --host 0.0.0.0`: /healthz answers through a published port, the
     process runs as a non-root user, the HEALTHCHECK reports healthy there too.
Everything it started is removed at the end, whatever happened; the logs of a failed
container are printed.
"""
# ruff: noqa: S104, S310, S603, S607

from __future__ import annotations

import argparse
import json
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any, TypeVar

import psycopg

T = TypeVar("T")
DB_PASSWORD = "ci-" + secrets.token_hex(8)
API_KEY = "xkeysib-ci-" + secrets.token_hex(8)
STOP_GRACE_SECONDS = 10  # Docker's default for `docker stop`
LIST_ID = "2"  # the emulator's default list


class CheckFailed(Exception):
    pass


def docker(*args: str, check: bool = True) -> str:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise CheckFailed(f"docker {' '.join(args)}: exit {done.returncode}: {done.stderr.strip()}")
    return done.stdout.strip()


def wait_for(what: str, probe: Callable[[], T | None], seconds: float) -> T:
    """Poll `probe` until it returns a value; fail naming `what` after `seconds`."""
    deadline = time.monotonic() + seconds
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = probe()
            if value is not None:
                return value
        except (OSError, psycopg.Error) as exc:
            last_error = exc
        time.sleep(0.25)
    detail = f" (last error: {last_error})" if last_error else ""
    raise CheckFailed(f"{what}: not within {seconds:.0f} s{detail}")


def http_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=3) as response:  # noqa: S310 (our own loopback URL)
        return json.load(response)


def published_port(container: str, port: int) -> int:
    return int(docker("port", container, f"{port}/tcp").splitlines()[0].rsplit(":", 1)[1])


def health(container: str) -> str:
    return docker("inspect", "--format", "{{.State.Health.Status}}", container)


def healthy(container: str) -> str | None:
    status = health(container)
    if status == "unhealthy":
        log = docker("inspect", "--format", "{{json .State.Health.Log}}", container)
        raise CheckFailed(f"{container}: the HEALTHCHECK reports unhealthy: {log}")
    return status if status == "healthy" else None


def running(container: str) -> None:
    """Fail at once, with its logs, when a container has already exited."""
    if docker("inspect", "--format", "{{.State.Running}}", container) != "true":
        code = docker("inspect", "--format", "{{.State.ExitCode}}", container)
        raise CheckFailed(f"{container} exited with code {code}")


class Check:
    def __init__(self, image: str, postgres_image: str) -> None:
        self.image = image
        self.postgres_image = postgres_image
        self.prefix = "brevo-sync-ci-" + secrets.token_hex(4)
        self.network = self.prefix
        self.started: list[str] = []

    def name(self, role: str) -> str:
        return f"{self.prefix}-{role}"

    def step(self, title: str, action: Callable[[], None]) -> None:
        began = time.monotonic()
        print(f"  - {title} ...", flush=True)
        action()
        print(f"    ok ({time.monotonic() - began:.1f} s)", flush=True)

    def start(self, role: str, options: list[str], command: list[str],
              image: str | None = None) -> str:
        name = self.name(role)
        self.started.append(name)
        docker("run", "-d", "--name", name, "--network", self.network, "--network-alias", role,
               *options, image or self.image, *command)
        return name

    @property
    def app_env(self) -> list[str]:
        return self.env("DATABASE_URL")

    @property
    def listener_env(self) -> list[str]:
        """As the README runs the listener and migrations: the direct URL only."""
        return self.env("DATABASE_URL_UNPOOLED")

    def env(self, database_variable: str) -> list[str]:
        dsn = f"postgresql://postgres:{DB_PASSWORD}@db:5432/brevo"
        return ["-e", f"{database_variable}={dsn}", "-e", f"BREVO_API_KEY={API_KEY}",
                "-e", "BREVO_BASE_URL=http://brevo:8025/v3", "-e", f"BREVO_LIST_ID={LIST_ID}"]

    def all(self) -> None:
        docker("network", "create", self.network)
        try:
            self.step("PostgreSQL and the Brevo emulator up", self.services)
            self.step("`brevo-sync migrate` in the image", self.migrate)
            # Both at once: each HEALTHCHECK's first probe comes one interval after the start.
            self.step("start the listener (default command) and the API (`serve`)", self.apps)
            self.step("listener: a customer inserted on the host reaches the emulator",
                      self.listener_pushes)
            self.step("listener: the HEALTHCHECK reports healthy", self.listener_healthy)
            self.step(f"listener: `docker stop` ends it with exit 0 within "
                      f"{STOP_GRACE_SECONDS} s", self.listener_stops)
            self.step("API: /healthz through a published port, non-root, healthy, stops",
                      self.api_checks)
        except Exception:
            self.dump_logs()
            raise
        finally:
            self.clean()

    def services(self) -> None:
        db = self.start("db", ["-p", "127.0.0.1::5432", "-e", f"POSTGRES_PASSWORD={DB_PASSWORD}",
                               "-e", "POSTGRES_DB=brevo"], [], image=self.postgres_image)
        brevo = self.start("brevo", ["-p", "127.0.0.1::8025"],
                           ["brevo-sync", "fake-brevo", "--host", "0.0.0.0", "--port", "8025"])
        self.db_url = (f"postgresql://postgres:{DB_PASSWORD}@127.0.0.1:"
                       f"{published_port(db, 5432)}/brevo")
        self.brevo_url = f"http://127.0.0.1:{published_port(brevo, 8025)}"

        def db_answers() -> bool:
            running(db)
            with psycopg.connect(self.db_url, connect_timeout=2) as conn:
                conn.execute("SELECT 1")
            return True

        def brevo_answers() -> bool:
            running(brevo)
            http_json(self.brevo_url + "/_emulator/contacts")
            return True

        wait_for("PostgreSQL container accepting connections", db_answers, 60)
        wait_for("emulator container answering", brevo_answers, 30)

    def migrate(self) -> None:
        done = subprocess.run(["docker", "run", "--rm", "--network", self.network,
                               *self.listener_env, self.image, "brevo-sync", "migrate"],
                              capture_output=True, text=True, check=False)
        print(f"    {done.stdout.strip() or done.stderr.strip()}")
        if done.returncode != 0:
            raise CheckFailed(f"brevo-sync migrate: exit {done.returncode}: {done.stderr}")
        with psycopg.connect(self.db_url) as conn:
            found = conn.execute("SELECT to_regclass('brevo_sync.queue')").fetchone()
        if not found or found[0] is None:
            raise CheckFailed("brevo-sync migrate exited 0 but brevo_sync.queue is missing")

    def apps(self) -> None:
        # The image's default command, as the README runs it.
        self.listener = self.start("listener", ["--restart", "unless-stopped",
                                                *self.listener_env], [])
        env = [*self.app_env, "-e", "ADMIN_PASSWORD=ci-" + secrets.token_hex(8),
               "-e", "CRON_SECRET=ci-" + secrets.token_hex(8)]
        self.api = self.start("api", [*env, "-p", "127.0.0.1::8000"],
                              ["brevo-sync", "serve", "--host", "0.0.0.0"])

    def listener_pushes(self) -> None:
        email = f"ci-{secrets.token_hex(4)}@example.com"
        with psycopg.connect(self.db_url, autocommit=True) as conn:
            conn.execute("INSERT INTO customers (email, first_name, last_name, marketing_opt_in)"
                         " VALUES (%s, 'Ada', 'Lovelace', true)", (email,))
        inserted = time.monotonic()

        def in_brevo() -> dict[str, Any] | None:
            running(self.listener)
            contacts = http_json(self.brevo_url + "/_emulator/contacts")["contacts"]
            return next((c for c in contacts if c.get("email") == email), None)

        contact = wait_for(f"{email} in the emulator", in_brevo, 60)
        print(f"    {email} in Brevo {time.monotonic() - inserted:.1f} s after the insert "
              f"(the listener started just before), attributes {contact['attributes']}")
        if contact["attributes"].get("FIRSTNAME") != "Ada":
            raise CheckFailed(f"contact pushed without its first name: {contact}")

    def listener_healthy(self) -> None:
        wait_for(f"{self.listener} healthy", lambda: healthy(self.listener), 60)

    def listener_stops(self) -> None:
        began = time.monotonic()
        docker("stop", "-t", str(STOP_GRACE_SECONDS), self.listener)
        took = time.monotonic() - began
        code = docker("inspect", "--format", "{{.State.ExitCode}}", self.listener)
        print(f"    stopped in {took:.1f} s, exit code {code}")
        if code != "0" or took >= STOP_GRACE_SECONDS:
            raise CheckFailed(f"docker stop: exit code {code} after {took:.1f} s; expected 0 "
                              f"within the {STOP_GRACE_SECONDS} s grace period (137 = SIGKILL)")

    def api_checks(self) -> None:
        api = self.api
        url = f"http://127.0.0.1:{published_port(api, 8000)}/healthz"

        def answers() -> Any:
            running(api)
            return http_json(url)

        print(f"    GET {url} -> {json.dumps(wait_for('API /healthz', answers, 60))}")
        # The same static files as Vercel's CDN serves from public/.
        script = urllib.request.urlopen(url.replace("/healthz", "/static/admin.js"), timeout=5)
        if script.status != 200 or not script.read():
            raise CheckFailed("the image does not serve /static/admin.js")
        uid = docker("exec", api, "id", "-u")
        print(f"    process user id {uid}")
        if uid == "0":
            raise CheckFailed("the API runs as root")
        wait_for(f"{api} healthy", lambda: healthy(api), 60)
        docker("stop", "-t", str(STOP_GRACE_SECONDS), api)
        code = docker("inspect", "--format", "{{.State.ExitCode}}", api)
        if code != "0":
            raise CheckFailed(f"the API exited with code {code} on docker stop")

    def dump_logs(self) -> None:
        for name in self.started:
            logs = subprocess.run(["docker", "logs", "--tail", "40", name], capture_output=True,
                                  text=True, check=False)
            print(f"----- last log lines of {name} -----\n{logs.stdout}{logs.stderr}",
                  file=sys.stderr)

    def clean(self) -> None:
        for name in self.started:
            docker("rm", "-f", "-v", name, check=False)
        docker("network", "rm", self.network, check=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("image")
    parser.add_argument("--postgres-image", default="local/postgres:15")
    args = parser.parse_args()
    try:
        Check(args.image, args.postgres_image).all()
    except CheckFailed as exc:
        print(f"IMAGE CHECK FAILED: {exc}", file=sys.stderr)
        return 1
    print("image checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
