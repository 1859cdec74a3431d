"""Jobs and their lifecycle, as repository functions over a session.

States::

    queued ──claim──> running ──finish──> succeeded | diverged | cancelled
      │                  │  └──error────> failed
      │                  └──heartbeat lost──> queued (requeued) or failed
      └──cancel──> cancelled

A worker owns a running job through its lease token; every write it makes
is conditional on that token (see `core.metrics.flush_progress`), so when
the sweeper hands a silent job to another worker the old one is fenced out.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from core.errors import Conflict, LeaseLost, NotFound
from core.metrics import summarize_job
from core.models import FINISHED_STATUSES, Job, JobTag, Metric, Sweep, utcnow
from core.spec import JobSpec

logger = logging.getLogger(__name__)

# A job is resent when its message was never handed to the broker (the API
# died between commit and publish) for this long.
UNDISPATCHED_GRACE = dt.timedelta(seconds=10)


def request_hash(payload: Any) -> str:
    """A digest of a request body, to tell a retried POST from a new one."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


Idempotent = TypeVar("Idempotent", Job, Sweep)


def find_by_idempotency_key(
    session: Session, model: type[Idempotent], key: str, body_hash: str
) -> Idempotent | None:
    """The job (or sweep) an earlier POST with this key created, if any.

    Raises:
        Conflict: the key was used before with a different body.
    """
    found = session.scalar(select(model).where(model.idempotency_key == key))
    if found is not None and found.request_hash != body_hash:
        raise Conflict(
            f"Idempotency-Key {key!r} was already used with a different request body"
        )
    return found


def create_job(
    session: Session,
    spec: JobSpec,
    *,
    idempotency_key: str | None = None,
    body_hash: str | None = None,
    sweep_id: int | None = None,
    sweep_config: dict[str, Any] | None = None,
) -> Job:
    """Store a new queued job; the caller commits, then dispatches it."""
    job = Job(
        name=spec.display_name(),
        status="queued",
        spec=spec.model_dump(mode="json"),
        dataset=spec.dataset,
        optimizer=spec.optimizer.name,
        learning_rate=spec.optimizer.learning_rate,
        seed=spec.training.seed,
        tags=dict(spec.tags),
        sweep_id=sweep_id,
        sweep_config=sweep_config,
        idempotency_key=idempotency_key,
        request_hash=body_hash,
        total_steps=spec.training.iterations,
        progress_step=0,
        attempts=0,
        cancel_requested=False,
        created_at=utcnow(),
    )
    session.add(job)
    session.flush()

    session.add_all(
        JobTag(job_id=job.id, key=key, value=value) for key, value in spec.tags.items()
    )
    logger.info(
        "job queued",
        extra={
            "job_id": job.id,
            "status": "queued",
            "dataset": job.dataset,
            "optimizer": job.optimizer,
            "sweep_id": sweep_id,
        },
    )
    return job


def get_job(session: Session, job_id: int, *, for_update: bool = False) -> Job:
    """The job with this id.

    Raises:
        NotFound: no such job.
    """
    job = session.get(Job, job_id, with_for_update=for_update)
    if job is None:
        raise NotFound(f"job {job_id} not found")
    return job


