"""Live job events as server-sent events, resumable by step.

Event types:
    state    status, progress, queue position and ETA, sent when they change
    metrics  new points; the event id is the last step, so a reconnecting
             client's Last-Event-ID resumes right after it
    end      the job finished and every point has been sent
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from api.deps import DatabaseUrl
from core.db import session_scope
from core.jobs import eta_seconds, get_job, queue_position
from core.metrics import POINT_FIELDS, read_points
from core.models import FINISHED_STATUSES
from core.spec import MAX_ID, MAX_ITERATIONS

router = APIRouter(tags=["jobs"])

POLL_INTERVAL_S = 0.5
KEEPALIVE_S = 15.0
PAGE = 1000


def _snapshot(
    database_url: str, job_id: int, after_step: int
) -> tuple[dict[str, Any], list[Any]]:
    with session_scope(database_url) as session:
        job = get_job(session, job_id)
        state = {
            "status": job.status,
            "progress": {"step": job.progress_step, "total": job.total_steps},
            "queue_position": queue_position(session, job),
            "eta_s": eta_seconds(job),
            "error": job.error,
        }
        rows = read_points(session, job_id, after_step=after_step, limit=PAGE)
    return state, rows


def _event(kind: str, data: Any, event_id: int | None = None) -> bytes:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {kind}\ndata: ".encode() + orjson.dumps(data) + b"\n\n"


@router.get("/jobs/{job_id}/events", response_class=StreamingResponse)
async def job_events(
    job_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    request: Request,
    database_url: DatabaseUrl,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
    after_step: Annotated[int, Query(ge=0, le=MAX_ITERATIONS)] = 0,
) -> StreamingResponse:
    """Stream state changes and new points until the job ends; resumable with
    Last-Event-ID (the last step received)."""
    # An id that is not a step we could have sent is ignored, not an error:
    # browsers resend whatever the last event carried.
    if last_event_id and last_event_id.isdigit() and len(last_event_id) <= 7:
        after_step = max(after_step, min(int(last_event_id), MAX_ITERATIONS))
    # Raise NotFound (404) now, before the stream starts with a 200.
    first = await run_in_threadpool(_snapshot, database_url, job_id, after_step)

    async def stream() -> AsyncIterator[bytes]:
        after, sent_state = after_step, None
        snapshot: tuple[dict[str, Any], list[Any]] | None = first
        quiet_since = asyncio.get_running_loop().time()
        yield b"retry: 2000\n\n"

        while not await request.is_disconnected():
            if snapshot is None:
                snapshot = await run_in_threadpool(
                    _snapshot, database_url, job_id, after
                )
            state, rows = snapshot
            snapshot = None
            now = asyncio.get_running_loop().time()

            if state != sent_state:
                sent_state = state
                quiet_since = now
                yield _event("state", state)
            if rows:
                after = rows[-1][0]
                quiet_since = now
                points = [dict(zip(POINT_FIELDS, row, strict=True)) for row in rows]
                yield _event("metrics", {"points": points}, event_id=after)
            if state["status"] in FINISHED_STATUSES and len(rows) < PAGE:
                yield _event("end", {"status": state["status"], "last_step": after})
                return
            if now - quiet_since > KEEPALIVE_S:
                quiet_since = now
                yield b": keep-alive\n\n"
            if len(rows) < PAGE:
                await asyncio.sleep(POLL_INTERVAL_S)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
