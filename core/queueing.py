"""What the API and the workers agree on about the broker.

Both sides build their own Celery app from `celery_config`; they share the
task's name and queue, never each other's code. A message carries a job id
and nothing else: the spec is read from the database.
"""

from __future__ import annotations

from typing import Any

from core.settings import Settings

TRAIN_TASK = "trainjobs.train_job"


def celery_config(settings: Settings) -> dict[str, Any]:
    """Celery settings for the API's producer and the worker alike."""
    return {
        "broker_url": settings.broker_url,
        # Results live in the jobs table; Celery's result store stays unused.
        "task_ignore_result": True,
        "result_backend": None,
        "task_serializer": "json",
        "accept_content": ["json"],
        "task_default_queue": settings.queue,
        "task_routes": {TRAIN_TASK: {"queue": settings.queue}},
        # Acknowledge after the task ends, and put the message back when the
        # process running it dies, so a killed worker loses no job.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        # One job at a time per process: a second prefetched job would wait
        # behind a long run while another worker sits idle.
        "worker_prefetch_multiplier": 1,
        "broker_connection_retry_on_startup": True,
        "broker_transport_options": _transport_options(settings),
        "worker_hijack_root_logger": False,
        "worker_send_task_events": False,
    }


def _transport_options(settings: Settings) -> dict[str, Any]:
    broker_url = settings.broker_url
    if broker_url.startswith("sqla+"):
        # Kombu hands these straight to SQLAlchemy's create_engine. SQLite
        # locks the whole file for a write; wait for it rather than fail.
        return {"connect_args": {"timeout": 30}}
    if broker_url.startswith(("redis://", "rediss://")):
        return {"visibility_timeout": settings.visibility_timeout_s}
    return {}
