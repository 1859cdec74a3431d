"""Small builders and pollers shared by the service tests."""

from __future__ import annotations

import time
from typing import Any

import httpx

from core.models import FINISHED_STATUSES

FINISHED = set(FINISHED_STATUSES)


def job_spec(
    optimizer: str = "adam",
    learning_rate: float = 0.01,
    iterations: int = 200,
    eval_interval: int = 10,
    seed: int = 0,
    **top_level: Any,
) -> dict[str, Any]:
    """A small valid spec on the built-in digits."""
    return {
        "dataset": "mnist-10k",
        "optimizer": {"name": optimizer, "learning_rate": learning_rate},
        "training": {
            "iterations": iterations,
            "eval_interval": eval_interval,
            "seed": seed,
        },
        **top_level,
    }


def submit(
    client: httpx.Client, spec: dict[str, Any], **headers: str
) -> dict[str, Any]:
    response = client.post("/jobs", json=spec, headers=headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def wait_for(
    client: httpx.Client,
    job_id: int,
    statuses: set[str] = FINISHED,
    timeout: float = 120.0,
) -> dict[str, Any]:
    """Poll a job until its status is one of `statuses`."""
    deadline = time.monotonic() + timeout
    while True:
        job: dict[str, Any] = client.get(f"/jobs/{job_id}").json()
        if job["status"] in statuses:
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} still {job['status']} after {timeout}s")
        time.sleep(0.1)


def wait_for_progress(
    client: httpx.Client, job_id: int, step: int, timeout: float = 60.0
) -> dict[str, Any]:
    """Poll a job until it has stored at least `step` steps."""
    deadline = time.monotonic() + timeout
    while True:
        job: dict[str, Any] = client.get(f"/jobs/{job_id}").json()
        if job["progress"]["step"] >= step or job["status"] in FINISHED:
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} at {job['progress']} after {timeout}s")
        time.sleep(0.05)


def all_points(
    client: httpx.Client, job_id: int, page: int = 1000
) -> list[dict[str, Any]]:
    """Every stored point, read with the same incremental polling a client uses."""
    points: list[dict[str, Any]] = []
    after = 0
    while True:
        body = client.get(
            f"/jobs/{job_id}/metrics", params={"after_step": after, "limit": page}
        ).json()
        points.extend(body["points"])
        if not body["points"]:
            return points
        after = body["next_after_step"]
