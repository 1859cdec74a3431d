"""Response models. Requests are `core.spec.JobSpec` (and `SweepCreate`)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel

from core.jobs import eta_seconds
from core.models import Job


class Progress(BaseModel):
    step: int
    total: int


class Summary(BaseModel):
    final_loss: float | None
    final_test_accuracy: float | None
    best_test_accuracy: float | None
    best_step: int | None
    duration_s: float | None
    diverged_at: int | None


class JobPublic(BaseModel):
    id: int
    name: str
    status: str
    dataset: str
    optimizer: str
    learning_rate: float
    seed: int
    tags: dict[str, str]
    sweep_id: int | None
    spec: dict[str, Any]
    progress: Progress
    summary: Summary
    error: str | None
    attempts: int
    queue_position: int | None
    eta_s: float | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None

    @classmethod
    def from_job(cls, job: Job, queue_position: int | None = None) -> JobPublic:
        return cls(
            id=job.id,
            name=job.name,
            status=job.status,
            dataset=job.dataset,
            optimizer=job.optimizer,
            learning_rate=job.learning_rate,
            seed=job.seed,
            tags=job.tags,
            sweep_id=job.sweep_id,
            spec=job.spec,
            progress=Progress(step=job.progress_step, total=job.total_steps),
            summary=Summary(
                final_loss=job.final_loss,
                final_test_accuracy=job.final_test_accuracy,
                best_test_accuracy=job.best_test_accuracy,
                best_step=job.best_step,
                duration_s=job.duration_s,
                diverged_at=job.diverged_at,
            ),
            error=job.error,
            attempts=job.attempts,
            queue_position=queue_position,
            eta_s=eta_seconds(job),
            created_at=job.created_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
        )


class JobPage(BaseModel):
    jobs: list[JobPublic]
    next_cursor: str | None


class DatasetPublic(BaseModel):
    name: str
    train_size: int
    test_size: int
    features: int
    classes: int
    path: str
    source: str


class Health(BaseModel):
    status: str
    database: str | None = None
    broker: str | None = None


class Crossing(BaseModel):
    step: int
    elapsed_s: float | None


class RunSummaryPublic(BaseModel):
    final: float | None
    best: float | None
    best_step: int | None
    thresholds: dict[str, Crossing | None]
    auc: float | None
    diverged_at: int | None


class RunSeriesPublic(BaseModel):
    job_id: int
    name: str
    status: str
    optimizer: str
    learning_rate: float
    seed: int
    values: list[float | None]
    min: list[float | None]
    max: list[float | None]
    summary: RunSummaryPublic


class ComparisonPublic(BaseModel):
    metric: str
    steps: list[int]
    bucket_steps: int
    runs: list[RunSeriesPublic]


class SpreadPublic(BaseModel):
    mean: float | None
    low: float | None
    high: float | None
    sd: float | None
    n: int


class ConfigurationPublic(BaseModel):
    rank: int
    label: str
    config: dict[str, Any]
    job_ids: list[int]
    seeds: list[int]
    finished: int
    mean: list[float | None]
    low: list[float | None]
    high: list[float | None]
    final: SpreadPublic
    best: SpreadPublic
    paired_vs_leader: SpreadPublic | None


class SweepJob(BaseModel):
    id: int
    name: str
    status: str
    seed: int
    config: dict[str, Any] | None
    progress: Progress


class SweepPublic(BaseModel):
    id: int
    name: str | None
    created_at: dt.datetime
    job_count: int
    status_counts: dict[str, int]
    grid: dict[str, Any]
    seeds: list[int]
    metric: str
    steps: list[int]
    jobs: list[SweepJob]
    configurations: list[ConfigurationPublic]


class SweepListItem(BaseModel):
    id: int
    name: str | None
    created_at: dt.datetime
    job_count: int
    grid: dict[str, Any]
    seeds: list[int]
