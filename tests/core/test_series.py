"""Downsampling and summaries, on SQLite and PostgreSQL, against plain NumPy."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pytest
from sqlalchemy import update

from core.db import session_scope
from core.errors import NotFound
from core.jobs import create_job
from core.metrics import store_points
from core.models import METRIC_NAMES, Job
from core.series import bucket_width, compare, summarize
from core.spec import JobSpec

SPEC = JobSpec.model_validate({"optimizer": {"name": "adam", "learning_rate": 0.01}})


def store_run(
    database_url: str,
    series: dict[str, Sequence[float | None]],
    elapsed_per_step: float = 0.5,
) -> int:
    """A job whose metrics are the given per-step series (None = not recorded)."""
    length = len(next(iter(series.values())))
    with session_scope(database_url) as session:
        job_id = create_job(session, SPEC).id
        rows = [
            {
                "job_id": job_id,
                "step": step,
                **{name: None for name in METRIC_NAMES},
                **{name: values[step - 1] for name, values in series.items()},
                "elapsed_s": step * elapsed_per_step,
            }
            for step in range(1, length + 1)
        ]
        store_points(session, rows)
    return job_id


def recorded(values: Sequence[float | None]) -> dict[int, float]:
    return {step: v for step, v in enumerate(values, start=1) if v is not None}


def test_summary_matches_hand_computed_values(database_url: str) -> None:
    job_id = store_run(database_url, {"test_accuracy": [None, 0.5, None, 0.9, None]})

    with session_scope(database_url) as session:
        result = compare(
            session, [job_id], "test_accuracy", thresholds=[0.5, 0.8, 0.95]
        )

    summary = result.runs[0].summary
    assert summary.final == 0.9
    assert summary.best == 0.9
    assert summary.best_step == 4
    assert summary.thresholds == {
        "0.5": {"step": 2, "elapsed_s": 1.0},
        "0.8": {"step": 4, "elapsed_s": 2.0},
        "0.95": None,
    }
    # Trapezoid (2, 0.5)-(4, 0.9): 2 * 1.4 / 2 = 1.4, over a span of 2 steps.
    assert summary.auc == pytest.approx(0.7)
    assert summary.diverged_at is None


def test_loss_summary_looks_for_the_minimum_and_crossings_downwards(
    database_url: str,
) -> None:
    loss = [2.3, 1.0, 1.5, 0.4, 0.4, 0.7]
    job_id = store_run(database_url, {"loss": loss})

    with session_scope(database_url) as session:
        result = compare(session, [job_id], "loss", thresholds=[1.0, 0.1])

    summary = result.runs[0].summary
    assert (summary.final, summary.best, summary.best_step) == (0.7, 0.4, 4)
    assert summary.thresholds == {"1": {"step": 2, "elapsed_s": 1.0}, "0.1": None}


def test_summary_spans_many_blocks_like_numpy(database_url: str) -> None:
    rng = np.random.default_rng(0)
    accuracy: list[float | None] = [None] * 1000
    for step in range(7, 1001, 7):
        accuracy[step - 1] = float(rng.random())
    job_id = store_run(database_url, {"test_accuracy": accuracy})

    with session_scope(database_url) as session:
        summary = compare(session, [job_id], "test_accuracy").runs[0].summary

    points = recorded(accuracy)
    steps, values = np.array(list(points)), np.array(list(points.values()))
    assert summary.auc == pytest.approx(
        np.trapezoid(values, steps) / (steps[-1] - steps[0])
    )
    assert summary.best == values.max()
    assert summary.best_step == steps[values.argmax()]
    assert summary.final == values[-1]


@pytest.mark.parametrize("length", [10, 500])
def test_every_point_comes_back_unchanged_when_max_points_allows(
    database_url: str, length: int
) -> None:
    loss = list(np.random.default_rng(length).random(length))
    job_id = store_run(database_url, {"loss": loss})

    with session_scope(database_url) as session:
        result = compare(session, [job_id], "loss", max_points=length)

    assert result.steps == list(range(1, length + 1))
    assert result.runs[0].values == loss
    assert result.runs[0].minimum == loss == result.runs[0].maximum
    assert result.bucket_steps == 1


@pytest.mark.parametrize(
    ("length", "max_points"), [(1000, 50), (20_000, 100), (5000, 7)]
)
def test_downsampling_keeps_ends_and_extremes_and_only_recorded_values(
    database_url: str, length: int, max_points: int
) -> None:
    rng = np.random.default_rng(length)
    loss = list(rng.random(length))
    spike = int(rng.integers(2, length - 1))
    loss[spike - 1] = 50.0  # a one-step spike
    job_id = store_run(database_url, {"loss": loss})

    with session_scope(database_url) as session:
        result = compare(session, [job_id], "loss", max_points=max_points)

    run = result.runs[0]
    assert len(result.steps) <= max_points
    assert result.steps[0] == 1 and result.steps[-1] == length
    assert run.values[0] == loss[0] and run.values[-1] == loss[-1]
    assert max(v for v in run.maximum if v is not None) == 50.0
    assert min(v for v in run.minimum if v is not None) == min(loss)
    assert set(run.values) <= set(loss)

    width = result.bucket_steps
    for step, value, low, high in zip(
        result.steps, run.values, run.minimum, run.maximum, strict=True
    ):
        if step == 1:
            continue
        start = ((step - 1) // width) * width + 1
        bucket = loss[start - 1 : step]
        assert value == loss[step - 1]  # a dense series: the bucket's last step
        assert (low, high) == (min(bucket), max(bucket))


def test_runs_of_different_lengths_share_one_axis(database_url: str) -> None:
    every_tenth = [(s % 100) / 100 if s % 10 == 0 else None for s in range(1, 3001)]
    long_run = store_run(database_url, {"test_accuracy": every_tenth})
    short = [None] * 700
    for step in range(25, 701, 25):
        short[step - 1] = step / 1000
    short_run = store_run(database_url, {"test_accuracy": short})

    with session_scope(database_url) as session:
        result = compare(
            session, [long_run, short_run], "test_accuracy", max_points=100
        )

    assert len(result.steps) <= 100
    assert all(len(run.values) == len(result.steps) for run in result.runs)
    short_values = result.runs[1].values
    # The short run's first and last recorded points are on the axis, exactly.
    assert short_values[result.steps.index(25)] == 0.025
    assert short_values[result.steps.index(700)] == 0.7
    # Nothing is drawn past its last step.
    width = result.bucket_steps
    assert all(
        v is None for s, v in zip(result.steps, short_values, strict=True) if s > 700
    )
    after_end = [
        v
        for s, v in zip(result.steps, short_values, strict=True)
        if (s - 1) // width * width + 1 > 700
    ]
    assert after_end and all(v is None for v in after_end)


def test_compare_names_every_unknown_job(database_url: str) -> None:
    job_id = store_run(database_url, {"loss": [1.0]})

    with session_scope(database_url) as session, pytest.raises(NotFound) as error:
        compare(session, [job_id, 99_999_998, 99_999_999], "loss")

    assert str(error.value) == "jobs not found: 99999998, 99999999"


def test_summary_of_a_run_without_points_is_empty(database_url: str) -> None:
    with session_scope(database_url) as session:
        job = create_job(session, SPEC)
        summary = summarize(session, job, "loss", thresholds=[0.5])

    assert summary.final is None and summary.auc is None
    assert summary.thresholds == {"0.5": None}


@pytest.mark.parametrize(
    ("last_step", "budget", "expected"),
    [(100, 500, 1), (1000, 500, 2), (1_000_000, 498, 2048), (64 * 500, 500, 64)],
)
def test_bucket_width_rounds_wide_buckets_to_whole_blocks(
    last_step: int, budget: int, expected: int
) -> None:
    width = bucket_width(last_step, budget)

    assert width == expected
    assert math.ceil(last_step / width) <= budget


def test_sparse_metric_comes_back_exact_when_its_points_fit(database_url: str) -> None:
    accuracy = [step / 1000 if step % 10 == 0 else None for step in range(1, 1001)]
    job_id = store_run(database_url, {"test_accuracy": accuracy})

    with session_scope(database_url) as session:
        result = compare(session, [job_id], "test_accuracy", max_points=500)

    assert result.bucket_steps == 1
    assert result.steps == list(range(10, 1001, 10))
    assert result.runs[0].values == [s / 1000 for s in range(10, 1001, 10)]


def test_threshold_keys_keep_every_digit_given(database_url: str) -> None:
    job_id = store_run(database_url, {"test_accuracy": [0.5, 0.9]})

    with session_scope(database_url) as session:
        summary = (
            compare(
                session,
                [job_id],
                "test_accuracy",
                thresholds=[0.8, 0.8000001, 0.123456789, 1.0],
            )
            .runs[0]
            .summary
        )

    assert list(summary.thresholds) == ["0.8", "0.8000001", "0.123456789", "1"]


def test_a_diverged_run_has_no_final_loss(database_url: str) -> None:
    job_id = store_run(database_url, {"loss": [2.3, 1e5, None]})
    with session_scope(database_url) as session:
        session.execute(
            update(Job).where(Job.id == job_id).values(status="diverged", diverged_at=3)
        )

    with session_scope(database_url) as session:
        summary = compare(session, [job_id], "loss").runs[0].summary

    assert summary.final is None
    assert summary.best == 2.3
    assert summary.diverged_at == 3
