"""The service under load: end to end against in-process, ingestion, reads.

One run reports three measurements side by side:

1. End to end against in-process. The seed experiment (784-40-20-10 net,
   sigmoid hidden layers, weights N(0, 0.01^2), minibatches of 100, Adam at
   learning rate 0.01, 1000 iterations, test accuracy every 10 steps, on the
   built-in `mnist-10k`) is submitted through the whole service (API ->
   Redis -> one worker with concurrency 1 -> PostgreSQL). Its time runs from
   just before the POST to the job's own `finished_at` (written by the
   worker on this machine, so on the same clock) plus one GET's round trip:
   the moment a client polling without pause would see it. The client
   really polls every `--poll-ms` (100 by default; "polled s" is when it
   saw the end): each poll costs the API ~2 ms of CPU on the machine that
   is training, so a 10 ms poll slows the run it measures. The same run in
   this process (`TrainingRun(spec, dataset)`, consuming every record, on
   one BLAS thread as the worker is) is the reference. The two alternate
   within every repeat, so drift in the machine's speed hits both; the
   figure is the ratio of their medians. Alongside: the CPU seconds of the
   worker's processes against those of the in-process run, which other
   load on the machine hardly moves, and the time split along the job's
   timestamps (POST -> created -> started -> finished).
2. Metric ingestion: `--points` points of one job written in batches of
   `--batch` rows with their block rollups, through `flush_progress` under
   a real lease, exactly as a worker flushes, into PostgreSQL and SQLite.
   Also the CPU seconds of this process and of the PostgreSQL backend.
3. `GET /jobs/{id}/metrics?limit=1000` on a finished 1000-point job, from 50
   concurrent keep-alive connections each asking again as soon as it has an
   answer, for `--read-seconds`. The load generator is `wrk` when it is on
   the PATH (one thread, so it takes as little CPU from the API as
   possible), else an asyncio httpx client with 50 connections, which
   spends ~6 ms of Python per 134 kB answer and so measures itself more
   than the API (~150 req/s here against wrk's ~3,700). Also the
   API's CPU per request. With 50 clients that never pause, latency is
   50 / throughput (Little's law): p99 <= 30 ms needs ~2,000 req/s or more.
   The API runs one uvicorn process by default: on a 2-core machine that
   also runs the load generator, two gave more throughput but spread the
   connections unevenly over the processes, and the p99 jumped.

Everything runs on 127.0.0.1: a scratch PostgreSQL database created and
dropped here, a Redis queue of its own whose keys are deleted at the end,
and the API and worker as child processes (`cli.stack.ServiceStack`).

Usage:
    python -m bench.service [--repeats 5] [--points 200000] [--batch 1000]
        [--read-seconds 10] [--api-workers 1] [--load-generator auto]
        [--poll-ms 100]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from bench.common import (
    POSTGRES_ADMIN_URL,
    REDIS_URL,
    Figure,
    cpu_seconds,
    delete_queue_keys,
    load_average,
    median,
    percentile,
    pin_threads,
    postgres_backends,
    print_summary,
    scratch_postgres,
    unique_queue,
    with_descendants,
)
from cli.stack import reachable

MODULE = "bench.service"
SEED_SPEC: dict[str, Any] = {
    "name": "bench seed experiment",
    "dataset": "mnist-10k",
    "model": {"hidden_sizes": [40, 20], "activation": "sigmoid", "weight_init": 0.01},
    "optimizer": {"name": "adam", "learning_rate": 0.01},
    "training": {"iterations": 1000, "batch_size": 100, "eval_interval": 10},
}
# The client's polls cost the API CPU on the machine that also trains; the
# figure comes from the job's timestamps, so polling needn't be fast.
POLL_INTERVAL_S = 0.100
READ_CONNECTIONS = 50
READ_LIMIT = 1000

E2E_TARGET = 1.10
INGEST_TARGET = 50_000.0
READ_P99_TARGET_MS = 30.0


# -- 1. end to end against in-process ----------------------------------------------


@dataclass(frozen=True)
class ServiceRun:
    """One job through the service: when the client could have seen it
    finish, when its polling did, and where the time went according to the
    job's own timestamps (same machine, same clock)."""

    job_id: int
    service_s: float  # POST sent -> finished_at, plus one GET's round trip
    observed_s: float  # POST sent -> first poll that showed "succeeded"
    worker_cpu_s: float  # CPU of the worker and its pool meanwhile
    api_cpu_s: float  # CPU of the API process(es) meanwhile
    post_s: float  # POST sent -> job row created (API, before dispatch)
    queued_s: float  # created -> started (dispatch, broker, worker pick-up, claim)
    running_s: float  # started -> finished (load, train, flushes, summary)


