"""The one task: train a job, given only its id."""

from __future__ import annotations

import logging
import time
from typing import Any

from celery import Task
from sqlalchemy.exc import OperationalError

from core.db import session_scope
from core.errors import DatasetError, LeaseLost, SpecError
from core.jobs import claim_job, fail_job
from core.queueing import TRAIN_TASK
from core.runner import JobRunner
from core.settings import get_settings
from worker.app import app

logger = logging.getLogger(__name__)

# Delays before retrying after a database outage: 2, 4, 8, ... seconds.
MAX_RETRIES = 6


@app.task(name=TRAIN_TASK, bind=True, max_retries=MAX_RETRIES)
def train_job(self: Task[Any, Any], job_id: int) -> str:
    """Claim the job, train it, write its metrics; return how it ended."""
    settings = get_settings()
    task_id = self.request.id or "unknown"
    context = {"job_id": job_id, "task_id": task_id}

    def scope() -> Any:
        return session_scope(settings.database_url)

    def fail(reason: str) -> None:
        # With the lease token when there is one: a job another worker has
        # taken over meanwhile is not this delivery's to fail.
        with scope() as session:
            fail_job(session, job_id, reason, token=claim.token if claim else None)

    claim = None
    try:
        with scope() as session:
            claim = claim_job(
                session,
                job_id,
                task_id=task_id,
                heartbeat_timeout=settings.heartbeat_timeout,
                max_attempts=settings.max_attempts,
            )
        if claim is None:
            logger.info("delivery dropped: job is not claimable", extra=context)
            return "dropped"

        spec = claim.spec
        logger.info(
            "job running",
            extra={
                **context,
                "status": "running",
                "attempt": claim.attempt,
                "dataset": spec["dataset"],
                "optimizer": spec["optimizer"]["name"],
                "learning_rate": spec["optimizer"]["learning_rate"],
                "iterations": spec["training"]["iterations"],
                "resume_after": claim.stored_through,
            },
        )
        started = time.monotonic()
        status = JobRunner(
            claim,
            scope,
            flush_interval=settings.flush_interval_s,
            heartbeat_interval=settings.heartbeat_timeout_s / 4,
            data_dirs=settings.data_dir_list,
            cache_dir=settings.cache_dir / "datasets",
        ).run()
    except LeaseLost:
        logger.warning("job taken over by another worker; stopping", extra=context)
        return "lease lost"
    except (DatasetError, SpecError) as exc:
        # The job cannot run anywhere until the machine changes: no retry.
        fail(str(exc))
        logger.info("job failed: %s", exc, extra={**context, "status": "failed"})
        return "failed"
    except OperationalError as exc:
        # The database went away. The job stays running under this task id,
        # so the retried delivery takes it straight back.
        countdown = 2 ** (self.request.retries + 1)
        logger.warning(
            "database unavailable; retrying in %ss", countdown, extra=context
        )
        raise self.retry(exc=exc, countdown=countdown) from exc
    except Exception as exc:
        logger.exception("job crashed", extra=context)
        fail(f"{type(exc).__name__}: {exc}")
        return "failed"

    logger.info(
        "job finished",
        extra={
            **context,
            "status": status,
            "dataset": spec["dataset"],
            "optimizer": spec["optimizer"]["name"],
            "duration_s": round(time.monotonic() - started, 3),
        },
    )
    return status
