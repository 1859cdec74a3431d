"""Sweeps: one job per grid combination and seed, summarised across seeds."""

from __future__ import annotations

from collections import Counter
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Path, Query, Response, status
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from api.deps import DatabaseUrl, check_dataset, require_json
from api.queue import dispatch
from api.schemas import (
    ConfigurationPublic,
    Progress,
    SpreadPublic,
    SweepJob,
    SweepListItem,
    SweepPublic,
)
from core.db import session_scope
from core.jobs import find_by_idempotency_key, request_cancel, request_hash
from core.models import FINISHED_STATUSES, Sweep
from core.settings import get_settings
from core.spec import MAX_ID
from core.sweeps import (
    Spread,
    SweepRequest,
    create_sweep,
    expand,
    get_sweep,
    sweep_jobs,
    sweep_stats,
)

router = APIRouter(tags=["sweeps"])

Metric = Literal["loss", "train_accuracy", "test_accuracy", "learning_rate"]
SweepId = Annotated[int, Path(ge=1, le=MAX_ID)]


def _spread(spread: Spread) -> SpreadPublic:
    return SpreadPublic(
        mean=spread.mean, low=spread.low, high=spread.high, sd=spread.sd, n=spread.n
    )


def _read_sweep(
    database_url: str, sweep_id: int, metric: str, max_points: int
) -> SweepPublic:
    with session_scope(database_url) as session:
        sweep = get_sweep(session, sweep_id)
        stats = sweep_stats(session, sweep_id, metric, max_points=max_points)
    jobs = stats.jobs

    return SweepPublic(
        id=sweep.id,
        name=sweep.name,
        created_at=sweep.created_at,
        job_count=sweep.job_count,
        status_counts=dict(Counter(job.status for job in jobs)),
        grid=sweep.grid,
        seeds=sweep.seeds,
        metric=metric,
        steps=stats.steps,
        jobs=[
            SweepJob(
                id=job.id,
                name=job.name,
                status=job.status,
                seed=job.seed,
                config=job.sweep_config,
                progress=Progress(step=job.progress_step, total=job.total_steps),
            )
            for job in jobs
        ],
        configurations=[
            ConfigurationPublic(
                rank=c.rank,
                label=c.label,
                config=c.config,
                job_ids=c.job_ids,
                seeds=c.seeds,
                finished=c.finished,
                mean=c.mean,
                low=c.low,
                high=c.high,
                final=_spread(c.final),
                best=_spread(c.best),
                paired_vs_leader=None
                if c.paired_vs_leader is None
                else _spread(c.paired_vs_leader),
            )
            for c in stats.configurations
        ],
    )


@router.post(
    "/sweeps", status_code=status.HTTP_201_CREATED, dependencies=[require_json]
)
def submit_sweep(
    request: SweepRequest,
    response: Response,
    database_url: DatabaseUrl,
    idempotency_key: Annotated[
        str | None, Header(alias="Idempotency-Key", min_length=1, max_length=200)
    ] = None,
) -> SweepPublic:
    """Queue one job per combination of the grid and seed (at most 200)."""
    body_hash = request_hash(request.model_dump(mode="json"))
    sweep_id = _earlier_sweep(database_url, idempotency_key, body_hash)
    if sweep_id is None:
        planned = expand(request)
        for plan in {p.spec.dataset: p for p in planned}.values():
            check_dataset(plan.spec)
        try:
            with session_scope(database_url) as session:
                sweep, jobs = create_sweep(
                    session,
                    request,
                    planned,
                    idempotency_key=idempotency_key,
                    body_hash=body_hash,
                )
                sweep_id, job_ids = sweep.id, [job.id for job in jobs]
        except IntegrityError:
            # A concurrent POST with the same key won the insert: answer with its sweep.
            sweep_id = _earlier_sweep(database_url, idempotency_key, body_hash)
            if sweep_id is None:
                raise
            response.headers["Idempotent-Replayed"] = "true"
        else:
            dispatch(job_ids)
    else:
        response.headers["Idempotent-Replayed"] = "true"

    response.headers["Location"] = f"/sweeps/{sweep_id}"
    return _read_sweep(database_url, sweep_id, "test_accuracy", 200)


def _earlier_sweep(database_url: str, key: str | None, body_hash: str) -> int | None:
    """The id of the sweep an earlier POST with this key created, if any."""
    if not key:
        return None
    with session_scope(database_url) as session:
        sweep = find_by_idempotency_key(session, Sweep, key, body_hash)
        return None if sweep is None else sweep.id


@router.get("/sweeps")
def read_sweeps(
    database_url: DatabaseUrl, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> list[SweepListItem]:
    """Sweeps, newest first."""
    with session_scope(database_url) as session:
        sweeps = session.scalars(select(Sweep).order_by(Sweep.id.desc()).limit(limit))
        return [
            SweepListItem(
                id=s.id,
                name=s.name,
                created_at=s.created_at,
                job_count=s.job_count,
                grid=s.grid,
                seeds=s.seeds,
            )
            for s in sweeps
        ]


@router.get("/sweeps/{sweep_id}")
def read_sweep(
    sweep_id: SweepId,
    database_url: DatabaseUrl,
    metric: Metric = "test_accuracy",
    max_points: Annotated[int, Query(ge=2, le=2000)] = 200,
) -> SweepPublic:
    """Each job's status; per configuration the mean and 95% interval across
    seeds per step, final and best spreads, and the ranking."""
    return _read_sweep(database_url, sweep_id, metric, max_points)


@router.post("/sweeps/{sweep_id}/cancel", status_code=status.HTTP_202_ACCEPTED)
def cancel_sweep(sweep_id: SweepId, database_url: DatabaseUrl) -> SweepPublic:
    """Cancel every job of the sweep that has not finished."""
    with session_scope(database_url) as session:
        get_sweep(session, sweep_id)
        for job in sweep_jobs(session, sweep_id):
            if job.status not in FINISHED_STATUSES:
                request_cancel(
                    session, job.id, heartbeat_timeout=get_settings().heartbeat_timeout
                )
    return _read_sweep(database_url, sweep_id, "test_accuracy", 200)
