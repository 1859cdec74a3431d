"""Readiness tells an operator what is wrong, starting with a missing schema."""

from __future__ import annotations

from pathlib import Path

import httpx

from cli.stack import ServiceStack
from tests.conftest import Backend, forget_queue, stack_env


def test_readyz_is_503_and_says_to_migrate_until_migrations_run(
    isolated_backend: Backend, tmp_path: Path
) -> None:
    env = stack_env(isolated_backend, tmp_path / "home")
    with ServiceStack(env, tmp_path / "logs") as stack:
        stack.start_api()
        before = httpx.get(f"{stack.base_url}/readyz", timeout=30)
        stack.migrate()
        after = httpx.get(f"{stack.base_url}/readyz", timeout=30)
    forget_queue(env)

    assert before.status_code == 503
    assert before.json() == {
        "status": "unavailable",
        "database": "not migrated: run `trainjobs migrate`",
        "broker": "ok",
    }
    assert after.status_code == 200
    assert after.json()["database"] == "ok"