@dataclass(frozen=True)
class Processes:
    """Process ids whose CPU time is accounted to the service."""

    worker: list[int]
    api: list[int]


def run_through_service(
    client: httpx.Client, processes: Processes, poll_s: float
) -> ServiceRun:
    """Submit the seed experiment and poll until it has finished.

    Raises:
        RuntimeError: the job ended other than "succeeded", or took too long.
    """
    worker_cpu, api_cpu = cpu_seconds(processes.worker), cpu_seconds(processes.api)
    wall_start = time.time()
    started = time.perf_counter()
    response = client.post("/jobs", json=SEED_SPEC)
    response.raise_for_status()
    job_id = int(response.json()["id"])
    deadline = started + 300
    while True:
        asked = time.perf_counter()
        job = client.get(f"/jobs/{job_id}").json()
        if job["status"] not in ("queued", "running"):
            observed = time.perf_counter() - started
            round_trip = time.perf_counter() - asked
            break
        if time.perf_counter() > deadline:
            raise RuntimeError(f"job {job_id} still {job['status']} after 300 s")
        time.sleep(poll_s)
    worker_cpu = cpu_seconds(processes.worker) - worker_cpu
    api_cpu = cpu_seconds(processes.api) - api_cpu
    if job["status"] != "succeeded":
        raise RuntimeError(f"job {job_id} ended {job['status']}: {job['error']}")

    created, started_at, finished = (
        dt.datetime.fromisoformat(job[key]).timestamp()
        for key in ("created_at", "started_at", "finished_at")
    )
    return ServiceRun(
        job_id=job_id,
        service_s=finished - wall_start + round_trip,
        observed_s=observed,
        worker_cpu_s=worker_cpu,
        api_cpu_s=api_cpu,
        post_s=created - wall_start,
        queued_s=started_at - created,
        running_s=finished - started_at,
    )


def run_in_process(dataset: Any) -> tuple[float, float]:
    """Wall and CPU seconds to build the seed experiment's run and consume
    every record."""
    from core.spec import JobSpec
    from core.training import TrainingRun

    spec = JobSpec.model_validate(SEED_SPEC)
    cpu_started, started = time.process_time(), time.perf_counter()
    run = TrainingRun(spec, dataset)
    steps = sum(1 for _ in run.records())
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    if run.outcome != "succeeded" or steps != spec.training.iterations:
        raise RuntimeError(f"in-process run ended {run.outcome} after {steps} steps")
    return elapsed, cpu


@dataclass(frozen=True)
class EndToEnd:
    service_s: float  # medians over the repeats
    observed_s: float
    local_s: float
    service_cpu_s: float
    local_cpu_s: float
    job_id: int  # a finished seed-experiment job (1000 points)


