"""The Celery app, and the sweeper that requeues jobs whose worker died.

Run it with `trainjobs worker` or `celery -A worker.app worker`.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from typing import Any

from celery import Celery, signals

from core.db import session_scope
from core.jobs import mark_dispatched, requeue_stale_jobs
from core.logconfig import configure_logging
from core.queueing import TRAIN_TASK, celery_config
from core.settings import get_settings

logger = logging.getLogger(__name__)

settings = get_settings()
app = Celery("trainjobs", include=["worker.tasks"])
app.conf.update(celery_config(settings))


def sweep_once() -> list[int]:
    """Requeue jobs with a stale heartbeat and resend undelivered ones."""
    with session_scope(settings.database_url) as session:
        job_ids = requeue_stale_jobs(
            session,
            heartbeat_timeout=dt.timedelta(seconds=settings.heartbeat_timeout_s),
            max_attempts=settings.max_attempts,
        )
    for job_id in job_ids:
        app.send_task(TRAIN_TASK, args=[job_id])
    if job_ids:
        with session_scope(settings.database_url) as session:
            mark_dispatched(session, job_ids)
    return job_ids


class Sweeper(threading.Thread):
    """Runs `sweep_once` every `sweep_interval_s` in the worker's main process.

    Every worker runs one; they coordinate through row locks and the job's
    status, so two sweepers never requeue the same job twice.
    """

    def __init__(self) -> None:
        super().__init__(name="trainjobs-sweeper", daemon=True)
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(settings.sweep_interval_s):
            try:
                sweep_once()
            except Exception:
                # The next round tries again; a database blip must not kill
                # the thread that recovers jobs from blips.
                logger.exception("sweep failed")


_sweeper: Sweeper | None = None


@signals.setup_logging.connect
def _setup_logging(**_: Any) -> None:
    configure_logging(settings.log_level)


@signals.worker_ready.connect
def _start_sweeper(**_: Any) -> None:
    global _sweeper
    _sweeper = Sweeper()
    _sweeper.start()


@signals.worker_shutdown.connect
def _stop_sweeper(**_: Any) -> None:
    if _sweeper is not None:
        _sweeper.stopped.set()