def list_jobs(
    session: Session,
    *,
    statuses: Sequence[str] = (),
    tags: dict[str, str] | None = None,
    sweep_id: int | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> list[Job]:
    """Newest first; `before_id` is the cursor (the last id of the previous page)."""
    query = select(Job).order_by(Job.id.desc()).limit(limit)
    if statuses:
        query = query.where(Job.status.in_(statuses))
    if sweep_id is not None:
        query = query.where(Job.sweep_id == sweep_id)
    if before_id is not None:
        query = query.where(Job.id < before_id)
    for key, value in (tags or {}).items():
        tagged = select(JobTag.job_id).where(JobTag.key == key, JobTag.value == value)
        query = query.where(Job.id.in_(tagged))
    return list(session.scalars(query))


def mark_dispatched(session: Session, job_ids: Sequence[int]) -> None:
    """Record that these jobs' messages reached the broker."""
    session.execute(
        update(Job)
        .where(Job.id.in_(job_ids), Job.status == "queued")
        .values(dispatched_at=utcnow())
    )


def queue_position(session: Session, job: Job) -> int | None:
    """1 for the next queued job to start, None unless this one is queued."""
    if job.status != "queued":
        return None
    ahead = session.scalar(
        select(func.count()).where(Job.status == "queued", Job.id < job.id)
    )
    return int(ahead or 0) + 1


def eta_seconds(job: Job) -> float | None:
    """Seconds left for a running job at its smoothed pace, else None."""
    if job.status != "running" or job.seconds_per_step is None:
        return None
    return max(job.total_steps - job.progress_step, 0) * job.seconds_per_step


def request_cancel(
    session: Session, job_id: int, *, heartbeat_timeout: dt.timedelta | None = None
) -> Job:
    """Cancel a queued job at once, or ask its worker to stop a running one.

    A running job whose heartbeat is older than `heartbeat_timeout` has no
    live worker to ask, so it is cancelled at once too.

    Raises:
        NotFound: no such job.
        Conflict: the job has already finished.
    """
    job = get_job(session, job_id, for_update=True)
    if job.status in FINISHED_STATUSES:
        raise Conflict(f"job {job_id} has already finished as {job.status}")

    job.cancel_requested = True
    silent = (
        job.status == "running"
        and heartbeat_timeout is not None
        and (
            job.heartbeat_at is None or job.heartbeat_at < utcnow() - heartbeat_timeout
        )
    )
    if job.status == "queued" or silent:
        # A queued job's message may still be in the broker; the worker that
        # receives it finds the job cancelled and drops it. A silent worker
        # that comes back finds its lease gone.
        previous = job.status
        job.status = "cancelled"
        job.finished_at = utcnow()
        job.lease_token = None
        logger.info(
            "job cancelled while %s",
            previous,
            extra={"job_id": job.id, "status": "cancelled"},
        )
    return job


@dataclass(frozen=True)
class Claim:
    """A worker's hold on a running job."""

    job_id: int
    token: str
    spec: dict[str, Any]
    attempt: int
    stored_through: int  # highest step already in the metrics table
    stored_elapsed: float = 0.0  # that step's elapsed_s


def claim_job(
    session: Session,
    job_id: int,
    *,
    task_id: str,
    heartbeat_timeout: dt.timedelta,
    max_attempts: int,
) -> Claim | None:
    """Take a job for this delivery, or None if it is not ours to run.

    A delivery may take a queued job; a running one only when its heartbeat
    is stale (its worker died) or when this very message was running it
    before (the broker redelivered it after the process running it died).
    Anything else is a duplicate delivery, dropped without harm.
    """
    job = session.get(Job, job_id, with_for_update=True)
    if job is None:
        return None

    now = utcnow()
    stale = job.heartbeat_at is None or job.heartbeat_at < now - heartbeat_timeout
    takeover = job.status == "running" and (stale or job.lease_task_id == task_id)
    if job.status != "queued" and not takeover:
        return None

    if job.attempts >= max_attempts:
        _fail(job, f"gave up after {job.attempts} attempts: the worker kept dying")
        return None

    job.status = "running"
    job.lease_token = uuid.uuid4().hex
    job.lease_task_id = task_id
    job.attempts += 1
    job.heartbeat_at = now
    job.started_at = job.started_at or now

    stored = int(
        session.scalar(select(func.max(Metric.step)).where(Metric.job_id == job_id))
        or 0
    )
    stored_elapsed = session.scalar(
        select(Metric.elapsed_s).where(Metric.job_id == job_id, Metric.step == stored)
    )
    return Claim(
        job_id=job.id,
        token=job.lease_token,
        spec=job.spec,
        attempt=job.attempts,
        stored_through=stored,
        stored_elapsed=float(stored_elapsed or 0.0),
    )


def renew_lease(session: Session, job_id: int, token: str) -> bool:
    """Refresh the heartbeat of a job this worker owns; False if it does not."""
    renewed = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.lease_token == token, Job.status == "running")
        .values(heartbeat_at=utcnow())
        .returning(Job.id)
    ).first()
    return renewed is not None


