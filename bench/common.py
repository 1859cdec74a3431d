"""Helpers shared by the service benchmarks (`bench.service`, `bench.downsample`).

Statistics, the servers a benchmark may use (a scratch PostgreSQL database
it creates and drops, its own Redis queue), one-thread BLAS pinning, and the
summary block every benchmark ends with: figure, target, PASS/MISS and the
exact command that produced it.
"""

from __future__ import annotations

import math
import os
import shlex
import statistics
import sys
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cli.stack import delete_queue_keys as delete_queue_keys_of
from cli.stack import scratch_postgres_database

REPO_ROOT = Path(__file__).resolve().parent.parent
POSTGRES_ADMIN_URL = os.environ.get(
    "TRAINJOBS_BENCH_POSTGRES_URL",
    "postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
)
REDIS_URL = os.environ.get("TRAINJOBS_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


# -- statistics ------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation between ranks."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


# -- servers ---------------------------------------------------------------------


@contextmanager
def scratch_postgres() -> Iterator[str]:
    """A new, empty PostgreSQL database for one benchmark, dropped on exit."""
    with scratch_postgres_database(POSTGRES_ADMIN_URL, "trainjobs_bench") as url:
        yield url


def unique_queue(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def delete_queue_keys(queue: str) -> int:
    """Delete the Redis keys Celery made for this benchmark's queue only."""
    return delete_queue_keys_of(REDIS_URL, queue)


# -- CPU accounting -------------------------------------------------------------
#
# On a shared machine wall-clock figures move with everyone else's load; the
# CPU seconds a process spent do much less. They are read from /proc, so the
# processes must be on this machine (the API, the worker, the PostgreSQL
# backends serving this benchmark's connections).

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_seconds(pids: Iterable[int]) -> float:
    """User + system CPU seconds used so far by these processes (gone: 0)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                # Fields after the parenthesised name; utime and stime are
                # the 14th and 15th fields of the whole line.
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / _CLOCK_TICKS


def with_descendants(pid: int) -> list[int]:
    """The process and every process below it, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def postgres_backends(database_url: str) -> list[int]:
    """Process ids of the PostgreSQL backends connected to this database."""
    from sqlalchemy import create_engine, text

    name = database_url.rsplit("/", 1)[1]
    admin = create_engine(POSTGRES_ADMIN_URL)
    try:
        with admin.connect() as connection:
            return list(
                connection.execute(
                    text("SELECT pid FROM pg_stat_activity WHERE datname = :name"),
                    {"name": name},
                ).scalars()
            )
    finally:
        admin.dispose()


# -- process set-up --------------------------------------------------------------


def pin_threads(module: str, argv: Sequence[str]) -> None:
    """Re-execute once with one BLAS/OpenMP thread unless that is already set.

    The variables are read when NumPy loads, so they need a fresh process;
    the worker sets the same ones (see `worker/__init__.py`), so in-process
    runs and the service's runs do the same arithmetic on one core.
    """
    if all(os.environ.get(name) == "1" for name in THREAD_VARIABLES):
        return
    env = {**os.environ, **dict.fromkeys(THREAD_VARIABLES, "1")}
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, "-m", module, *argv], env)


def load_average() -> str:
    one, five, _ = os.getloadavg()
    cores = os.cpu_count()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {cores} cores"


# -- reporting -------------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    """One reported number: its name, its value as printed, its target, and
    whether it met the target (None: it has none, it is there to explain)."""

    name: str
    value: str
    target: str
    passed: bool | None


def print_summary(figures: Sequence[Figure], module: str, argv: Sequence[str]) -> None:
    """The closing block: one row per figure, then the command that made them."""
    command = shlex.join([".venv/bin/python", "-m", module, *argv])
    print("\nsummary")
    name_width = max(len(figure.name) for figure in figures)
    value_width = max(len(figure.value) for figure in figures)
    target_width = max(len(figure.target) for figure in figures)
    for figure in figures:
        result = {True: "PASS", False: "MISS", None: ""}[figure.passed]
        print(
            f"  {figure.name:<{name_width}}  {figure.value:>{value_width}}  "
            f"target {figure.target:<{target_width}}  {result}"
        )
    print(f"  command: cd {shlex.quote(str(REPO_ROOT))} && {command}")
