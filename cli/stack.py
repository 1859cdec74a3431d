"""Start and stop a whole service (API + workers) as child processes.

Used by `make demo`, the end-to-end tests and the service benchmark, so all
three exercise the same processes a user runs with `trainjobs up`.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from urllib.parse import urlparse

import httpx


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def reachable(url: str, default_port: int) -> bool:
    """True when a TCP connection to the URL's host and port opens."""
    parsed = urlparse(url.replace("postgresql+psycopg", "postgresql"))
    try:
        with socket.create_connection(
            (parsed.hostname or "127.0.0.1", parsed.port or default_port), timeout=2
        ):
            return True
    except OSError:
        return False


@contextmanager
def scratch_postgres_database(admin_url: str, prefix: str) -> Iterator[str]:
    """A new, empty PostgreSQL database named `<prefix>_<random>`, dropped on
    exit, for a test or benchmark that must not touch anyone else's data."""
    from sqlalchemy import create_engine, text

    from core.db import dispose_engines

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        dispose_engines()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def delete_queue_keys(redis_url: str, queue: str) -> int:
    """Delete the Redis keys Celery made for this (uniquely named) queue only.

    Kombu keeps a queue's messages under its name (plus priority variants
    that start with it) and its bindings under `_kombu.binding.<name>` and
    `_kombu.binding_permanent.<name>`; keys shared with other users of the
    broker (`unacked`, ...) are left alone.
    """
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        keys = {
            key
            for pattern in (f"{queue}*", f"_kombu.binding*.{queue}")
            for key in client.scan_iter(match=pattern, count=1000)
        }
        return int(client.delete(*keys)) if keys else 0
    finally:
        client.close()


class ServiceStack:
    """An API process and any number of worker processes sharing one config.

    Args:
        env: `TRAINJOBS_*` variables (and anything else) for the children.
        log_dir: where each child's output goes, one file per process.
        port: the API's port; a free one by default.
        api_workers: uvicorn worker processes.
    """

    def __init__(
        self,
        env: Mapping[str, str],
        log_dir: Path,
        *,
        port: int | None = None,
        api_workers: int = 1,
    ) -> None:
        self.env = {**os.environ, **env}
        self.log_dir = log_dir
        self.port = port or free_port()
        self.api_workers = api_workers
        self.api: subprocess.Popen[bytes] | None = None
        self.workers: list[subprocess.Popen[bytes]] = []
        log_dir.mkdir(parents=True, exist_ok=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _spawn(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        # A session of its own lets a worker be killed with its pool children.
        with (self.log_dir / f"{name}.log").open("ab") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "cli.main", *args],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def migrate(self) -> None:
        subprocess.run(
            [sys.executable, "-m", "cli.main", "migrate"],
            env=self.env,
            check=True,
            capture_output=True,
        )

    def start_api(self, timeout: float = 30.0) -> None:
        self.api = self._spawn(
            "api", "api", "--port", str(self.port), "--workers", str(self.api_workers)
        )
        self.wait_until_healthy(timeout)

    def start_worker(self, concurrency: int = 1) -> subprocess.Popen[bytes]:
        worker = self._spawn(
            f"worker-{len(self.workers)}", "worker", "--concurrency", str(concurrency)
        )
        self.workers.append(worker)
        return worker

    def wait_until_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.api is not None and self.api.poll() is not None:
                raise RuntimeError(f"API exited; see {self.log_dir / 'api.log'}")
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"API not healthy after {timeout}s")

    @staticmethod
    def kill(process: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
        """Signal a child and everything it started (its pool processes)."""
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        process.wait(timeout=30)

    def stop(self) -> None:
        """Stop every child: politely first, then for good."""
        children = [p for p in [self.api, *self.workers] if p is not None]
        for child in children:
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for child in children:
            try:
                child.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                self.kill(child)
        self.api, self.workers = None, []

    def __enter__(self) -> ServiceStack:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