def _fail(job: Job, reason: str) -> None:
    job.status = "failed"
    job.error = reason
    job.finished_at = utcnow()
    job.lease_token = None
    logger.warning(
        "job %s failed: %s",
        job.id,
        reason,
        extra={"job_id": job.id, "status": "failed"},
    )


def fail_job(session: Session, job_id: int, reason: str, token: str | None) -> bool:
    """Mark a job failed; with a token, only if this worker still owns it."""
    job = session.get(Job, job_id, with_for_update=True)
    if job is None or job.status in FINISHED_STATUSES:
        return False
    if token is not None and job.lease_token != token:
        return False
    _fail(job, reason)
    return True


def requeue_stale_jobs(
    session: Session,
    *,
    heartbeat_timeout: dt.timedelta,
    max_attempts: int,
    resend_dispatched_after: dt.timedelta | None = None,
) -> list[int]:
    """Hand back jobs whose worker went silent; return the ids to dispatch.

    Also returns queued jobs whose message never reached the broker, and,
    with `resend_dispatched_after` (the caller saw an empty queue), queued
    jobs sent longer ago than that: their message was lost. A job that has
    used up its attempts is failed with the reason instead.
    """
    now = utcnow()
    silent = session.scalars(
        select(Job)
        .where(Job.status == "running", Job.heartbeat_at < now - heartbeat_timeout)
        .with_for_update(skip_locked=True)
    ).all()

    to_dispatch: list[int] = []
    for job in silent:
        if job.attempts >= max_attempts:
            _fail(
                job,
                f"worker lost {job.attempts} times; last heartbeat {job.heartbeat_at}",
            )
            continue
        job.status = "queued"
        job.lease_token = None
        job.dispatched_at = None
        to_dispatch.append(job.id)
        logger.warning(
            "job %s requeued: no heartbeat since %s",
            job.id,
            job.heartbeat_at,
            extra={"job_id": job.id, "attempts": job.attempts},
        )

    undispatched = session.scalars(
        select(Job.id).where(
            Job.status == "queued",
            Job.dispatched_at.is_(None),
            Job.created_at < now - UNDISPATCHED_GRACE,
        )
    ).all()
    lost: Sequence[int] = []
    if resend_dispatched_after is not None:
        lost = session.scalars(
            select(Job.id).where(
                Job.status == "queued",
                Job.dispatched_at < now - resend_dispatched_after,
            )
        ).all()
        if lost:
            logger.warning(
                "resending %d queued jobs whose messages are gone",
                len(lost),
                extra={"job_ids": list(lost)},
            )
    return sorted(set(to_dispatch) | set(undispatched) | set(lost))


def finish_job(
    session: Session,
    job_id: int,
    token: str,
    status: str,
    *,
    diverged_at: int | None = None,
) -> Job:
    """End a run this worker owns, with its summary computed from storage.

    Raises:
        LeaseLost: the job is no longer this worker's.
    """
    job = session.get(Job, job_id, with_for_update=True)
    if job is None or job.lease_token != token or job.status != "running":
        raise LeaseLost(f"job {job_id} is no longer held by lease {token[:8]}")

    summary = summarize_job(session, job_id)
    now = utcnow()
    job.status = status
    job.finished_at = now
    job.lease_token = None
    job.diverged_at = diverged_at
    # A diverged run's last loss is not a number; its last finite one would
    # mislead, so the final loss stays empty.
    job.final_loss = None if status == "diverged" else summary.final_loss
    job.final_test_accuracy = summary.final_test_accuracy
    job.best_test_accuracy = summary.best_test_accuracy
    job.best_step = summary.best_step
    if job.started_at is not None:
        job.duration_s = (now - job.started_at).total_seconds()
    return job
