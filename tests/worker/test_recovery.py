"""Workers die; jobs do not. Each test runs a service of its own on a fresh
database, on both backends, and kills or withholds its workers."""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from cli.stack import ServiceStack
from tests.helpers import all_points, job_spec, submit, wait_for, wait_for_progress

# Long enough to be killed mid-run, short enough to finish quickly after.
LONG_RUN = job_spec(iterations=3000, eval_interval=100)


@pytest.fixture
def service(make_service: Callable[..., ServiceStack]) -> ServiceStack:
    """An API with no worker yet; each test starts the workers it needs."""
    return make_service()


@pytest.fixture
def client(service: ServiceStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=service.base_url, timeout=30) as http:
        yield http


def pool_children(worker_pid: int) -> list[int]:
    """Pids of a Celery worker's pool processes."""
    path = Path(f"/proc/{worker_pid}/task/{worker_pid}/children")
    return [int(pid) for pid in path.read_text().split()]


def assert_one_point_per_step(client: httpx.Client, job_id: int, steps: int) -> None:
    points = all_points(client, job_id)
    assert [p["step"] for p in points] == list(range(1, steps + 1))
    # A restarted run's clock continues from its stored steps.
    elapsed = [p["elapsed_s"] for p in points]
    assert elapsed == sorted(elapsed)


def test_job_survives_sigkill_of_its_worker_and_finishes_on_a_new_one(
    service: ServiceStack, client: httpx.Client
) -> None:
    first = service.start_worker()
    job_id = submit(client, LONG_RUN)["id"]
    wait_for_progress(client, job_id, 700)

    service.kill(first, signal.SIGKILL)
    killed_at = client.get(f"/jobs/{job_id}").json()
    assert killed_at["status"] == "running"
    service.start_worker()

    job = wait_for(client, job_id, timeout=120)
    assert job["status"] == "succeeded", job["error"]
    assert job["attempts"] == 2
    assert_one_point_per_step(client, job_id, 3000)


def test_job_survives_sigkill_of_the_pool_process_running_it(
    service: ServiceStack, client: httpx.Client
) -> None:
    worker = service.start_worker()
    job_id = submit(client, LONG_RUN)["id"]
    wait_for_progress(client, job_id, 700)

    # The worker's main process sees its pool process die, puts the message
    # back (reject_on_worker_lost) and the redelivery takes the job over.
    for child in pool_children(worker.pid):
        os.kill(child, signal.SIGKILL)

    job = wait_for(client, job_id, timeout=120)
    assert job["status"] == "succeeded", job["error"]
    assert job["attempts"] == 2
    assert_one_point_per_step(client, job_id, 3000)


def test_job_whose_worker_keeps_dying_ends_failed_with_the_reason(
    make_service: Callable[..., ServiceStack],
) -> None:
    stack = make_service(TRAINJOBS_MAX_ATTEMPTS="1")
    worker = stack.start_worker()
    with httpx.Client(base_url=stack.base_url, timeout=30) as client:
        job_id = submit(client, LONG_RUN)["id"]
        wait_for_progress(client, job_id, 300)
        stack.kill(worker, signal.SIGKILL)
        stack.start_worker()  # its sweeper finds the silent job

        job = wait_for(client, job_id, timeout=60)

    assert job["status"] == "failed"
    assert job["error"].startswith("worker lost 1 times")
    assert job["progress"]["step"] >= 300


def test_queued_jobs_report_their_position_until_a_worker_starts(
    service: ServiceStack, client: httpx.Client
) -> None:
    ids = [submit(client, job_spec(iterations=30))["id"] for _ in range(3)]

    positions = [client.get(f"/jobs/{i}").json()["queue_position"] for i in ids]
    cancelled = client.post(f"/jobs/{ids[0]}/cancel").json()
    after_cancel = [client.get(f"/jobs/{i}").json()["queue_position"] for i in ids[1:]]
    service.start_worker()
    finished = [wait_for(client, i) for i in ids[1:]]

    assert positions == [1, 2, 3]
    assert cancelled["status"] == "cancelled"
    assert after_cancel == [1, 2]
    assert [job["status"] for job in finished] == ["succeeded", "succeeded"]
    assert [job["queue_position"] for job in finished] == [None, None]
    # The cancelled job's message was still queued; the worker dropped it.
    assert client.get(f"/jobs/{ids[0]}").json()["status"] == "cancelled"
    assert all_points(client, ids[0]) == []


def test_two_worker_processes_share_ten_jobs(
    service: ServiceStack, client: httpx.Client
) -> None:
    service.start_worker()
    service.start_worker()
    ids = [submit(client, job_spec(iterations=400, seed=i))["id"] for i in range(10)]

    jobs = [wait_for(client, job_id, timeout=180) for job_id in ids]

    assert {job["status"] for job in jobs} == {"succeeded"}
    overlapping = [
        (a["id"], b["id"])
        for a in jobs
        for b in jobs
        if a["id"] < b["id"]
        and a["started_at"] < b["finished_at"]
        and b["started_at"] < a["finished_at"]
    ]
    assert overlapping, "two processes should have trained jobs at the same time"


def test_cancelling_a_job_whose_worker_died_ends_it_at_once(
    service: ServiceStack, client: httpx.Client
) -> None:
    worker = service.start_worker()
    job_id = submit(client, LONG_RUN)["id"]
    wait_for_progress(client, job_id, 300)
    service.kill(worker, signal.SIGKILL)
    time.sleep(3.5)  # past the heartbeat timeout; no sweeper is left to notice

    response = client.post(f"/jobs/{job_id}/cancel")

    assert response.status_code == 202
    assert response.json()["status"] == "cancelled"
    assert client.get(f"/jobs/{job_id}").json()["status"] == "cancelled"


def drop_queued_messages(env: dict[str, str]) -> None:
    """Lose every message waiting in the broker, as a restart without
    persistence would."""
    broker = env["TRAINJOBS_BROKER_URL"]
    if broker.startswith("redis://"):
        import redis

        connection = redis.Redis.from_url(broker)
        connection.delete(env["TRAINJOBS_QUEUE"])
        connection.close()
        return
    database = sqlite3.connect(broker.removeprefix("sqla+sqlite:///"))
    with database:
        database.execute("DELETE FROM kombu_message")
    database.close()


def test_a_job_whose_message_was_lost_is_sent_again(
    service: ServiceStack, client: httpx.Client
) -> None:
    job_id = submit(client, job_spec(iterations=30))["id"]
    drop_queued_messages(service.env)
    service.start_worker()

    job = wait_for(client, job_id, timeout=60)

    assert job["status"] == "succeeded"
    assert job["attempts"] == 1


def test_a_step_longer_than_the_heartbeat_timeout_does_not_look_dead(
    make_service: Callable[..., ServiceStack],
) -> None:
    # Metrics (and the heartbeat they carry) go out only every 8 s here, far
    # beyond the 2 s timeout: only the heartbeat thread keeps the job alive.
    stack = make_service(
        TRAINJOBS_FLUSH_INTERVAL_S="8", TRAINJOBS_HEARTBEAT_TIMEOUT_S="2"
    )
    stack.start_worker()
    with httpx.Client(base_url=stack.base_url, timeout=30) as client:
        job_id = submit(client, job_spec(iterations=4000, eval_interval=100))["id"]
        job = wait_for(client, job_id, timeout=120)

    assert job["status"] == "succeeded"
    assert job["attempts"] == 1
