"""Readiness tells an operator what is wrong, starting with a missing schema."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from cli.stack import ServiceStack


def test_readyz_is_503_and_says_to_migrate_until_migrations_run(
    make_service: Callable[..., ServiceStack],
) -> None:
    stack = make_service(migrate=False)

    before = httpx.get(f"{stack.base_url}/readyz", timeout=30)
    stack.migrate()
    after = httpx.get(f"{stack.base_url}/readyz", timeout=30)

    assert before.status_code == 503
    assert before.json() == {
        "status": "unavailable",
        "database": "not migrated: run `trainjobs migrate`",
        "broker": "ok",
    }
    assert after.status_code == 200
    assert after.json()["database"] == "ok"
