"""Sweeps: a grid of configurations, each trained once per seed, and their
statistics across seeds.

A seed fixes the initial weights, the minibatch order and the dropout masks
whatever the optimizer (see `core.training.RandomStreams`), so two
configurations trained with the same seed differ only in what the grid
changed. Differences between configurations are therefore reported as paired
differences over the seeds they share.
"""

from __future__ import annotations

import copy
import itertools
import json
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import NotFound, SpecError
from core.jobs import create_job
from core.models import FINISHED_STATUSES, Job, Sweep, utcnow
from core.series import LOWER_IS_BETTER, RunSeries, compare
from core.spec import (
    OPTIMIZER_FIELDS,
    JobSpec,
    Name,
    field_path,
    stray_hyperparameter,
)

MAX_SWEEP_JOBS = 200
MAX_SEEDS = 50
# A job spec nests three levels (optimizer.schedule.kind); anything much
# deeper is not a spec, and very deep JSON is costly to copy and hash.
MAX_BASE_DEPTH = 8


# Two-sided 95% Student-t quantiles for 1..30 degrees of freedom.
_T95 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip


class SweepRequest(BaseModel):
    """What `POST /sweeps` accepts."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    name: Name | None = None
    base: dict[str, Any]
    grid: dict[str, list[Any]] = Field(min_length=1, max_length=8)
    seeds: list[int] = Field(
        default_factory=lambda: [0], min_length=1, max_length=MAX_SEEDS
    )

    @field_validator("base")
    @classmethod
    def _shallow_base(cls, base: dict[str, Any]) -> dict[str, Any]:
        if _depth(base) > MAX_BASE_DEPTH:
            raise ValueError(
                f"must be nested at most {MAX_BASE_DEPTH} levels deep, as a job spec is"
            )
        return base

    @field_validator("grid")
    @classmethod
    def _paths_and_values(cls, grid: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for path, values in grid.items():
            parts = path.split(".")
            if path == "training.seed":
                raise ValueError("vary the seed with `seeds`, not the grid")
            if (
                parts[0] not in {"dataset", "model", "optimizer", "training"}
                or len(parts) > 3
                or not all(parts)
            ):
                raise ValueError(
                    f"{path!r} is not a spec field; use dotted paths such as "
                    "'optimizer.learning_rate' or 'model.activation'"
                )
            if not 1 <= len(values) <= 50:
                raise ValueError(f"{path!r} needs 1 to 50 values, got {len(values)}")
            if _depth(values) > MAX_BASE_DEPTH:
                raise ValueError(f"{path!r} has values nested too deeply")
            # 1 and 1.0 are the same setting: a repeat would count one
            # configuration's seeds twice and narrow its interval falsely.
            for index, value in enumerate(values):
                if value in values[:index]:
                    raise ValueError(f"{path!r} lists {value!r} twice")

        combinations = math.prod(len(values) for values in grid.values())
        if combinations > MAX_SWEEP_JOBS:
            raise ValueError(
                f"a sweep may create at most {MAX_SWEEP_JOBS} jobs; this grid alone "
                f"has {combinations:,} combinations"
            )
        return grid

    @field_validator("seeds")
    @classmethod
    def _distinct_seeds(cls, seeds: list[int]) -> list[int]:
        if len(set(seeds)) != len(seeds):
            raise ValueError("seeds must be distinct")
        if any(not 0 <= seed < 2**32 for seed in seeds):
            raise ValueError("seeds must be in [0, 2**32)")
        return seeds


def _depth(value: Any, limit: int = MAX_BASE_DEPTH + 1) -> int:
    """How deeply lists and objects nest (a scalar is 0), counted to `limit`."""
    if limit <= 0 or not isinstance(value, dict | list):
        return 0
    children = value.values() if isinstance(value, dict) else value
    return 1 + max((_depth(child, limit - 1) for child in children), default=0)


def _set_path(spec: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    node = spec
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise SpecError(
                ("grid", path), f"{part!r} is not an object in the base spec"
            )
    node[leaf] = copy.deepcopy(value)


def _fit_optimizer(optimizer: dict[str, Any], from_grid: set[str]) -> None:
    """Drop the base's hyperparameters that the chosen optimizer does not take.

    A grid over `optimizer.name` starting from an Adam base must not hand
    Adam's betas to SGD; what both share (learning rate, weight decay,
    schedule) carries over. A hyperparameter the grid itself sets is never
    dropped: if the optimizer does not take it, validation says so.
    """
    accepted = OPTIMIZER_FIELDS.get(optimizer.get("name", ""))
    if accepted is not None:
        for key in list(optimizer):
            if key not in accepted and key not in from_grid:
                del optimizer[key]


def describe(config: dict[str, Any]) -> str:
    """{"optimizer.name": "adam", "optimizer.learning_rate": 0.01} -> "adam lr=0.01"."""
    words = []
    for path, value in config.items():
        leaf = path.rsplit(".", 1)[-1]
        if leaf == "name":
            words.append(str(value))
        else:
            leaf = "lr" if leaf == "learning_rate" else leaf
            words.append(f"{leaf}={json.dumps(value, separators=(',', ':'))}")
    return " ".join(words)


@dataclass(frozen=True)
class PlannedJob:
    config: dict[str, Any]
    seed: int
    spec: JobSpec


def expand(request: SweepRequest) -> list[PlannedJob]:
    """One validated spec per grid combination and seed.

    Raises:
        SpecError: the sweep is too large, or a combination is not a valid
            spec (the message names the combination and the field).
    """
    paths = list(request.grid)
    # Counted before anything is built: a few short lists multiply fast.
    combinations = math.prod(len(request.grid[p]) for p in paths)
    total = combinations * len(request.seeds)
    if total > MAX_SWEEP_JOBS:
        raise SpecError(
            ("grid",),
            f"a sweep may create at most {MAX_SWEEP_JOBS} jobs; "
            f"{combinations} combinations x {len(request.seeds)} seeds = {total}",
        )
    grid_optimizer_keys = {
        p.split(".", 1)[1] for p in paths if p.startswith("optimizer.")
    }

    planned = []
    for values in itertools.product(*(request.grid[p] for p in paths)):
        config = dict(zip(paths, values, strict=True))
        for seed in request.seeds:
            spec = copy.deepcopy(request.base)
            for path, value in config.items():
                _set_path(spec, path, value)
            if isinstance(spec.get("optimizer"), dict):
                _fit_optimizer(spec["optimizer"], grid_optimizer_keys)
            _set_path(spec, "training.seed", seed)
            prefix = f"{request.name} " if request.name else ""
            spec["name"] = f"{prefix}{describe(config)} seed={seed}"[:200]
            try:
                planned.append(PlannedJob(config, seed, JobSpec.model_validate(spec)))
            except ValidationError as exc:
                error = exc.errors()[0]
                where = field_path(error["loc"])
                loc = error["loc"]
                if error["type"] == "extra_forbidden" and loc[0] == "optimizer":
                    error["msg"] = stray_hyperparameter(str(loc[1]), str(loc[-1]))
                combination = f"{describe(config)} seed={seed}"
                raise SpecError(
                    ("grid",),
                    f"configuration {combination}: {where}: "
                    + error["msg"].removeprefix("Value error, "),
                ) from exc
    return planned


def create_sweep(
    session: Session,
    request: SweepRequest,
    planned: Sequence[PlannedJob],
    *,
    idempotency_key: str | None = None,
    body_hash: str | None = None,
) -> tuple[Sweep, list[Job]]:
    """Store the sweep and its queued jobs; the caller commits and dispatches."""
    sweep = Sweep(
        name=request.name,
        base_spec=request.base,
        grid=request.grid,
        seeds=list(request.seeds),
        job_count=len(planned),
        idempotency_key=idempotency_key,
        request_hash=body_hash,
        created_at=utcnow(),
    )
    session.add(sweep)
    session.flush()
    jobs = [
        create_job(session, plan.spec, sweep_id=sweep.id, sweep_config=plan.config)
        for plan in planned
    ]
    return sweep, jobs


def get_sweep(session: Session, sweep_id: int) -> Sweep:
    sweep = session.get(Sweep, sweep_id)
    if sweep is None:
        raise NotFound(f"sweep {sweep_id} not found")
    return sweep


def sweep_jobs(session: Session, sweep_id: int) -> list[Job]:
    return list(
        session.scalars(select(Job).where(Job.sweep_id == sweep_id).order_by(Job.id))
    )


# -- statistics across seeds -------------------------------------------------


def t_quantile_95(df: int) -> float:
    """Two-sided 95% Student-t quantile; beyond the table, a Cornish-Fisher
    correction of the normal quantile (error < 0.002 for df > 30)."""
    if df < 1:
        return math.nan
    if df <= len(_T95):
        return _T95[df - 1]
    z = 1.959964
    return z + (z**3 + z) / (4 * df)


@dataclass
class Spread:
    """Mean of n values with a 95% t-interval (None bounds for n < 2)."""

    mean: float | None
    low: float | None
    high: float | None
    sd: float | None
    n: int

    @classmethod
    def of(cls, values: Sequence[float | None]) -> Spread:
        present = [v for v in values if v is not None]
        n = len(present)
        if n == 0:
            return cls(None, None, None, None, 0)
        mean = statistics.fmean(present)
        if n == 1:
            return cls(mean, None, None, None, 1)
        sd = statistics.stdev(present)
        half = t_quantile_95(n - 1) * sd / math.sqrt(n)
        return cls(mean, mean - half, mean + half, sd, n)


@dataclass
class ConfigurationStats:
    config: dict[str, Any]
    label: str
    job_ids: list[int]
    seeds: list[int]
    finished: int
    mean: list[float | None]
    low: list[float | None]
    high: list[float | None]
    final: Spread
    best: Spread
    rank: int = 0
    paired_vs_leader: Spread | None = None
    per_seed_final: dict[int, float | None] = field(default_factory=dict)


@dataclass
class SweepStats:
    metric: str
    steps: list[int]
    configurations: list[ConfigurationStats]
    jobs: list[Job]  # the sweep's jobs, by id


def sweep_stats(
    session: Session, sweep_id: int, metric: str, *, max_points: int = 200
) -> SweepStats:
    """Per configuration: mean and 95% interval per step across seeds, the
    spread of final and best values, a ranking by mean final value and each
    configuration's paired difference from the leader over shared seeds."""
    jobs = sweep_jobs(session, sweep_id)
    comparison = compare(session, [j.id for j in jobs], metric, max_points=max_points)
    by_job = {run.job.id: run for run in comparison.runs}

    groups: dict[str, list[Job]] = {}
    for job in jobs:
        groups.setdefault(json.dumps(job.sweep_config, sort_keys=True), []).append(job)

    configurations = []
    for members in groups.values():
        runs = [by_job[job.id] for job in members]
        per_step = [
            Spread.of(column) for column in zip(*(r.values for r in runs), strict=True)
        ]
        config = members[0].sweep_config or {}
        configurations.append(
            ConfigurationStats(
                config=config,
                label=describe(config),
                job_ids=[job.id for job in members],
                seeds=[job.seed for job in members],
                finished=sum(job.status in FINISHED_STATUSES for job in members),
                mean=[s.mean for s in per_step],
                low=[s.low for s in per_step],
                high=[s.high for s in per_step],
                # Only runs that trained to the end count: a cancelled or
                # still-running run's last value is not its final one.
                final=Spread.of([r.summary.final for r in runs if _completed(r)]),
                best=Spread.of([r.summary.best for r in runs if _completed(r)]),
                per_seed_final={
                    job.seed: by_job[job.id].summary.final
                    for job in members
                    if job.status == "succeeded"
                },
            )
        )

    _rank(configurations, lower_is_better=metric in LOWER_IS_BETTER)
    return SweepStats(metric, comparison.steps, configurations, jobs)


def _completed(run: RunSeries) -> bool:
    return run.job.status == "succeeded"


def _rank(configurations: list[ConfigurationStats], *, lower_is_better: bool) -> None:
    """Order by mean final value; attach paired differences from the leader."""

    def key(stats: ConfigurationStats) -> float:
        if stats.final.mean is None:
            return math.inf
        return stats.final.mean if lower_is_better else -stats.final.mean

    configurations.sort(key=key)
    leader = configurations[0] if configurations else None
    for rank, stats in enumerate(configurations, start=1):
        stats.rank = rank
        if leader is None or stats is leader:
            continue
        shared = set(stats.per_seed_final) & set(leader.per_seed_final)
        differences = [
            stats.per_seed_final[seed] - leader.per_seed_final[seed]  # type: ignore[operator]
            for seed in sorted(shared)
            if stats.per_seed_final[seed] is not None
            and leader.per_seed_final[seed] is not None
        ]
        stats.paired_vs_leader = Spread.of(differences)
