"""SQL tables shared by the API and the workers.

The schema itself comes only from Alembic migrations; these classes describe
it to SQLAlchemy and must match the latest revision (a test checks).

Non-finite metric values: SQLite cannot store NaN and the JSON API cannot
return it, so every metric is stored as a finite float or NULL. A NaN or
infinite loss ends a run as *diverged*; the job row keeps the step in
`diverged_at`, and that step's loss is NULL.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")

JOB_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled", "diverged")
FINISHED_STATUSES = frozenset({"succeeded", "failed", "cancelled", "diverged"})
METRIC_NAMES = ("loss", "train_accuracy", "test_accuracy", "learning_rate")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timestamps stored in UTC and always read back timezone-aware.

    SQLite has no timezone type and returns naive values; PostgreSQL's
    timestamptz returns aware ones. Callers see aware UTC either way.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given; use an aware UTC time")
        if value is not None and dialect.name == "sqlite":
            return value.astimezone(dt.UTC).replace(tzinfo=None)
        return value

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dt.datetime: UTCDateTime,
        dict[str, Any]: JSON,
    }


class Sweep(Base):
    """A grid of configurations, each trained once per seed."""

    __tablename__ = "sweeps"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str | None] = mapped_column(String(200))
    base_spec: Mapped[dict[str, Any]]
    grid: Mapped[dict[str, Any]]
    seeds: Mapped[list[int]] = mapped_column(JSON)
    job_count: Mapped[int] = mapped_column(Integer)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    request_hash: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Job(Base):
    """One training run and its lifecycle.

    Lease: a worker owns a running job while `lease_token` is its token and
    `heartbeat_at` is fresh. Every write a worker makes is conditional on
    the token, so a worker presumed dead and replaced can no longer write.
    """

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    spec: Mapped[dict[str, Any]]
    dataset: Mapped[str] = mapped_column(String(64))
    optimizer: Mapped[str] = mapped_column(String(16))
    learning_rate: Mapped[float] = mapped_column(Float)
    seed: Mapped[int] = mapped_column(BigInteger)
    tags: Mapped[dict[str, Any]]

    sweep_id: Mapped[int | None] = mapped_column(
        ForeignKey("sweeps.id", ondelete="CASCADE")
    )
    sweep_config: Mapped[dict[str, Any] | None]
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    request_hash: Mapped[str | None] = mapped_column(String(64))

    total_steps: Mapped[int] = mapped_column(Integer)
    progress_step: Mapped[int] = mapped_column(Integer, default=0)
    seconds_per_step: Mapped[float | None] = mapped_column(Float)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_token: Mapped[str | None] = mapped_column(String(64))
    lease_task_id: Mapped[str | None] = mapped_column(String(64))
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)

    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    dispatched_at: Mapped[dt.datetime | None]
    started_at: Mapped[dt.datetime | None]
    heartbeat_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]

    error: Mapped[str | None] = mapped_column(Text)
    final_loss: Mapped[float | None] = mapped_column(Float)
    final_test_accuracy: Mapped[float | None] = mapped_column(Float)
    best_test_accuracy: Mapped[float | None] = mapped_column(Float)
    best_step: Mapped[int | None] = mapped_column(Integer)
    duration_s: Mapped[float | None] = mapped_column(Float)
    diverged_at: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (
        Index("ix_jobs_status_id", "status", "id"),
        Index("ix_jobs_sweep_id", "sweep_id"),
    )


class JobTag(Base):
    """One `key:value` tag of a job, for filtering lists by tag."""

    __tablename__ = "job_tags"

    job_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))

    __table_args__ = (Index("ix_job_tags_key_value", "key", "value", "job_id"),)


class Metric(Base):
    """One iteration of one job; (job_id, step) is unique, so a replayed
    write can never duplicate a step."""

    __tablename__ = "metrics"

    job_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True
    )
    step: Mapped[int] = mapped_column(Integer, primary_key=True)
    loss: Mapped[float | None] = mapped_column(Float)
    train_accuracy: Mapped[float | None] = mapped_column(Float)
    test_accuracy: Mapped[float | None] = mapped_column(Float)
    learning_rate: Mapped[float | None] = mapped_column(Float)
    elapsed_s: Mapped[float | None] = mapped_column(Float)


class MetricBlock(Base):
    """Summary of one metric over one block of consecutive steps.

    Block k covers steps k*B+1 .. (k+1)*B (B = `core.series.BLOCK_STEPS`).
    Long series are downsampled and summarised from these rows instead of
    from every step. Only recorded (non-NULL) values count; a block with
    none is not stored. `area` is the trapezoid area between the block's
    own consecutive recorded points.
    """

    __tablename__ = "metric_blocks"

    job_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True
    )
    metric: Mapped[str] = mapped_column(String(16), primary_key=True)
    block: Mapped[int] = mapped_column(Integer, primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    min_value: Mapped[float] = mapped_column(Float)
    min_step: Mapped[int] = mapped_column(Integer)
    max_value: Mapped[float] = mapped_column(Float)
    max_step: Mapped[int] = mapped_column(Integer)
    first_step: Mapped[int] = mapped_column(Integer)
    first_value: Mapped[float] = mapped_column(Float)
    last_step: Mapped[int] = mapped_column(Integer)
    last_value: Mapped[float] = mapped_column(Float)
    area: Mapped[float] = mapped_column(Float)