def compare_end_to_end(
    client: httpx.Client,
    dataset: Any,
    processes: Processes,
    repeats: int,
    poll_s: float,
) -> EndToEnd:
    """Medians through the service and in process, alternating."""
    print(
        f"\n1a. seed experiment ({SEED_SPEC['dataset']}, 1000 iterations, adam): "
        f"service end to end vs in-process, median of {repeats}, alternating; "
        f"the client polls GET /jobs/{{id}} every {poll_s * 1e3:g} ms"
    )
    warm = run_through_service(client, processes, poll_s)
    run_in_process(dataset)
    print(
        f"    warm-up job {warm.job_id}: {warm.observed_s:.3f} s end to end, "
        f"{warm.queued_s:.3f} s of it queued (the worker was still starting); "
        "not counted"
    )
    # The pool's processes exist now; account every one of them.
    processes.worker[:] = sorted(
        set(processes.worker) | set(with_descendants(processes.worker[0]))
    )

    service: list[ServiceRun] = []
    local: list[tuple[float, float]] = []
    for repeat in range(repeats):
        if repeat % 2 == 0:
            service.append(run_through_service(client, processes, poll_s))
            local.append(run_in_process(dataset))
        else:
            local.append(run_in_process(dataset))
            service.append(run_through_service(client, processes, poll_s))

    print(
        f"    {'run':>6} {'service s':>9} {'in-proc s':>9} {'ratio':>6}   "
        f"{'polled s':>8}   {'worker CPU s':>12} {'in-proc CPU s':>13} {'ratio':>6} "
        f"{'API CPU s':>9}   {'POST s':>6} {'queued s':>8} {'running s':>9}"
    )

    def row(label: str, run: ServiceRun, wall: float, cpu: float) -> str:
        return (
            f"    {label:>6} {run.service_s:>9.3f} {wall:>9.3f} "
            f"{run.service_s / wall:>6.3f}   {run.observed_s:>8.3f}   "
            f"{run.worker_cpu_s:>12.2f} {cpu:>13.2f} {run.worker_cpu_s / cpu:>6.3f} "
            f"{run.api_cpu_s:>9.2f}   {run.post_s:>6.3f} {run.queued_s:>8.3f} "
            f"{run.running_s:>9.3f}"
        )

    for i, (run, (wall, cpu)) in enumerate(zip(service, local, strict=True), 1):
        print(row(str(i), run, wall, cpu))
    numbers = [name for name in ServiceRun.__dataclass_fields__ if name != "job_id"]
    middle = ServiceRun(
        job_id=service[-1].job_id,
        **{name: median([getattr(run, name) for run in service]) for name in numbers},
    )
    local_s = median([wall for wall, _ in local])
    local_cpu_s = median([cpu for _, cpu in local])
    print(row("median", middle, local_s, local_cpu_s))
    print(
        "    service s: POST sent -> the job's finished_at, plus one GET's round "
        "trip; polled s: POST sent -> the first poll that showed it"
    )
    return EndToEnd(
        middle.service_s,
        middle.observed_s,
        local_s,
        middle.worker_cpu_s,
        local_cpu_s,
        middle.job_id,
    )


# -- 2. ingestion -------------------------------------------------------------------


def synthetic_rows(job_id: int, points: int) -> list[dict[str, Any]]:
    """`points` rows shaped like a training run's: test accuracy every 10 steps."""
    rng = np.random.default_rng(0)
    loss = 2.3 * np.exp(-np.arange(points) / 20_000) + rng.random(points) * 0.1
    accuracy = rng.random(points)
    return [
        {
            "job_id": job_id,
            "step": step,
            "loss": float(loss[step - 1]),
            "train_accuracy": float(accuracy[step - 1]),
            "test_accuracy": float(accuracy[step - 1]) if step % 10 == 0 else None,
            "learning_rate": 0.01,
            "elapsed_s": step * 0.002,
        }
        for step in range(1, points + 1)
    ]


@dataclass(frozen=True)
class Ingestion:
    seconds: float  # everything: rollups, writes, commits
    database_s: float  # flush_progress and the commit only
    client_cpu_s: float  # this process
    server_cpu_s: float  # the PostgreSQL backend(s); 0 for SQLite
    points: int
    blocks: int

    @property
    def rate(self) -> float:
        return self.points / self.seconds

    @property
    def cpu_rate(self) -> float:
        """Points per CPU second of client and server together."""
        return self.points / (self.client_cpu_s + self.server_cpu_s)


