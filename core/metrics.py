"""Writing and reading per-step metrics.

A running job's worker buffers records and writes them in batches together
with its heartbeat, in one transaction fenced by its lease token. Steps are
inserted with ON CONFLICT DO NOTHING, so a replayed batch never duplicates a
step. Alongside the raw rows it keeps one `MetricBlock` per metric and block
of `BLOCK_STEPS` steps, which lets long series be downsampled and summarised
without touching every row.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Table, func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from core.errors import LeaseLost
from core.models import METRIC_NAMES, Job, Metric, MetricBlock, utcnow
from core.training import StepRecord

BLOCK_STEPS = 64
POINT_FIELDS = ("step", *METRIC_NAMES, "elapsed_s")

_metrics_table: Table = Metric.__table__  # type: ignore[assignment]
_blocks_table: Table = MetricBlock.__table__  # type: ignore[assignment]


def finite_or_none(value: float | None) -> float | None:
    """NaN and infinities are stored (and served) as NULL."""
    if value is None or not math.isfinite(value):
        return None
    return float(value)


def block_of(step: int) -> int:
    """Block k holds steps k*B+1 .. (k+1)*B."""
    return (step - 1) // BLOCK_STEPS


def summarize_block(
    metric: str, block: int, points: Sequence[tuple[int, float]]
) -> dict[str, Any] | None:
    """The `MetricBlock` row for one block's recorded (step, value) points.

    Points must be in step order and finite; None when there are none.
    """
    if not points:
        return None

    min_step, min_value = points[0]
    max_step, max_value = points[0]
    area = 0.0
    for (step_a, value_a), (step_b, value_b) in itertools.pairwise(points):
        area += (step_b - step_a) * (value_a + value_b) / 2
    for step, value in points:
        # Strict comparisons keep the first step that reaches an extreme.
        if value < min_value:
            min_step, min_value = step, value
        if value > max_value:
            max_step, max_value = step, value

    return {
        "metric": metric,
        "block": block,
        "count": len(points),
        "min_value": min_value,
        "min_step": min_step,
        "max_value": max_value,
        "max_step": max_step,
        "first_step": points[0][0],
        "first_value": points[0][1],
        "last_step": points[-1][0],
        "last_value": points[-1][1],
        "area": area,
    }


def record_row(job_id: int, record: StepRecord) -> dict[str, Any]:
    return {
        "job_id": job_id,
        "step": record.step,
        "loss": finite_or_none(record.loss),
        "train_accuracy": finite_or_none(record.train_accuracy),
        "test_accuracy": finite_or_none(record.test_accuracy),
        "learning_rate": finite_or_none(record.learning_rate),
        "elapsed_s": record.elapsed_s,
    }


def block_rows(job_id: int, rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Block summaries of every metric over the blocks these rows touch.

    `rows` must hold every row of each block it touches, in step order.
    """
    by_block: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        by_block.setdefault(block_of(row["step"]), []).append(row)

    summaries = []
    for block, block_rows_ in by_block.items():
        for metric in METRIC_NAMES:
            points = [
                (r["step"], r[metric]) for r in block_rows_ if r[metric] is not None
            ]
            summary = summarize_block(metric, block, points)
            if summary is not None:
                summaries.append({"job_id": job_id, **summary})
    return summaries


def _insert(session: Session, table: Table) -> Any:
    """The dialect's INSERT, which knows ON CONFLICT."""
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


# PostgreSQL: a batch of rows travels as one JSON array, turned back into rows
# by the server, so it is one statement and one round trip whatever its size.
# A list of parameter sets would go out as one statement per row (psycopg's
# pipelined executemany, ~30 µs a row), and arrays per column cost more to
# encode in Python than orjson's ~0.2 ms per 1,000 rows. JSON numbers carry
# floats exactly (shortest round-trip form); orjson writes NaN and infinities
# as null, which is the storage rule anyway (see `finite_or_none`).
_INSERT_POINTS_PG = text(
    "INSERT INTO metrics "
    "(job_id, step, loss, train_accuracy, test_accuracy, learning_rate, elapsed_s) "
    "SELECT * FROM json_to_recordset(CAST(:rows AS json)) AS r("
    "job_id bigint, step integer, loss float8, train_accuracy float8, "
    "test_accuracy float8, learning_rate float8, elapsed_s float8) "
    "ON CONFLICT (job_id, step) DO NOTHING"
)


