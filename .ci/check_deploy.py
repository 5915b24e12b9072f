"""CI's proof that the project deploys as the README says, on a clean clone of HEAD.

    python3 .ci/check_deploy.py [--only vercel|wheel]

1. vercel: Vercel's own CLI (`vercel build`, offline, project settings with the framework it
   auto-detects, "python") yields exactly one function, api/index, no Node function, and
   static files that are public/'s and nothing else. The built function is then called
   in-process as Vercel's runtime calls it, against a real database and the emulator:
   /healthz 200, /admin/clients 401 (the path reached the app), the cron route 401 without
   the bearer and 200 with it.
2. wheel: a wheel built from the clone, installed in a fresh venv outside the tree, migrates
   an empty database and syncs a customer, with only DATABASE_URL_UNPOOLED set.

Needs: node and npm (Vercel's CLI comes from npm), Python 3.12 (Vercel's runtime; pyenv's is
found), PostgreSQL at $CI_POSTGRES_URL (default the machine's, 127.0.0.1:5432).
"""
# ruff: noqa: S310, S603, S607

from __future__ import annotations

import argparse
import contextlib
import glob
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("CI_CACHE_DIR", ROOT / ".ci" / "cache"))
POSTGRES = os.environ.get("CI_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
VERCEL_CLI_VERSION = "58"
CRON_SECRET = "ci-cron-" + secrets.token_hex(16)
API_KEY = "xkeysib-ci-" + secrets.token_hex(8)

# What the built function is asked, as Vercel's runtime asks it (run inside the function).
CALL_FUNCTION = r"""
import json, sys
import vc__handler__python as handler

def call(method, path, headers=None):
    event = {"body": json.dumps({"method": method, "path": path,
                                 "headers": {"host": "ci.vercel.app", **(headers or {})},
                                 "body": ""})}
    answer = handler.vc_handler(event, None)
    return answer["statusCode"]

secret = sys.argv[1]
print(json.dumps({
    "healthz": call("GET", "/healthz"),
    "admin": call("GET", "/admin/clients"),
    "cron_without_bearer": call("GET", "/api/cron/sync-brevo"),
    "cron_with_bearer": call("GET", "/api/cron/sync-brevo",
                             {"authorization": f"Bearer {secret}"}),
}))
"""


class CheckFailed(Exception):
    pass


def run(*args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None,
        quiet: bool = False) -> str:
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True,
                          text=True, check=False)
    if done.returncode != 0:
        raise CheckFailed(f"{' '.join(map(str, args))}: exit {done.returncode}\n"
                          f"{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
    if not quiet:
        print(done.stdout.strip()[-2000:])
    return done.stdout


def python312() -> Path:
    candidates = [shutil.which("python3.12") or ""]
    pyenv_root = os.environ.get("PYENV_ROOT", str(Path.home() / ".pyenv"))
    candidates += sorted(glob.glob(f"{pyenv_root}/versions/3.12*/bin/python3.12"))
    for candidate in filter(None, candidates):
        with contextlib.suppress(OSError, subprocess.CalledProcessError):
            subprocess.run([candidate, "-c", "import sys; assert sys.version_info[:2] == (3, 12)"],
                           check=True, capture_output=True)
            return Path(candidate).resolve()
    raise CheckFailed("Python 3.12 (Vercel's runtime) is not installed: pyenv install 3.12")


def clean_clone(into: Path) -> Path:
    run("git", "clone", "-q", ROOT, into)
    return into


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def empty_database() -> Iterator[str]:
    name = f"brevo_sync_ci_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    try:
        yield urlunsplit(urlsplit(POSTGRES)._replace(path="/" + name))
    finally:
        with psycopg.connect(POSTGRES, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@contextlib.contextmanager
def emulator(brevo_sync: Path) -> Iterator[str]:
    """The emulator as the installed package serves it (`brevo-sync fake-brevo`)."""
    port = free_port()
    process = subprocess.Popen([str(brevo_sync), "fake-brevo", "--port", str(port),
                                "--api-key", API_KEY], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(emulator_request(base, "/_emulator/contacts"),
                                       timeout=1).read()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise CheckFailed("the emulator did not start") from None
                time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(10)


def emulator_request(base: str, path: str) -> urllib.request.Request:
    """A control call: the emulator runs with a key, which its control routes ask for too."""
    return urllib.request.Request(base + path, headers={"api-key": API_KEY})


def emulator_contacts(base: str) -> list[dict[str, object]]:
    with urllib.request.urlopen(emulator_request(base, "/_emulator/contacts"),
                                timeout=5) as answer:
        return list(json.load(answer)["contacts"])


# -- 1. Vercel ------------------------------------------------------------------------------

def vercel_cli() -> Path:
    prefix = CACHE / "vercel-cli"
    binary = prefix / "node_modules" / ".bin" / "vercel"
    if not binary.exists():
        run("npm", "install", "--prefix", prefix, "--no-audit", "--no-fund", "--silent",
            f"vercel@{VERCEL_CLI_VERSION}", quiet=True)
    return binary


def uv_binary() -> Path:
    venv = CACHE / "uv-venv"
    binary = venv / "bin" / "uv"
    if not binary.exists():
        run(sys.executable, "-m", "venv", venv, quiet=True)
        run(venv / "bin" / "pip", "install", "-q", "uv", quiet=True)
    return binary


def build_path(python: Path, uv: Path, into: Path) -> str:
    """A PATH like Vercel's build image: node, uv and Python 3.12, and no other Python (uv
    would offer this machine's 3.11, which Vercel's runtime does not have)."""
    into.mkdir()
    for name, target in {"node": shutil.which("node"), "uv": uv, "python3.12": python,
                         "python3": python, "git": shutil.which("git")}.items():
        if target is None:
            raise CheckFailed(f"{name} is not installed")
        (into / name).symlink_to(target)
    return str(into)


def vercel_build(clone: Path, work: Path) -> Path:
    (clone / ".vercel").mkdir()
    # What Vercel auto-detects for a repository with pyproject.toml.
    (clone / ".vercel" / "project.json").write_text(json.dumps(
        {"projectId": "prj_ci", "orgId": "team_ci", "settings": {"framework": "python"}}))
    # The machine's environment (its registry settings and CA roots) with that PATH.
    env = {**os.environ, "PATH": build_path(python312(), uv_binary(), work / "bin"),
           "VERCEL_TELEMETRY_DISABLED": "1", "NO_UPDATE_NOTIFIER": "1"}
    log = run(vercel_cli(), "build", "--yes", cwd=clone, env=env, quiet=True)
    print("\n".join(line for line in log.splitlines() if line.strip()
                    and not line.startswith(("│", "╭", "╰"))))
    return clone / ".vercel" / "output"


def check_output(output: Path, clone: Path) -> Path:
    functions = sorted(str(p.relative_to(output / "functions"))
                       for p in (output / "functions").rglob("*.func"))
    print(f"functions: {functions}")
    if functions != ["api/index.func"]:
        raise CheckFailed(f"expected exactly one function, api/index.func; got {functions}")
    config = json.loads((output / "functions" / "api" / "index.func" / ".vc-config.json")
                        .read_text())
    if not config["runtime"].startswith("python"):
        raise CheckFailed(f"api/index is not a Python function: {config['runtime']}")
    static = sorted(str(p.relative_to(output / "static"))
                    for p in (output / "static").rglob("*") if p.is_file())
    public = sorted(str(p.relative_to(clone / "public"))
                    for p in (clone / "public").rglob("*") if p.is_file())
    print(f"static files: {len(static)} {static}")
    if static != public:
        raise CheckFailed(f"the static files are not public/'s: {static} vs {public}")
    bundled = [path for path in config["filePathMap"]
               if path.startswith((".ci/", "tests/", "bench/", "listener/", "Dockerfile"))]
    if bundled:
        raise CheckFailed(f"the function bundles files it does not need: {bundled[:10]}")
    print(f"function files: {len(config['filePathMap'])}")
    return output / "functions" / "api" / "index.func"


def materialise(function: Path, clone: Path, into: Path) -> Path:
    """The function's files where Vercel would unpack them (the build lists them, with
    where each comes from, in filePathMap)."""
    config = json.loads((function / ".vc-config.json").read_text())
    for target, source in config["filePathMap"].items():
        destination = into / target
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(clone / source, destination)
    shutil.copyfile(function / "vc__handler__python.py", into / "vc__handler__python.py")
    return into


def call_function(function_dir: Path, database_url: str, brevo: str) -> dict[str, int]:
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": "_vendor", "PYTHONDONTWRITEBYTECODE": "1",
           "DATABASE_URL": database_url, "BREVO_API_KEY": API_KEY,
           "BREVO_BASE_URL": brevo + "/v3", "BREVO_LIST_ID": "2", "CRON_SECRET": CRON_SECRET,
           "ADMIN_PASSWORD": "ci-admin-" + secrets.token_hex(8)}
    out = run(python312(), "-c", CALL_FUNCTION, CRON_SECRET, cwd=function_dir, env=env,
              quiet=True)
    return dict(json.loads(out.strip().splitlines()[-1]))


def check_vercel(work: Path) -> None:
    clone = clean_clone(work / "clone")
    function = check_output(vercel_build(clone, work), clone)
    function_dir = materialise(function, clone, work / "function")
    installed = work / "tools"
    run(sys.executable, "-m", "venv", installed, quiet=True)
    run(installed / "bin" / "pip", "install", "-q", clone, quiet=True)
    with empty_database() as url, emulator(installed / "bin" / "brevo-sync") as brevo:
        run(installed / "bin" / "brevo-sync", "migrate", env={**os.environ, "DATABASE_URL": url})
        answers = call_function(function_dir, url, brevo)
    print(f"the built function answered: {answers}")
    expected = {"healthz": 200, "admin": 401, "cron_without_bearer": 401,
                "cron_with_bearer": 200}
    if answers != expected:
        raise CheckFailed(f"expected {expected}")


# -- 2. A wheel installed outside the tree ----------------------------------------------------

def check_wheel(work: Path) -> None:
    clone = clean_clone(work / "clone")
    run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", work / "dist", clone,
        quiet=True)
    (wheel,) = (work / "dist").glob("brevo_sync-*.whl")
    print(f"built {wheel.name}")
    venv = work / "venv"
    run(sys.executable, "-m", "venv", venv, quiet=True)
    run(venv / "bin" / "pip", "install", "-q", wheel, quiet=True)
    cli = venv / "bin" / "brevo-sync"
    with empty_database() as url, emulator(cli) as brevo:
        env = {"PATH": os.environ["PATH"], "HOME": str(work), "DATABASE_URL_UNPOOLED": url,
               "BREVO_API_KEY": API_KEY, "BREVO_BASE_URL": brevo + "/v3",
               "BREVO_LIST_ID": "2"}
        # From a folder with no project files: only what the wheel installed can be used.
        migrated = run(cli, "migrate", cwd=work, env=env)
        if "001_customers.sql" not in migrated:
            raise CheckFailed("the installed package applied no migration")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("INSERT INTO customers (email, first_name, marketing_opt_in)"
                         " VALUES ('wheel@example.com', 'Wheel', true)")
        run(cli, "listen", "--once", cwd=work, env=env)
        with psycopg.connect(url) as conn:
            stored = conn.execute("SELECT brevo_contact_id FROM customers").fetchone()
        emails = [contact.get("email") for contact in emulator_contacts(brevo)]
    print(f"in the emulator: {emails}; contact id written back: {stored}")
    if emails != ["wheel@example.com"] or not stored or stored[0] is None:
        raise CheckFailed("the customer did not reach Brevo through the installed wheel")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("vercel", "wheel"))
    args = parser.parse_args()
    checks = {"vercel": check_vercel, "wheel": check_wheel}
    failed = False
    for name, check in checks.items():
        if args.only not in (None, name):
            continue
        print(f"--- {name}", flush=True)
        with tempfile.TemporaryDirectory(prefix=f"brevo-sync-{name}-") as work:
            try:
                check(Path(work))
                print(f"--- {name}: ok", flush=True)
            except CheckFailed as exc:
                print(f"--- {name}: FAILED: {exc}", flush=True)
                failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
