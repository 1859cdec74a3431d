"""The Celery app, and the sweeper that requeues jobs whose worker died.

Run it with `trainjobs worker` or `celery -A worker.app worker`.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from celery import Celery, signals
from kombu.exceptions import ChannelError
from sqlalchemy.exc import OperationalError, ProgrammingError

from core.db import schema_missing, session_scope
from core.jobs import mark_dispatched, requeue_stale_jobs
from core.logconfig import configure_logging
from core.queueing import TRAIN_TASK, celery_config
from core.settings import get_settings

logger = logging.getLogger(__name__)

settings = get_settings()
app = Celery("trainjobs", include=["worker.tasks"])
app.conf.update(celery_config(settings))

if settings.broker_url.startswith("sqla+"):
    # NOTE: kombu's SQLAlchemy transport hands every transport option to
    # create_engine, so its polling interval (1 s, one job a second at best)
    # can only be set on the class.
    from kombu.transport import sqlalchemy as _sqla_transport

    _sqla_transport.Transport.polling_interval = 0.1

# A queued job sent longer ago than this, while the queue is empty, lost its
# message (a broker restarted without persistence, say).
LOST_MESSAGE_AFTER = 2 * settings.heartbeat_timeout


def queue_is_empty() -> bool:
    """True when the broker holds no message for the workers' queue."""
    try:
        with app.connection_for_read() as connection:
            declared = connection.default_channel.queue_declare(
                queue=settings.queue, passive=True
            )
    except ChannelError:
        return True  # the broker has forgotten the queue itself
    return int(declared.message_count) == 0


def sweep_once() -> list[int]:
    """Requeue jobs with a stale heartbeat and resend undelivered ones."""
    lost_before = None if not queue_is_empty() else LOST_MESSAGE_AFTER
    with session_scope(settings.database_url) as session:
        job_ids = requeue_stale_jobs(
            session,
            heartbeat_timeout=settings.heartbeat_timeout,
            max_attempts=settings.max_attempts,
            resend_dispatched_after=lost_before,
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
            except (OperationalError, ProgrammingError) as exc:
                if schema_missing(exc):
                    logger.warning(
                        "the database has no trainjobs tables; run `trainjobs migrate`"
                    )
                else:
                    logger.exception("sweep failed")
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