def ingest(database_url: str, points: int, batch: int) -> Ingestion:
    """Write one job's points as a worker does: batch, roll up, flush, commit.

    Raises:
        RuntimeError: the stored rows or blocks are not what was written.
    """
    from sqlalchemy import func, select

    from core.db import session_scope
    from core.jobs import claim_job, create_job
    from core.metrics import BLOCK_STEPS, ProgressUpdate, block_of, block_rows
    from core.metrics import flush_progress as flush
    from core.models import Metric, MetricBlock
    from core.spec import JobSpec

    spec = JobSpec.model_validate(
        {**SEED_SPEC, "training": {**SEED_SPEC["training"], "iterations": points}}
    )
    with session_scope(database_url) as session:
        job_id = create_job(session, spec).id
    with session_scope(database_url) as session:
        claim = claim_job(
            session,
            job_id,
            task_id="bench-ingest",
            heartbeat_timeout=dt.timedelta(hours=1),
            max_attempts=3,
        )
    assert claim is not None, "a new job is claimable"
    rows = synthetic_rows(job_id, points)

    # The loop of `JobRunner._flush`: a batch of new rows, and the rollups of
    # every block it touches, over the window of the still-open block.
    window: list[dict[str, Any]] = []
    database_s = 0.0
    backends = (
        [] if database_url.startswith("sqlite") else postgres_backends(database_url)
    )
    server_cpu = cpu_seconds(backends)
    client_cpu = time.process_time()
    started = time.perf_counter()
    for first in range(0, points, batch):
        pending = rows[first : first + batch]
        window.extend(pending)
        touched = {block_of(row["step"]) for row in pending}
        blocks = block_rows(
            job_id, [row for row in window if block_of(row["step"]) in touched]
        )
        flush_started = time.perf_counter()
        with session_scope(database_url) as session:
            flush(
                session,
                job_id,
                claim.token,
                pending,
                blocks,
                ProgressUpdate(pending[-1]["step"], None),
            )
        database_s += time.perf_counter() - flush_started
        open_block = block_of(window[-1]["step"])
        window = [row for row in window if block_of(row["step"]) >= open_block]
    seconds = time.perf_counter() - started
    client_cpu = time.process_time() - client_cpu
    server_cpu = cpu_seconds(backends) - server_cpu

    with session_scope(database_url) as session:
        stored = session.scalar(
            select(func.count()).select_from(Metric).where(Metric.job_id == job_id)
        )
        stored_blocks = session.scalar(
            select(func.count())
            .select_from(MetricBlock)
            .where(MetricBlock.job_id == job_id)
        )
    expected_blocks = 4 * -(-points // BLOCK_STEPS)
    if stored != points or stored_blocks != expected_blocks:
        raise RuntimeError(
            f"stored {stored} rows and {stored_blocks} blocks, "
            f"expected {points} and {expected_blocks}"
        )
    return Ingestion(
        seconds, database_s, client_cpu, server_cpu, points, int(stored_blocks or 0)
    )


def compare_ingestion(
    postgres_url: str | None, sqlite_url: str, points: int, batch: int, repeats: int
) -> dict[str, Ingestion]:
    """Median ingestion of each database, alternating between them."""
    print(
        f"\n1b. ingestion: {points:,} points of one job in batches of {batch} "
        f"with their block rollups, via flush_progress (lease-checked), "
        f"median of {repeats}"
    )
    urls = {"postgresql": postgres_url, "sqlite": sqlite_url}
    runs: dict[str, list[Ingestion]] = {name: [] for name, url in urls.items() if url}
    for repeat in range(repeats):
        names = list(runs) if repeat % 2 == 0 else list(reversed(runs))
        for name in names:
            url = urls[name]
            assert url is not None
            runs[name].append(ingest(url, points, batch))

    print(
        f"    {'database':<10} {'points/s':>9} {'s':>7} {'db s':>7} "
        f"{'rollups s':>9}   {'CPU s: here':>11} {'server':>6} {'points/CPU s':>12}"
        "   each run's points/s"
    )
    medians: dict[str, Ingestion] = {}
    for name, results in runs.items():
        middle = sorted(results, key=lambda r: r.seconds)[len(results) // 2]
        medians[name] = middle
        each = " ".join(f"{r.rate:,.0f}" for r in results)
        print(
            f"    {name:<10} {middle.rate:>9,.0f} {middle.seconds:>7.2f} "
            f"{middle.database_s:>7.2f} {middle.seconds - middle.database_s:>9.2f}"
            f"   {middle.client_cpu_s:>11.2f} {middle.server_cpu_s:>6.2f} "
            f"{middle.cpu_rate:>12,.0f}   {each}"
        )
    return medians


# -- 3. reading a series under load -----------------------------------------------


@dataclass(frozen=True)
class LoadResult:
    generator: str
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds


_WRK_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}


def _wrk_ms(text: str) -> float:
    match = re.fullmatch(r"([0-9.]+)(us|ms|s|m|h)", text)
    if match is None:
        raise ValueError(f"unexpected wrk latency {text!r}")
    return float(match[1]) * _WRK_UNITS[match[2]]


def load_with_wrk(url: str, seconds: float) -> LoadResult:
    """Run wrk with one thread and 50 connections; parse its latency table."""
    command = [
        "wrk",
        "--threads",
        "1",
        "--connections",
        str(READ_CONNECTIONS),
        "--duration",
        f"{max(1, round(seconds))}s",
        "--timeout",
        "30s",
        "--latency",
        url,
    ]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    quantiles = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", output, re.MULTILINE))
    done = re.search(r"^\s+(\d+) requests in ([0-9.]+)(ms|s|m)", output, re.MULTILINE)
    if done is None or set(quantiles) != {"50", "99"}:
        raise RuntimeError(f"could not read wrk's output:\n{output}")
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    errors = int(non_2xx[1]) if non_2xx else 0
    if socket_errors:
        errors += sum(int(count) for count in socket_errors.groups())
    return LoadResult(
        "wrk (1 thread, 50 connections)",
        int(done[1]),
        _wrk_ms(done[2] + done[3]) / 1e3,
        _wrk_ms(quantiles["50"]),
        _wrk_ms(quantiles["99"]),
        errors,
    )


async def _load_with_httpx(url: str, seconds: float) -> LoadResult:
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=READ_CONNECTIONS)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        deadline = time.perf_counter() + seconds

        async def one_client() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                response = await client.get(url)
                latencies.append((time.perf_counter() - started) * 1e3)
                errors += response.status_code != 200

        started = time.perf_counter()
        await asyncio.gather(*(one_client() for _ in range(READ_CONNECTIONS)))
        elapsed = time.perf_counter() - started
    return LoadResult(
        "httpx asyncio (50 connections)",
        len(latencies),
        elapsed,
        percentile(latencies, 50),
        percentile(latencies, 99),
        errors,
    )


