"""The job lifecycle and leases, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import update

from core.db import session_scope
from core.errors import Conflict, LeaseLost
from core.jobs import (
    Claim,
    claim_job,
    create_job,
    find_by_idempotency_key,
    finish_job,
    get_job,
    request_cancel,
    request_hash,
    requeue_stale_jobs,
)
from core.metrics import ProgressUpdate, flush_progress
from core.models import Job, utcnow
from core.spec import JobSpec

SPEC = JobSpec.model_validate({"optimizer": {"name": "adam", "learning_rate": 0.01}})
TIMEOUT = dt.timedelta(seconds=30)


def new_job(database_url: str) -> int:
    with session_scope(database_url) as session:
        return create_job(session, SPEC).id


def claim(
    database_url: str, job_id: int, task_id: str, max_attempts: int = 3
) -> Claim | None:
    with session_scope(database_url) as session:
        return claim_job(
            session,
            job_id,
            task_id=task_id,
            heartbeat_timeout=TIMEOUT,
            max_attempts=max_attempts,
        )


def heartbeat(database_url: str, job_id: int, token: str) -> bool:
    with session_scope(database_url) as session:
        return flush_progress(session, job_id, token, [], [], ProgressUpdate(0, None))


def age_heartbeat(database_url: str, job_id: int, seconds: float) -> None:
    with session_scope(database_url) as session:
        session.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(heartbeat_at=utcnow() - dt.timedelta(seconds=seconds))
        )


def test_a_live_job_cannot_be_claimed_twice(database_url: str) -> None:
    job_id = new_job(database_url)

    first = claim(database_url, job_id, "task-a")
    duplicate = claim(database_url, job_id, "task-b")

    assert first is not None and first.attempt == 1 and first.stored_through == 0
    assert duplicate is None
    with session_scope(database_url) as session:
        assert get_job(session, job_id).status == "running"


def test_redelivery_of_the_same_message_takes_over_and_fences_the_old_lease(
    database_url: str,
) -> None:
    job_id = new_job(database_url)
    old = claim(database_url, job_id, "task-a")

    new = claim(database_url, job_id, "task-a")

    assert old is not None and new is not None and new.token != old.token
    assert new.attempt == 2
    with pytest.raises(LeaseLost):
        heartbeat(database_url, job_id, old.token)
    assert heartbeat(database_url, job_id, new.token) is False


def test_stale_job_is_requeued_then_failed_when_attempts_run_out(
    database_url: str,
) -> None:
    job_id = new_job(database_url)
    assert claim(database_url, job_id, "task-a") is not None
    age_heartbeat(database_url, job_id, 60)

    with session_scope(database_url) as session:
        requeued = requeue_stale_jobs(
            session, heartbeat_timeout=TIMEOUT, max_attempts=2
        )
    assert job_id in requeued
    assert claim(database_url, job_id, "task-b") is not None
    age_heartbeat(database_url, job_id, 60)
    with session_scope(database_url) as session:
        requeue_stale_jobs(session, heartbeat_timeout=TIMEOUT, max_attempts=2)
        job = get_job(session, job_id)

    assert job.status == "failed"
    assert job.error is not None and job.error.startswith("worker lost 2 times")


def test_fresh_running_jobs_are_left_alone_by_the_sweeper(database_url: str) -> None:
    job_id = new_job(database_url)
    assert claim(database_url, job_id, "task-a") is not None

    with session_scope(database_url) as session:
        requeued = requeue_stale_jobs(
            session, heartbeat_timeout=TIMEOUT, max_attempts=3
        )

    assert job_id not in requeued


def test_cancel_stops_queued_at_once_and_flags_running(database_url: str) -> None:
    queued, running = new_job(database_url), new_job(database_url)
    lease = claim(database_url, running, "task-a")
    assert lease is not None

    with session_scope(database_url) as session:
        assert request_cancel(session, queued).status == "cancelled"
        assert request_cancel(session, running).status == "running"

    assert heartbeat(database_url, running, lease.token) is True
    assert claim(database_url, queued, "task-b") is None  # its late message is dropped


def test_cancelling_a_finished_job_is_a_conflict(database_url: str) -> None:
    job_id = new_job(database_url)
    lease = claim(database_url, job_id, "task-a")
    assert lease is not None
    with session_scope(database_url) as session:
        finish_job(session, job_id, lease.token, "succeeded")

    with session_scope(database_url) as session, pytest.raises(Conflict) as error:
        request_cancel(session, job_id)

    assert str(error.value) == f"job {job_id} has already finished as succeeded"


def test_idempotency_key_reused_with_another_body_is_a_conflict(
    database_url: str,
) -> None:
    key = f"key-{utcnow().timestamp()}"
    with session_scope(database_url) as session:
        job = create_job(
            session, SPEC, idempotency_key=key, body_hash=request_hash({"a": 1})
        )

    with session_scope(database_url) as session:
        found = find_by_idempotency_key(session, Job, key, request_hash({"a": 1}))
        assert found is not None and found.id == job.id
        with pytest.raises(Conflict, match="different request body"):
            find_by_idempotency_key(session, Job, key, request_hash({"a": 2}))


def test_a_job_never_handed_to_the_broker_is_returned_for_dispatch(
    database_url: str,
) -> None:
    job_id = new_job(database_url)
    with session_scope(database_url) as session:
        session.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(created_at=utcnow() - dt.timedelta(minutes=1))
        )
        assert job_id in requeue_stale_jobs(
            session, heartbeat_timeout=TIMEOUT, max_attempts=3
        )
