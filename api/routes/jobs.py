"""Jobs: submit, inspect, list, cancel, and read their metrics."""

from __future__ import annotations

import csv
import io
import unicodedata
from collections import OrderedDict
from typing import Annotated

import orjson
from fastapi import APIRouter, Header, Path, Query, Response, status
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

from api.deps import DatabaseUrl, check_dataset, require_json
from api.errors import query_error
from api.queue import dispatch
from api.schemas import JobPage, JobPublic
from core.db import session_scope
from core.jobs import (
    create_job,
    find_by_idempotency_key,
    get_job,
    list_jobs,
    queue_position,
    request_cancel,
    request_hash,
)
from core.metrics import POINT_FIELDS, iter_all_points, read_points
from core.models import FINISHED_STATUSES, JOB_STATUSES, Job
from core.settings import get_settings
from core.spec import MAX_ID, MAX_ITERATIONS, JobSpec

router = APIRouter(tags=["jobs"])

# Ids are SQL BIGINTs and steps INTEGERs: numbers outside them are refused
# here, before a database would fail on them.
JobId = Annotated[int, Path(ge=1, le=MAX_ID)]

IdempotencyKey = Annotated[
    str | None, Header(alias="Idempotency-Key", min_length=1, max_length=200)
]


@router.post(
    "/jobs",
    status_code=status.HTTP_201_CREATED,
    dependencies=[require_json],
    responses={409: {"description": "Idempotency-Key reused with another body"}},
)
def submit_job(
    spec: JobSpec,
    response: Response,
    database_url: DatabaseUrl,
    idempotency_key: IdempotencyKey = None,
) -> JobPublic:
    """Queue a training job; a retried POST with the same Idempotency-Key returns
    the job the first one created."""
    body_hash = request_hash(spec.model_dump(mode="json"))
    check_dataset(spec)

    try:
        with session_scope(database_url) as session:
            existing = (
                find_by_idempotency_key(session, Job, idempotency_key, body_hash)
                if idempotency_key
                else None
            )
            job = existing or create_job(
                session, spec, idempotency_key=idempotency_key, body_hash=body_hash
            )
            public = JobPublic.from_job(job, queue_position(session, job))
    except IntegrityError:
        # A concurrent POST with the same key won the insert; answer with its job.
        with session_scope(database_url) as session:
            existing = find_by_idempotency_key(
                session, Job, idempotency_key or "", body_hash
            )
            if existing is None:
                raise
            public = JobPublic.from_job(existing, queue_position(session, existing))

    if existing is None:
        dispatch([public.id])
    else:
        response.headers["Idempotent-Replayed"] = "true"
    response.headers["Location"] = f"/jobs/{public.id}"
    return public


@router.get("/jobs/{job_id}")
def read_job(job_id: JobId, database_url: DatabaseUrl) -> JobPublic:
    """One job: status, progress, summary, queue position and ETA."""
    with session_scope(database_url) as session:
        job = get_job(session, job_id)
        return JobPublic.from_job(job, queue_position(session, job))


@router.get("/jobs")
def read_jobs(
    database_url: DatabaseUrl,
    status_: Annotated[
        list[str] | None,
        Query(alias="status", description="repeat or comma-separate"),
    ] = None,
    tag: Annotated[
        list[str] | None, Query(description="key:value, repeatable; all must match")
    ] = None,
    sweep_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(pattern=r"^[0-9]{1,18}$")] = None,
) -> JobPage:
    """Jobs, newest first, one page at a time."""
    statuses = [s for value in status_ or [] for s in value.split(",") if s]
    unknown = sorted(set(statuses) - set(JOB_STATUSES))
    if unknown:
        raise query_error(
            "status", f"unknown status {unknown[0]!r}; one of {', '.join(JOB_STATUSES)}"
        )
    tags: dict[str, str] = {}
    for item in tag or []:
        key, sep, value = item.partition(":")
        if not sep or not key:
            raise query_error("tag", f"must look like key:value, got {item!r}")
        if any(unicodedata.category(char) == "Cc" for char in item):
            raise query_error(
                "tag", f"must not contain control characters, got {item!r}"
            )
        tags[key] = value

    with session_scope(database_url) as session:
        jobs = list_jobs(
            session,
            statuses=statuses,
            tags=tags,
            sweep_id=sweep_id,
            before_id=int(cursor) if cursor else None,
            limit=limit + 1,
        )
        page = [
            JobPublic.from_job(job, queue_position(session, job))
            for job in jobs[:limit]
        ]
    next_cursor = str(page[-1].id) if len(jobs) > limit else None
    return JobPage(jobs=page, next_cursor=next_cursor)


