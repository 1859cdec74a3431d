"""The API's side of the broker: sending a job's id to the workers."""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence

from celery import Celery

from core.db import session_scope
from core.jobs import mark_dispatched
from core.queueing import TRAIN_TASK, celery_config
from core.settings import get_settings

logger = logging.getLogger(__name__)

# Give up on an unreachable broker quickly; the worker's sweeper resends
# every job whose message never left, so nothing is lost by failing fast.
_PUBLISH_RETRY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2}


@functools.cache
def producer() -> Celery:
    app = Celery("trainjobs-api")
    app.conf.update(celery_config(get_settings()))
    return app


def dispatch(job_ids: Sequence[int]) -> list[int]:
    """Send each job to the workers; return the ids that were sent.

    Jobs that could not be sent stay queued and undispatched; the sweeper
    sends them once the broker is back.
    """
    sent = []
    for job_id in job_ids:
        try:
            producer().send_task(
                TRAIN_TASK, args=[job_id], retry=True, retry_policy=_PUBLISH_RETRY
            )
        except Exception as exc:  # kombu raises several unrelated types
            logger.warning(
                "broker unreachable; job left for the sweeper: %s",
                exc,
                extra={"job_id": job_id},
            )
            break
        sent.append(job_id)

    if sent:
        with session_scope(get_settings().database_url) as session:
            mark_dispatched(session, sent)
    return sent


def broker_reachable(timeout: float = 2.0) -> bool:
    """True when a connection to the broker can be opened."""
    try:
        with producer().connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=timeout)
    except Exception:
        return False
    return True
