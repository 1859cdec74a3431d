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
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

import httpx


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


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
