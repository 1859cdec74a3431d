"""Several runs' metric series on one shared x-axis, plus exact summaries.

Downsampling. With `max_points` at least the longest run, every recorded
point comes back unchanged. Otherwise the steps 1..N are cut into equal
buckets once for all runs, and each run reports per bucket its last recorded
value (plotted at the bucket's last step) and the bucket's minimum and
maximum, so a one-step spike survives as an extreme. Each run's first and
last recorded step are added to the axis with their exact values. Only
recorded values are returned; nothing is interpolated or averaged.

When a bucket spans whole blocks of `BLOCK_STEPS` steps, it is answered from
the `metric_blocks` summaries (a million-step run has ~15,600 of them), not
from every row; narrower buckets read the rows themselves.

Summaries (final, best, thresholds, area) are computed at full resolution
from the blocks, never from the downsampled series.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table, case, func, literal, select
from sqlalchemy.orm import Session

from core.errors import NotFound
from core.metrics import BLOCK_STEPS
from core.models import Job, Metric, MetricBlock

_metrics: Table = Metric.__table__  # type: ignore[assignment]
_blocks: Table = MetricBlock.__table__  # type: ignore[assignment]

LOWER_IS_BETTER = frozenset({"loss"})


@dataclass
class RunSummary:
    final: float | None = None
    best: float | None = None
    best_step: int | None = None
    thresholds: dict[str, dict[str, float | int] | None] = field(default_factory=dict)
    auc: float | None = None
    diverged_at: int | None = None


@dataclass
class RunSeries:
    job: Job
    values: list[float | None]
    minimum: list[float | None]
    maximum: list[float | None]
    summary: RunSummary


@dataclass
class Comparison:
    metric: str
    steps: list[int]
    runs: list[RunSeries]
    bucket_steps: int  # 1 when every point is returned as recorded


def load_jobs(session: Session, job_ids: Sequence[int]) -> list[Job]:
    """The jobs in the order asked for.

    Raises:
        NotFound: naming every id that does not exist.
    """
    found = {
        job.id: job for job in session.scalars(select(Job).where(Job.id.in_(job_ids)))
    }
    missing = [job_id for job_id in job_ids if job_id not in found]
    if missing:
        raise NotFound(f"jobs not found: {', '.join(str(i) for i in missing)}")
    return [found[job_id] for job_id in job_ids]


def bucket_width(last_step: int, budget: int) -> int:
    """Steps per bucket so that `last_step` steps fit in `budget` buckets.

    Widths of a block or more are rounded up to whole blocks, so that such
    buckets can be answered from block summaries alone.
    """
    width = max(1, math.ceil(last_step / budget))
    if width >= BLOCK_STEPS:
        width = math.ceil(width / BLOCK_STEPS) * BLOCK_STEPS
    return width


def compare(
    session: Session,
    job_ids: Sequence[int],
    metric: str,
    *,
    max_points: int = 500,
    thresholds: Sequence[float] = (),
) -> Comparison:
    """Align runs on one step axis and summarise each at full resolution."""
    jobs = load_jobs(session, job_ids)
    column = _metrics.c[metric]
    extents = _extents(session, job_ids, metric)
    last_step = max((last for _, last in extents.values()), default=0)

    # Each run's first and last recorded step are always on the axis.
    anchors = sorted({step for extent in extents.values() for step in extent})
    budget = max(max_points - len(anchors), 1)
    exact = _fits_exactly(session, job_ids, metric, max_points)
    width = 1 if exact else bucket_width(last_step, budget)

    if width == 1:
        points = _exact_points(session, job_ids, column)
        steps = sorted({step for per_run in points.values() for step in per_run})
        runs = [
            RunSeries(
                job,
                [points[job.id].get(s) for s in steps],
                [points[job.id].get(s) for s in steps],
                [points[job.id].get(s) for s in steps],
                summarize(session, job, metric, thresholds),
            )
            for job in jobs
        ]
        return Comparison(metric, steps, runs, bucket_steps=1)

    edges = [
        min((b + 1) * width, last_step) for b in range(math.ceil(last_step / width))
    ]
    edge_set = set(edges)
    steps = sorted(edge_set | set(anchors))
    at_anchor = _values_at(session, job_ids, column, anchors)
    runs = []
    for job in jobs:
        buckets = _bucket_extremes(session, job.id, metric, width)
        run_last = extents.get(job.id, (0, 0))[1]
        values: list[float | None] = []
        low: list[float | None] = []
        high: list[float | None] = []
        for step in steps:
            if step > run_last:
                # Nothing is drawn past the step a run last recorded.
                values.append(None)
                low.append(None)
                high.append(None)
            elif step in edge_set or step == run_last:
                # At its own last step a run reports its last, partial bucket.
                bucket = buckets.get((step - 1) // width)
                values.append(None if bucket is None else bucket[2])
                low.append(None if bucket is None else bucket[0])
                high.append(None if bucket is None else bucket[1])
            else:
                # Another run's anchor: this run's exact value there, if any.
                value = at_anchor[job.id].get(step)
                values.append(value)
                low.append(value)
                high.append(value)
        runs.append(
            RunSeries(
                job, values, low, high, summarize(session, job, metric, thresholds)
            )
        )
    return Comparison(metric, steps, runs, bucket_steps=width)


def _fits_exactly(
    session: Session, job_ids: Sequence[int], metric: str, max_points: int
) -> bool:
    """Whether every recorded step of the metric, over all runs, fits the axis."""
    column = _metrics.c[metric]
    counts = [
        int(count)
        for (count,) in session.execute(
            select(func.sum(_blocks.c.count))
            .where(_blocks.c.job_id.in_(job_ids), _blocks.c.metric == metric)
            .group_by(_blocks.c.job_id)
        )
    ]
    if sum(counts) <= max_points:
        return True
    if max(counts) > max_points:
        return False
    # Runs evaluated at the same steps share them on the axis: count the union.
    union = session.execute(
        select(func.count(func.distinct(_metrics.c.step))).where(
            _metrics.c.job_id.in_(job_ids), column.is_not(None)
        )
    ).scalar_one()
    return int(union) <= max_points


def _extents(
    session: Session, job_ids: Sequence[int], metric: str
) -> dict[int, tuple[int, int]]:
    """First and last recorded step of the metric, per job that has any.

    Steps grow with the block number, so these are the first step of a job's
    lowest block and the last step of its highest: two probes of the primary
    key per job instead of an aggregate over all its blocks (15,625 of them
    for a million steps).
    """

    def edge(step: Any, order: Any) -> Any:
        return (
            select(step)
            .where(_blocks.c.job_id == Job.id, _blocks.c.metric == metric)
            .order_by(order)
            .limit(1)
            .scalar_subquery()
        )

    query = select(
        Job.id,
        edge(_blocks.c.first_step, _blocks.c.block.asc()),
        edge(_blocks.c.last_step, _blocks.c.block.desc()),
    ).where(Job.id.in_(job_ids))
    return {
        job_id: (first, last)
        for job_id, first, last in session.execute(query)
        if first is not None
    }


def _exact_points(
    session: Session, job_ids: Sequence[int], column: Any
) -> dict[int, dict[int, float]]:
    points: dict[int, dict[int, float]] = {job_id: {} for job_id in job_ids}
    query = select(_metrics.c.job_id, _metrics.c.step, column).where(
        _metrics.c.job_id.in_(job_ids), column.is_not(None)
    )
    for job_id, step, value in session.execute(query):
        points[job_id][step] = value
    return points


def _values_at(
    session: Session, job_ids: Sequence[int], column: Any, steps: Sequence[int]
) -> dict[int, dict[int, float]]:
    """Recorded values at exactly these steps, per job."""
    values: dict[int, dict[int, float]] = {job_id: {} for job_id in job_ids}
    query = select(_metrics.c.job_id, _metrics.c.step, column).where(
        _metrics.c.job_id.in_(job_ids), _metrics.c.step.in_(steps), column.is_not(None)
    )
    for job_id, step, value in session.execute(query):
        values[job_id][step] = value
    return values


def _bucket_extremes(
    session: Session, job_id: int, metric: str, width: int
) -> dict[int, tuple[float, float, float]]:
    """Per bucket: (min, max, last recorded value).

    One statement: the grouped extremes, each with a correlated lookup, by
    primary key, of the row that holds the bucket's last value. A subquery
    is always run as such a probe, whatever the planner's statistics say;
    a join was planned as a nested loop over every block when they were
    missing, and fetching the rows afterwards with an IN list of ~500 keys
    took over 100 ms once psycopg prepared it and PostgreSQL chose a
    generic plan.
    """
    if width % BLOCK_STEPS == 0:
        blocks_per_bucket = width // BLOCK_STEPS
        bucket = (_blocks.c.block // blocks_per_bucket).label("bucket")
        grouped = (
            select(
                bucket,
                func.min(_blocks.c.min_value).label("low"),
                func.max(_blocks.c.max_value).label("high"),
                func.max(_blocks.c.block).label("last_block"),
            )
            .where(_blocks.c.job_id == job_id, _blocks.c.metric == metric)
            .group_by(bucket)
            .subquery()
        )
        last = _blocks.alias("last")
        last_value = (
            select(last.c.last_value)
            .where(
                last.c.job_id == job_id,
                last.c.metric == metric,
                last.c.block == grouped.c.last_block,
            )
            .scalar_subquery()
        )
    else:
        column = _metrics.c[metric]
        bucket = ((_metrics.c.step - 1) // width).label("bucket")
        grouped = (
            select(
                bucket,
                func.min(column).label("low"),
                func.max(column).label("high"),
                func.max(_metrics.c.step).label("last_step"),
            )
            .where(_metrics.c.job_id == job_id, column.is_not(None))
            .group_by(bucket)
            .subquery()
        )
        last = _metrics.alias("last")
        last_value = (
            select(last.c[metric])
            .where(last.c.job_id == job_id, last.c.step == grouped.c.last_step)
            .scalar_subquery()
        )
    query = select(grouped.c.bucket, grouped.c.low, grouped.c.high, last_value)
    return {b: (low, high, value) for b, low, high, value in session.execute(query)}


def summarize(
    session: Session, job: Job, metric: str, thresholds: Sequence[float] = ()
) -> RunSummary:
    """Final, best, threshold crossings and normalised area, exactly.

    `best` is the maximum, or the minimum for the loss; `best_step` is the
    first step that reached it. A threshold is reached at the first step
    whose value is at or above it (at or below, for the loss). `auc` is the
    trapezoid area under the recorded points divided by the steps they span,
    i.e. the curve's mean height: for an accuracy it lies in [0, 1].
    """
    lower = metric in LOWER_IS_BETTER
    where = (_blocks.c.job_id == job.id, _blocks.c.metric == metric)
    summary = RunSummary(diverged_at=job.diverged_at)

    final = session.execute(
        select(_blocks.c.last_value)
        .where(*where)
        .order_by(_blocks.c.block.desc())
        .limit(1)
    ).scalar()
    if final is None:
        summary.thresholds = {_key(t): None for t in thresholds}
        return summary
    # A diverged run's last loss is not a number; its last finite one would
    # read as where it ended up, so it has no final loss (as on the job).
    summary.final = None if lower and job.status == "diverged" else final

    extreme = _blocks.c.min_value if lower else _blocks.c.max_value
    extreme_step = _blocks.c.min_step if lower else _blocks.c.max_step
    best = session.execute(
        select(extreme, extreme_step)
        .where(*where)
        .order_by(extreme.asc() if lower else extreme.desc(), extreme_step)
        .limit(1)
    ).one()
    summary.best, summary.best_step = best[0], best[1]
    summary.auc = _normalised_area(session, where)
    summary.thresholds = {
        _key(t): _first_crossing(session, job.id, metric, t, lower) for t in thresholds
    }
    return summary


def _normalised_area(session: Session, where: tuple[Any, ...]) -> float:
    """Trapezoid area over all recorded points / their step span."""
    previous_step = func.lag(_blocks.c.last_step).over(order_by=_blocks.c.block)
    previous_value = func.lag(_blocks.c.last_value).over(order_by=_blocks.c.block)
    ordered = (
        select(
            _blocks.c.area,
            _blocks.c.first_step,
            _blocks.c.first_value,
            _blocks.c.last_step,
            _blocks.c.last_value,
            previous_step.label("previous_step"),
            previous_value.label("previous_value"),
        )
        .where(*where)
        .subquery()
    )

    # Areas inside blocks, plus the segment joining each block to the last.
    joining = (
        (ordered.c.first_step - ordered.c.previous_step)
        * (ordered.c.first_value + ordered.c.previous_value)
        / literal(2.0)
    )
    inner, between, first_step, last_step, only_value = session.execute(
        select(
            func.sum(ordered.c.area),
            func.sum(case((ordered.c.previous_step.is_(None), 0.0), else_=joining)),
            func.min(ordered.c.first_step),
            func.max(ordered.c.last_step),
            func.max(ordered.c.last_value),
        )
    ).one()
    if last_step == first_step:
        return float(only_value)
    return float((inner + between) / (last_step - first_step))


def _first_crossing(
    session: Session, job_id: int, metric: str, threshold: float, lower: bool
) -> dict[str, float | int] | None:
    """Step and elapsed seconds where the metric first reached the threshold."""
    extreme = _blocks.c.min_value if lower else _blocks.c.max_value
    reached = extreme <= threshold if lower else extreme >= threshold
    block = session.execute(
        select(func.min(_blocks.c.block)).where(
            _blocks.c.job_id == job_id, _blocks.c.metric == metric, reached
        )
    ).scalar()
    if block is None:
        return None

    column = _metrics.c[metric]
    crossed = column <= threshold if lower else column >= threshold
    row = session.execute(
        select(_metrics.c.step, _metrics.c.elapsed_s)
        .where(
            _metrics.c.job_id == job_id,
            _metrics.c.step.between(block * BLOCK_STEPS + 1, (block + 1) * BLOCK_STEPS),
            crossed,
        )
        .order_by(_metrics.c.step)
        .limit(1)
    ).one()
    return {"step": row[0], "elapsed_s": row[1]}


def _key(threshold: float) -> str:
    """0.8 -> "0.8", 1.0 -> "1", 0.123456789 -> "0.123456789": short, exact."""
    short = f"{threshold:g}"
    return short if float(short) == threshold else repr(threshold)
