"""Fixtures for tests that need real databases, brokers and running services.

Two backends run the same tests: the embedded default (SQLite + Celery over
SQLAlchemy) and production's PostgreSQL + Redis. When PostgreSQL or Redis is
not reachable, tests that need it skip with the reason, except under CI
(`CI=true`), where a missing server is a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from cli.main import migrate
from cli.stack import (
    ServiceStack,
    delete_queue_keys,
    reachable,
    scratch_postgres_database,
)

POSTGRES_ADMIN_URL = os.environ.get(
    "TRAINJOBS_TEST_POSTGRES_URL",
    "postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
)
REDIS_URL = os.environ.get("TRAINJOBS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require_server(name: str, url: str, default_port: int) -> None:
    """Skip (or fail under CI) when a server the test needs is down."""
    if reachable(url, default_port):
        return
    message = f"{name} is not reachable at {url}"
    if IN_CI:
        pytest.fail(f"{message}; CI must run server-backed tests", pytrace=False)
    pytest.skip(f"{message}; start it to run this test")


@dataclass(frozen=True)
class Backend:
    name: str
    database_url: str
    broker_url: str


@contextmanager
def scratch_postgres() -> Iterator[str]:
    require_server("PostgreSQL", POSTGRES_ADMIN_URL, 5432)
    with scratch_postgres_database(POSTGRES_ADMIN_URL, "trainjobs_test") as url:
        yield url


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL database for this test session."""
    with scratch_postgres() as url:
        yield url


@pytest.fixture(scope="session")
def redis_url() -> str:
    require_server("Redis", REDIS_URL, 6379)
    return REDIS_URL


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Backend:
    """Each backend the service supports, as (database, broker) URLs."""
    if request.param == "postgres":
        return Backend(
            "postgres",
            request.getfixturevalue("postgres_url"),
            request.getfixturevalue("redis_url"),
        )
    home = tmp_path_factory.mktemp("sqlite-backend")
    return Backend(
        "sqlite",
        f"sqlite:///{home / 'trainjobs.db'}",
        f"sqla+sqlite:///{home / 'broker.db'}",
    )


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> str:
    """A migrated database of each dialect, for repository-level tests."""
    if request.param == "postgres":
        url: str = request.getfixturevalue("postgres_url")
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('sqlite-db') / 'repo.db'}"
    migrate(url)
    return url


def stack_env(backend: Backend, home: Path, **overrides: str) -> dict[str, str]:
    """Settings for a service under test: quick heartbeats, its own queue."""
    return {
        "TRAINJOBS_HOME": str(home),
        "TRAINJOBS_DATABASE_URL": backend.database_url,
        "TRAINJOBS_BROKER_URL": backend.broker_url,
        "TRAINJOBS_QUEUE": f"test-{uuid.uuid4().hex[:12]}",
        "TRAINJOBS_FLUSH_INTERVAL_S": "0.2",
        "TRAINJOBS_HEARTBEAT_TIMEOUT_S": "3",
        "TRAINJOBS_SWEEP_INTERVAL_S": "0.5",
        "TRAINJOBS_DATA_DIRS": "",
        **overrides,
    }


@pytest.fixture
def isolated_backend(backend: Backend, tmp_path: Path) -> Iterator[Backend]:
    """The same kind of backend as `backend`, on a database of its own.

    For tests that kill or withhold workers: the shared stack's sweeper must
    not see their jobs and rescue them onto its own worker.
    """
    if backend.name == "postgres":
        with scratch_postgres() as url:
            yield Backend("postgres", url, backend.broker_url)
        return
    yield Backend(
        "sqlite",
        f"sqlite:///{tmp_path / 'trainjobs.db'}",
        f"sqla+sqlite:///{tmp_path / 'broker.db'}",
    )


def forget_queue(env: dict[str, str]) -> None:
    """Delete the Redis keys a stack's unique queue left behind."""
    if env["TRAINJOBS_BROKER_URL"].startswith("redis://"):
        delete_queue_keys(env["TRAINJOBS_BROKER_URL"], env["TRAINJOBS_QUEUE"])


@pytest.fixture
def make_service(
    isolated_backend: Backend, tmp_path: Path
) -> Iterator[Callable[..., ServiceStack]]:
    """Start services of a test's own on a fresh database: each call gives an
    API (migrated unless `migrate=False`) and no worker; `settings` override
    `stack_env`. All are stopped, and their queues forgotten, afterwards."""
    made: list[ServiceStack] = []

    def make(*, migrate: bool = True, **settings: str) -> ServiceStack:
        home = tmp_path / f"service-{len(made)}"
        service = ServiceStack(
            stack_env(isolated_backend, home, **settings), home / "logs"
        )
        made.append(service)
        if migrate:
            service.migrate()
        service.start_api()
        return service

    yield make
    for service in made:
        service.stop()
        forget_queue(service.env)


@pytest.fixture(scope="session")
def stack(
    backend: Backend, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceStack]:
    """The API and one worker with two pool processes, on each backend."""
    home = tmp_path_factory.mktemp(f"stack-{backend.name}")
    env = stack_env(backend, home)
    service = ServiceStack(env, home / "logs")
    service.migrate()
    service.start_api()
    service.start_worker(concurrency=2)
    yield service
    service.stop()
    forget_queue(env)


@pytest.fixture
def client(stack: ServiceStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.base_url, timeout=30) as http:
        yield http
