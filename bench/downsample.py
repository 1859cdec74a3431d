"""Downsampling a million-step run: `compare` in process and `GET /compare`.

One run writes a 1,000,000-step job (all four metrics at every step, except
the test accuracy, recorded every 10 steps) with `store_points`, in chunks of
whole blocks, into a scratch PostgreSQL database and into SQLite. Then, per
database, it times `compare(session, [job_id], metric, max_points=500)` for
`loss` and `test_accuracy` in this process (a fresh session each call, as a
request gets) and `GET /compare?job_ids=..&metric=..&max_points=500` through
an API process (`cli.stack.ServiceStack`, no worker), each the median of
`--repeats` calls after one warm-up, the metrics taking turns.

PostgreSQL is the deployment the target is for; SQLite is reported for
reference. Everything runs on 127.0.0.1; the scratch database is dropped at
the end.

Usage:
    python -m bench.downsample [--steps 1000000] [--repeats 7] [--chunk 16384]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from bench.common import (
    POSTGRES_ADMIN_URL,
    Figure,
    load_average,
    median,
    print_summary,
    scratch_postgres,
)
from cli.stack import reachable

MODULE = "bench.downsample"
METRICS = ("loss", "test_accuracy")
MAX_POINTS = 500
TARGET_MS = 100.0
EVAL_INTERVAL = 10


# -- writing the run ---------------------------------------------------------------


def chunks(job_id: int, steps: int, chunk: int) -> Iterator[list[dict[str, Any]]]:
    """The run's rows, `chunk` steps at a time: a noisy decaying loss, rising
    accuracies, a cosine learning rate, test accuracy every 10 steps."""
    rng = np.random.default_rng(0)
    for first in range(1, steps + 1, chunk):
        step = np.arange(first, min(first + chunk, steps + 1))
        progress = step / steps
        loss = 2.3 * np.exp(-5 * progress) + 0.05 * rng.standard_normal(len(step))
        train = np.clip(1 - loss / 2.5 + 0.05 * rng.standard_normal(len(step)), 0, 1)
        test = np.clip(1 - loss / 2.4, 0, 1)
        rate = 0.005 * (1 + np.cos(np.pi * progress))
        yield [
            {
                "job_id": job_id,
                "step": s,
                "loss": lo,
                "train_accuracy": tr,
                "test_accuracy": te if s % EVAL_INTERVAL == 0 else None,
                "learning_rate": lr,
                "elapsed_s": s * 0.002,
            }
            for s, lo, tr, te, lr in zip(
                step.tolist(),
                loss.tolist(),
                train.tolist(),
                test.tolist(),
                rate.tolist(),
                strict=True,
            )
        ]


def write_run(database_url: str, steps: int, chunk: int) -> tuple[int, float]:
    """Store a finished job of `steps` steps; return its id and the seconds
    the writes took."""
    from sqlalchemy import update

    from core.db import session_scope
    from core.jobs import create_job
    from core.metrics import store_points
    from core.models import Job, utcnow
    from core.spec import JobSpec

    spec = JobSpec.model_validate(
        {
            "name": f"bench {steps:,} steps",
            "optimizer": {"name": "adam", "learning_rate": 0.01},
            "training": {"iterations": steps, "eval_interval": EVAL_INTERVAL},
        }
    )
    with session_scope(database_url) as session:
        job_id = create_job(session, spec).id

    started = time.perf_counter()
    for rows in chunks(job_id, steps, chunk):
        with session_scope(database_url) as session:
            store_points(session, rows)
    seconds = time.perf_counter() - started

    with session_scope(database_url) as session:
        session.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(status="succeeded", progress_step=steps, finished_at=utcnow())
        )
    return job_id, seconds


# -- timing ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Timings:
    in_process_ms: dict[str, float]  # median per metric
    http_ms: dict[str, float]
    points: dict[str, int]  # length of the returned axis
    bucket_steps: dict[str, int]


def time_in_process(
    database_url: str, job_id: int, repeats: int
) -> tuple[dict[str, float], dict[str, int], dict[str, int]]:
    """Median milliseconds of `compare` per metric, with a fresh session each."""
    from core.db import session_scope
    from core.series import compare

    samples: dict[str, list[float]] = {metric: [] for metric in METRICS}
    points: dict[str, int] = {}
    buckets: dict[str, int] = {}
    for repeat in range(repeats + 1):
        for metric in METRICS if repeat % 2 == 0 else reversed(METRICS):
            started = time.perf_counter()
            with session_scope(database_url) as session:
                result = compare(session, [job_id], metric, max_points=MAX_POINTS)
            elapsed = (time.perf_counter() - started) * 1e3
            if repeat:  # the first round warms caches and is not counted
                samples[metric].append(elapsed)
            points[metric] = len(result.steps)
            buckets[metric] = result.bucket_steps
    return {m: median(v) for m, v in samples.items()}, points, buckets


def time_http(base_url: str, job_id: int, repeats: int) -> dict[str, float]:
    """Median milliseconds of GET /compare per metric, one keep-alive client.

    Raises:
        RuntimeError: a request failed or returned more than max_points.
    """
    samples: dict[str, list[float]] = {metric: [] for metric in METRICS}
    with httpx.Client(base_url=base_url, timeout=60) as client:
        for repeat in range(repeats + 1):
            for metric in METRICS if repeat % 2 == 0 else reversed(METRICS):
                params = {
                    "job_ids": str(job_id),
                    "metric": metric,
                    "max_points": str(MAX_POINTS),
                }
                started = time.perf_counter()
                response = client.get("/compare", params=params)
                elapsed = (time.perf_counter() - started) * 1e3
                if response.status_code != 200:
                    raise RuntimeError(f"GET /compare: {response.status_code}")
                if len(response.json()["steps"]) > MAX_POINTS:
                    raise RuntimeError("GET /compare returned more than max_points")
                if repeat:
                    samples[metric].append(elapsed)
    return {m: median(v) for m, v in samples.items()}


def measure(
    name: str, database_url: str, home: Path, args: argparse.Namespace
) -> Timings:
    """Write the run into one database, then time compare both ways."""
    from cli.main import migrate
    from cli.stack import ServiceStack

    migrate(database_url)
    job_id, write_s = write_run(database_url, args.steps, args.chunk)
    print(
        f"\n{name}: wrote job {job_id} ({args.steps:,} steps, 4 metrics) in "
        f"{write_s:.1f} s = {args.steps / write_s:,.0f} steps/s with store_points"
    )
    in_process, points, buckets = time_in_process(database_url, job_id, args.repeats)

    env = {
        "TRAINJOBS_HOME": str(home / name),
        "TRAINJOBS_DATABASE_URL": database_url,
        # The API needs a broker URL but never sends here: a file of its own.
        "TRAINJOBS_BROKER_URL": f"sqla+sqlite:///{home / name / 'broker.db'}",
        "TRAINJOBS_DATA_DIRS": "",
        "TRAINJOBS_LOG_LEVEL": "WARNING",
    }
    with ServiceStack(env, home / name / "logs") as stack:
        stack.start_api()
        http = time_http(stack.base_url, job_id, args.repeats)

    print(f"   {'metric':<14} {'compare ms':>10} {'GET /compare ms':>15}   axis")
    for metric in METRICS:
        print(
            f"   {metric:<14} {in_process[metric]:>10.1f} {http[metric]:>15.1f}   "
            f"{points[metric]} points, buckets of {buckets[metric]} steps"
        )
    return Timings(in_process, http, points, buckets)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=f"python -m {MODULE}",
        description="compare() and GET /compare on a million-step run.",
    )
    parser.add_argument("--steps", type=int, default=1_000_000, help="run length")
    parser.add_argument("--repeats", type=int, default=7, help="timed calls each")
    parser.add_argument(
        "--chunk",
        type=int,
        default=256 * 64,
        help="rows per store_points call, a multiple of 64 (default 16384)",
    )
    parser.add_argument(
        "--no-sqlite", action="store_true", help="skip the SQLite reference"
    )
    args = parser.parse_args(argv)
    if not 1 <= args.steps <= 1_000_000:
        parser.error(f"--steps must be in 1..1000000, got {args.steps}")
    if args.repeats < 1:
        parser.error(f"--repeats must be >= 1, got {args.repeats}")
    if args.chunk < 64 or args.chunk % 64:
        parser.error(f"--chunk must be a positive multiple of 64, got {args.chunk}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if not reachable(POSTGRES_ADMIN_URL, 5432):
        print(
            f"bench.downsample needs PostgreSQL ({POSTGRES_ADMIN_URL})", file=sys.stderr
        )
        return 2

    home = Path(tempfile.mkdtemp(prefix="trainjobs-bench-"))
    print(f"bench.downsample: {load_average()}; scratch home {home}")
    results: dict[str, Timings] = {}
    try:
        with scratch_postgres() as postgres_url:
            results["postgresql"] = measure("postgresql", postgres_url, home, args)
        if not args.no_sqlite:
            sqlite_url = f"sqlite:///{home / 'downsample.db'}"
            results["sqlite"] = measure("sqlite", sqlite_url, home, args)
    finally:
        shutil.rmtree(home, ignore_errors=True)

    figures = []
    for database, timings in results.items():
        judged = database == "postgresql"
        for metric in METRICS:
            for how, value in (
                ("compare()", timings.in_process_ms[metric]),
                ("GET /compare", timings.http_ms[metric]),
            ):
                figures.append(
                    Figure(
                        f"{database} {how} {metric}",
                        f"{value:.1f} ms",
                        f"< {TARGET_MS:g} ms" if judged else "(info)",
                        value < TARGET_MS if judged else None,
                    )
                )
    print_summary(figures, MODULE, argv)
    return 0 if all(figure.passed is not False for figure in figures) else 1


if __name__ == "__main__":
    sys.exit(main())