@router.post("/jobs/{job_id}/cancel", status_code=status.HTTP_202_ACCEPTED)
def cancel_job(job_id: JobId, database_url: DatabaseUrl) -> JobPublic:
    """Stop a job: at once if queued, within about a second if running."""
    with session_scope(database_url) as session:
        job = request_cancel(
            session,
            job_id,
            heartbeat_timeout=get_settings().heartbeat_timeout,
        )
        return JobPublic.from_job(job)


class _WindowCache:
    """Response bodies of finished jobs' metric windows, least recently used
    first out, up to `max_bytes` in all.

    Only touched from the event loop, so it needs no lock.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self._bodies: OrderedDict[tuple[str, int, int, int], bytes] = OrderedDict()

    def get(self, key: tuple[str, int, int, int]) -> bytes | None:
        body = self._bodies.get(key)
        if body is not None:
            self._bodies.move_to_end(key)
        return body

    def put(self, key: tuple[str, int, int, int], body: bytes) -> None:
        if len(body) > self.max_bytes or key in self._bodies:
            return
        self._bodies[key] = body
        self.size += len(body)
        while self.size > self.max_bytes:
            _, evicted = self._bodies.popitem(last=False)
            self.size -= len(evicted)


# NOTE: a finished job's points never change: no status leaves the finished
# ones, a worker writes only while its job is running, and nothing deletes a
# job. So each window of a finished job is read from the database once per
# API process and then served as the same bytes. 64 MiB holds ~480 windows
# of 1,000 points.
_finished_windows = _WindowCache(max_bytes=64 * 2**20)


def _metrics_window(
    database_url: str, job_id: int, after_step: int, limit: int
) -> tuple[bytes, bool]:
    """The response body for one window, and whether the job had finished.

    The status is read before the points: a job seen finished has all its
    points stored already, so its window is complete and final.
    """
    with session_scope(database_url) as session:
        job_status = get_job(session, job_id).status
        rows = read_points(session, job_id, after_step=after_step, limit=limit)

    body = {
        "job_id": job_id,
        "status": job_status,
        "points": [dict(zip(POINT_FIELDS, row, strict=True)) for row in rows],
        "next_after_step": rows[-1][0] if rows else after_step,
    }
    return orjson.dumps(body), job_status in FINISHED_STATUSES


@router.get("/jobs/{job_id}/metrics")
async def read_metrics(
    job_id: JobId,
    database_url: DatabaseUrl,
    after_step: Annotated[int, Query(ge=0, le=MAX_ITERATIONS)] = 0,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> Response:
    """Points after `after_step` in step order; poll again with `next_after_step`."""
    # NOTE: async on purpose: a cached window is served without a hop to a
    # worker thread, which under 50 concurrent readers is most of the cost.
    key = (database_url, job_id, after_step, limit)
    cached = _finished_windows.get(key)
    if cached is not None:
        return Response(cached, media_type="application/json")

    body, finished = await run_in_threadpool(
        _metrics_window, database_url, job_id, after_step, limit
    )
    if finished:
        _finished_windows.put(key, body)
    return Response(body, media_type="application/json")


@router.get("/jobs/{job_id}/metrics.csv")
def read_metrics_csv(job_id: JobId, database_url: DatabaseUrl) -> Response:
    """The whole series as CSV, one row per step; empty cells for no value."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(POINT_FIELDS)
    with session_scope(database_url) as session:
        get_job(session, job_id)
        for row in iter_all_points(session, job_id):
            writer.writerow("" if value is None else repr(value) for value in row)

    return Response(
        buffer.getvalue(),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="job-{job_id}.csv"'},
    )