def measure_reads(
    base_url: str, job_id: int, seconds: float, generator: str, api: list[int]
) -> tuple[LoadResult, float]:
    """p50/p99 latency and throughput of full-series reads from 50 clients,
    and the API's CPU microseconds per request.

    Raises:
        RuntimeError: the series is not 1000 points, or requests failed.
    """
    url = f"{base_url}/jobs/{job_id}/metrics?limit={READ_LIMIT}"
    body = httpx.get(url, timeout=30).json()
    if len(body["points"]) != READ_LIMIT:
        raise RuntimeError(f"job {job_id} has {len(body['points'])} points, not 1000")
    size = len(httpx.get(url, timeout=30).content)

    use_wrk = generator == "wrk" or (generator == "auto" and shutil.which("wrk"))
    print(
        f"\n1c. GET /jobs/{job_id}/metrics?limit={READ_LIMIT} ({size:,} bytes), "
        f"{READ_CONNECTIONS} concurrent clients, {seconds:g} s after a 2 s warm-up"
    )
    if use_wrk:
        load_with_wrk(url, 2)
        api_cpu = cpu_seconds(api)
        result = load_with_wrk(url, seconds)
    else:
        print(
            "    NOTE: wrk is not on the PATH (apt-get install wrk); the httpx "
            "client is the bottleneck here, not the API"
        )
        asyncio.run(_load_with_httpx(url, 2))
        api_cpu = cpu_seconds(api)
        result = asyncio.run(_load_with_httpx(url, seconds))
    api_us = (cpu_seconds(api) - api_cpu) / result.requests * 1e6
    print(
        f"    {result.generator}: {result.requests:,} requests in "
        f"{result.seconds:.1f} s = {result.throughput:,.0f} req/s; "
        f"p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms; "
        f"{result.errors} errors; API CPU {api_us:,.0f} µs per request"
    )
    if result.errors:
        raise RuntimeError(f"{result.errors} requests failed during the read test")
    return result, api_us


# -- driver -------------------------------------------------------------------------


