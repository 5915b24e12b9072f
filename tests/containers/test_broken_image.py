"""The test database fixture fails fast and says why when its PostgreSQL image is broken."""

from __future__ import annotations

import gc
import io
import json
import os
import time
import warnings
from collections.abc import Iterator

import docker
import pytest

from tests import pg

pytestmark = pytest.mark.skipif(
    not pg.docker_answers(),
    reason="no Docker engine answers: these tests exercise the testcontainers path "
    "(the README's section 'Tests, with Docker or without' tells how to start one)")

DIES_AT_START = ["sh", "-c", "echo deliberately broken image >&2; exit 3"]
NEVER_LISTENS = ["sleep", "600"]


@pytest.fixture(scope="module")
def engine() -> Iterator[docker.DockerClient]:
    client = docker.from_env()
    yield client
    client.close()


def broken_image(engine: docker.DockerClient, name: str, entrypoint: list[str]) -> Iterator[str]:
    # On the suite's own PostgreSQL image: its layers are there already, and it has `sh`.
    base = os.environ.get("TEST_POSTGRES_IMAGE", pg.DEFAULT_IMAGE)
    tag = f"brevo-sync-test/{name}:latest"
    dockerfile = f"FROM {base}\nENTRYPOINT {json.dumps(entrypoint)}\n".encode()
    refused = ""
    # A failed build leaves docker-py's socket open; it is collected here, silently.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        try:
            engine.images.build(fileobj=io.BytesIO(dockerfile), tag=tag, rm=True)
        except (docker.errors.BuildError, docker.errors.APIError) as exc:
            refused = str(exc)
        gc.collect()
    if refused:
        pytest.skip(f"cannot build a broken image on {base}: {refused}")
    yield tag
    engine.images.remove(tag, force=True)


@pytest.fixture
def dies_at_start(engine: docker.DockerClient) -> Iterator[str]:
    yield from broken_image(engine, "postgres-dies-at-start", DIES_AT_START)


@pytest.fixture
def never_listens(engine: docker.DockerClient) -> Iterator[str]:
    yield from broken_image(engine, "postgres-never-listens", NEVER_LISTENS)


def point_fixture_at(monkeypatch: pytest.MonkeyPatch, image: str, timeout: float) -> None:
    monkeypatch.delenv("TEST_DATABASE_URL", raising=False)
    monkeypatch.setenv("TEST_POSTGRES_IMAGE", image)
    monkeypatch.setenv(pg.START_TIMEOUT_VARIABLE, str(timeout))


def containers_of(engine: docker.DockerClient, image: str) -> list[str]:
    return [c.name for c in engine.containers.list(all=True, filters={"ancestor": image})]


def test_an_image_that_exits_fails_at_once_with_its_exit_code_and_logs(
    engine: docker.DockerClient, dies_at_start: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    point_fixture_at(monkeypatch, dies_at_start, timeout=60)
    assert pg.chosen_path() == "testcontainers"
    began = time.monotonic()
    with pytest.raises(pg.ContainerStartError) as failure, pg.start_server():
        pass
    took = time.monotonic() - began
    message = str(failure.value)
    assert took < 15, f"took {took:.1f} s: it waited instead of noticing the exit"
    assert dies_at_start in message
    assert "exit code 3" in message
    assert "deliberately broken image" in message
    assert containers_of(engine, dies_at_start) == []


def test_an_image_that_never_answers_fails_at_the_deadline(
    engine: docker.DockerClient, never_listens: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    point_fixture_at(monkeypatch, never_listens, timeout=3)
    began = time.monotonic()
    with pytest.raises(pg.ContainerStartError) as failure, pg.start_server():
        pass
    took = time.monotonic() - began
    assert 3 <= took < 15, f"took {took:.1f} s for a 3 s deadline"
    assert "did not accept connections within 3 s" in str(failure.value)
    assert pg.START_TIMEOUT_VARIABLE in str(failure.value)
    assert containers_of(engine, never_listens) == []
