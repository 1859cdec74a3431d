"""Several runs on one shared x-axis: JSON, PNG and SVG."""

from __future__ import annotations

import math
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from api.charts import render
from api.deps import DatabaseUrl
from api.errors import query_error
from api.schemas import ComparisonPublic, Crossing, RunSeriesPublic, RunSummaryPublic
from core.db import session_scope
from core.series import Comparison, compare

router = APIRouter(tags=["compare"])

MAX_RUNS = 50
MAX_THRESHOLDS = 10
Metric = Literal["loss", "train_accuracy", "test_accuracy", "learning_rate"]
MaxPoints = Annotated[int, Query(ge=2, le=5000)]
JobIds = Annotated[str, Query(description="comma-separated job ids, at most 50")]
Thresholds = Annotated[
    str | None, Query(description="comma-separated values, e.g. 0.5,0.9")
]


def parse_job_ids(raw: str) -> list[int]:
    parts = [part.strip() for part in raw.split(",") if part.strip()]
    if not parts:
        raise query_error("job_ids", "give at least one job id")
    if len(parts) > MAX_RUNS:
        raise query_error("job_ids", f"at most {MAX_RUNS} jobs, got {len(parts)}")
    # isascii: str.isdigit also accepts digits such as "²" that int() refuses.
    if not all(part.isascii() and part.isdigit() and len(part) <= 18 for part in parts):
        raise query_error(
            "job_ids", f"must be comma-separated integers, got {raw[:100]!r}"
        )
    ids = [int(part) for part in parts]
    return list(dict.fromkeys(ids))  # keep order, drop repeats


def parse_thresholds(raw: str | None) -> list[float]:
    if not raw:
        return []
    try:
        values = [float(part) for part in raw.split(",") if part.strip()]
    except ValueError:
        raise query_error(
            "thresholds", f"must be comma-separated numbers, got {raw[:100]!r}"
        ) from None
    if len(values) > MAX_THRESHOLDS:
        raise query_error(
            "thresholds", f"at most {MAX_THRESHOLDS} values, got {len(values)}"
        )
    if not all(math.isfinite(v) for v in values):
        raise query_error("thresholds", "values must be finite")
    return values


def comparison_public(comparison: Comparison) -> ComparisonPublic:
    return ComparisonPublic(
        metric=comparison.metric,
        steps=comparison.steps,
        bucket_steps=comparison.bucket_steps,
        runs=[
            RunSeriesPublic(
                job_id=run.job.id,
                name=run.job.name,
                status=run.job.status,
                optimizer=run.job.optimizer,
                learning_rate=run.job.learning_rate,
                seed=run.job.seed,
                values=run.values,
                min=run.minimum,
                max=run.maximum,
                summary=RunSummaryPublic(
                    final=run.summary.final,
                    best=run.summary.best,
                    best_step=run.summary.best_step,
                    thresholds={
                        key: None if hit is None else Crossing.model_validate(hit)
                        for key, hit in run.summary.thresholds.items()
                    },
                    auc=run.summary.auc,
                    diverged_at=run.summary.diverged_at,
                ),
            )
            for run in comparison.runs
        ],
    )


def _compare(
    database_url: str,
    job_ids: str,
    metric: str,
    max_points: int,
    thresholds: str | None,
) -> Comparison:
    ids, levels = parse_job_ids(job_ids), parse_thresholds(thresholds)
    with session_scope(database_url) as session:
        return compare(session, ids, metric, max_points=max_points, thresholds=levels)


@router.get("/compare")
def compare_runs(
    database_url: DatabaseUrl,
    job_ids: JobIds,
    metric: Metric = "test_accuracy",
    max_points: MaxPoints = 500,
    thresholds: Thresholds = None,
) -> ComparisonPublic:
    """Runs aligned on one step axis, downsampled with extremes kept, with exact
    summaries (final, best, threshold crossings, area, divergence)."""
    return comparison_public(
        _compare(database_url, job_ids, metric, max_points, thresholds)
    )


@router.get("/compare/chart.{image_format}", response_class=Response)
def compare_chart(
    image_format: Literal["png", "svg"],
    database_url: DatabaseUrl,
    job_ids: JobIds,
    metric: Metric = "test_accuracy",
    max_points: MaxPoints = 500,
    log_y: bool = False,
    title: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """The comparison drawn as a chart: one line per run, labelled by name."""
    comparison = _compare(database_url, job_ids, metric, max_points, None)
    media_type = "image/png" if image_format == "png" else "image/svg+xml"
    return Response(
        render(comparison, image_format, log_y=log_y, title=title),
        media_type=media_type,
    )