def service_env(home: Path, database_url: str, queue: str) -> dict[str, str]:
    """The service's settings: production defaults except where things live."""
    return {
        "TRAINJOBS_HOME": str(home),
        "TRAINJOBS_DATABASE_URL": database_url,
        "TRAINJOBS_BROKER_URL": REDIS_URL,
        "TRAINJOBS_QUEUE": queue,
        "TRAINJOBS_DATA_DIRS": "",
        "TRAINJOBS_LOG_LEVEL": "WARNING",
    }


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=f"python -m {MODULE}",
        description="End to end vs in-process, ingestion rate, and read latency.",
    )
    parser.add_argument("--repeats", type=int, default=5, help="default 5")
    parser.add_argument(
        "--points", type=int, default=200_000, help="points per ingestion run"
    )
    parser.add_argument("--batch", type=int, default=1000, help="rows per flush")
    parser.add_argument(
        "--ingest-repeats", type=int, default=3, help="ingestion runs per database"
    )
    parser.add_argument(
        "--read-seconds", type=float, default=10.0, help="length of the read test"
    )
    parser.add_argument(
        "--api-workers", type=int, default=1, help="uvicorn processes (default 1)"
    )
    parser.add_argument(
        "--load-generator", choices=["auto", "wrk", "httpx"], default="auto"
    )
    parser.add_argument(
        "--poll-ms",
        type=float,
        default=POLL_INTERVAL_S * 1e3,
        help="the end-to-end client's polling interval (default 100)",
    )
    args = parser.parse_args(argv)
    for name in ("repeats", "points", "batch", "ingest_repeats", "api_workers"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    pin_threads(MODULE, argv)

    from cli.main import migrate
    from cli.stack import ServiceStack
    from core.datasets import load_dataset

    if not reachable(POSTGRES_ADMIN_URL, 5432) or not reachable(REDIS_URL, 6379):
        print(
            f"bench.service needs PostgreSQL ({POSTGRES_ADMIN_URL}) and Redis "
            f"({REDIS_URL}); start them first",
            file=sys.stderr,
        )
        return 2

    home = Path(tempfile.mkdtemp(prefix="trainjobs-bench-"))
    queue = unique_queue("bench")
    print(f"bench.service: {load_average()}; scratch home {home}, queue {queue}")
    try:
        # Decode the dataset into the cache the worker will read, so no timed
        # run pays for decoding.
        dataset = load_dataset(
            str(SEED_SPEC["dataset"]),
            data_dirs=[home / "datasets"],
            cache_dir=home / "cache" / "datasets",
        )
        with scratch_postgres() as service_db:
            stack = ServiceStack(
                service_env(home, service_db, queue),
                home / "logs",
                api_workers=args.api_workers,
            )
            with stack:
                stack.migrate()
                stack.start_api()
                stack.start_worker(concurrency=1)
                assert stack.api is not None
                processes = Processes(
                    worker=[stack.workers[0].pid],
                    api=with_descendants(stack.api.pid),
                )
                with httpx.Client(base_url=stack.base_url, timeout=30) as client:
                    e2e = compare_end_to_end(
                        client, dataset, processes, args.repeats, args.poll_ms / 1e3
                    )
                reads, api_us = measure_reads(
                    stack.base_url,
                    e2e.job_id,
                    args.read_seconds,
                    args.load_generator,
                    processes.api,
                )
                print(f"    API: {args.api_workers} uvicorn process(es)")

        sqlite_url = f"sqlite:///{home / 'ingest.db'}"
        migrate(sqlite_url)
        with scratch_postgres() as ingest_db:
            migrate(ingest_db)
            ingestion = compare_ingestion(
                ingest_db, sqlite_url, args.points, args.batch, args.ingest_repeats
            )
    finally:
        delete_queue_keys(queue)
        shutil.rmtree(home, ignore_errors=True)

    ratio = e2e.service_s / e2e.local_s
    cpu_ratio = e2e.service_cpu_s / e2e.local_cpu_s
    postgres = ingestion["postgresql"]
    figures = [
        Figure(
            "1a service / in-process, seed experiment",
            f"{ratio:.3f}x ({e2e.service_s:.2f}/{e2e.local_s:.2f} s)",
            f"<= {E2E_TARGET:.2f}x",
            ratio <= E2E_TARGET,
        ),
        Figure(
            "1a   same, CPU: worker / in-process",
            f"{cpu_ratio:.3f}x ({e2e.service_cpu_s:.2f}/{e2e.local_cpu_s:.2f} s)",
            "(info)",
            None,
        ),
        Figure(
            "1b ingestion into PostgreSQL",
            f"{postgres.rate:,.0f} points/s",
            f">= {INGEST_TARGET:,.0f}",
            postgres.rate >= INGEST_TARGET,
        ),
        Figure(
            "1b   same, per CPU s of client + backend",
            f"{postgres.cpu_rate:,.0f} points/s",
            "(info)",
            None,
        ),
        Figure(
            "1b ingestion into SQLite",
            f"{ingestion['sqlite'].rate:,.0f} points/s",
            "(info)",
            None,
        ),
        Figure(
            f"1c GET metrics p99, 50 clients, {args.api_workers} API proc.",
            f"{reads.p99_ms:.1f} ms (p50 {reads.p50_ms:.1f}, "
            f"{reads.throughput:,.0f} req/s)",
            f"<= {READ_P99_TARGET_MS:g} ms",
            reads.p99_ms <= READ_P99_TARGET_MS,
        ),
        Figure(
            "1c   API CPU per request",
            f"{api_us:,.0f} µs",
            "(info)",
            None,
        ),
    ]
    print_summary(figures, MODULE, argv)
    return 0 if all(figure.passed is not False for figure in figures) else 1


if __name__ == "__main__":
    sys.exit(main())