def insert_points(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Insert metric rows, skipping steps that are already stored."""
    if not rows:
        return
    if session.get_bind().dialect.name == "postgresql":
        payload = orjson.dumps(list(rows), option=orjson.OPT_SERIALIZE_NUMPY)
        session.execute(_INSERT_POINTS_PG, {"rows": payload.decode()})
        return
    statement = _insert(session, _metrics_table).on_conflict_do_nothing(
        index_elements=["job_id", "step"]
    )
    session.execute(statement, list(rows))


def upsert_blocks(session: Session, blocks: Sequence[dict[str, Any]]) -> None:
    """Write block summaries, replacing any earlier version of a block."""
    if not blocks:
        return
    statement = _insert(session, _blocks_table)
    keys = ("job_id", "metric", "block")
    statement = statement.on_conflict_do_update(
        index_elements=list(keys),
        set_={
            column.name: statement.excluded[column.name]
            for column in _blocks_table.columns
            if column.name not in keys
        },
    )
    session.execute(statement, list(blocks))


def store_points(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Write whole blocks of rows of one job and their summaries, unfenced.

    For imports, benchmarks and tests; a running worker uses
    `flush_progress`, which also checks its lease.
    """
    if rows:
        insert_points(session, rows)
        upsert_blocks(session, block_rows(rows[0]["job_id"], rows))


@dataclass(frozen=True)
class ProgressUpdate:
    progress_step: int
    seconds_per_step: float | None


def flush_progress(
    session: Session,
    job_id: int,
    token: str,
    rows: Sequence[dict[str, Any]],
    blocks: Sequence[dict[str, Any]],
    progress: ProgressUpdate,
) -> bool:
    """Write a batch and the heartbeat; return whether a cancel was requested.

    The heartbeat update comes first and locks the job row, so two workers
    that both believe they own the job write one after the other, and the
    one whose token is stale stops here.

    Raises:
        LeaseLost: this worker no longer owns the job.
    """
    cancel_requested = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.lease_token == token, Job.status == "running")
        .values(
            heartbeat_at=utcnow(),
            progress_step=func.max(Job.progress_step, progress.progress_step)
            if session.get_bind().dialect.name == "sqlite"
            else func.greatest(Job.progress_step, progress.progress_step),
            seconds_per_step=progress.seconds_per_step,
        )
        .returning(Job.cancel_requested)
    ).scalar_one_or_none()
    if cancel_requested is None:
        raise LeaseLost(f"job {job_id} is no longer held by lease {token[:8]}")

    insert_points(session, rows)
    upsert_blocks(session, blocks)
    return bool(cancel_requested)


def read_points(
    session: Session, job_id: int, *, after_step: int = 0, limit: int = 1000
) -> list[tuple[Any, ...]]:
    """Raw points after a step, in step order, as tuples in POINT_FIELDS order."""
    table = _metrics_table
    query = (
        select(*(table.c[name] for name in POINT_FIELDS))
        .where(table.c.job_id == job_id, table.c.step > after_step)
        .order_by(table.c.step)
        .limit(limit)
    )
    return [tuple(row) for row in session.execute(query)]


def iter_all_points(session: Session, job_id: int) -> Iterable[tuple[Any, ...]]:
    """Every point of a job in step order, streamed in pages."""
    after = 0
    while True:
        page = read_points(session, job_id, after_step=after, limit=10_000)
        yield from page
        if len(page) < 10_000:
            return
        after = page[-1][0]


@dataclass(frozen=True)
class JobSummary:
    final_loss: float | None
    final_test_accuracy: float | None
    best_test_accuracy: float | None
    best_step: int | None


def summarize_job(session: Session, job_id: int) -> JobSummary:
    """Final and best numbers of a job, from its stored blocks."""
    blocks = _blocks_table

    def last_value(metric: str) -> float | None:
        return session.scalar(
            select(blocks.c.last_value)
            .where(blocks.c.job_id == job_id, blocks.c.metric == metric)
            .order_by(blocks.c.block.desc())
            .limit(1)
        )

    best = session.execute(
        select(blocks.c.max_value, blocks.c.max_step)
        .where(blocks.c.job_id == job_id, blocks.c.metric == "test_accuracy")
        .order_by(blocks.c.max_value.desc(), blocks.c.max_step)
        .limit(1)
    ).first()
    return JobSummary(
        final_loss=last_value("loss"),
        final_test_accuracy=last_value("test_accuracy"),
        best_test_accuracy=None if best is None else best[0],
        best_step=None if best is None else best[1],
    )
