"""Runs a claimed job: trains it and streams its metrics into the database.

Writes are batched: records collect in memory and go out together with the
heartbeat every `flush_interval` seconds, which is also how often a cancel
request is noticed. A restarted job replays its training from step 1 (the
run is deterministic) up to the last complete block already stored, then
writes from there on; the steps of that last block are written again and
skipped by the database, so the block summaries see every step.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from core.datasets import load_dataset
from core.jobs import Claim, finish_job, renew_lease
from core.metrics import (
    BLOCK_STEPS,
    ProgressUpdate,
    block_of,
    block_rows,
    flush_progress,
    record_row,
)
from core.spec import JobSpec, check_against_dataset
from core.training import TrainingRun

logger = logging.getLogger(__name__)

SessionFactory = Callable[[], Any]  # a context manager yielding a Session

# Weight of the newest measurement in the smoothed seconds-per-step.
PACE_SMOOTHING = 0.3


class Heartbeat(threading.Thread):
    """Renews a job's lease every `interval` seconds while a step runs.

    The training loop writes a heartbeat with every batch of metrics, but a
    single step of a large network can outlast the heartbeat timeout; this
    thread keeps the job looking alive meanwhile. A lost lease is noticed by
    the next flush, which raises `LeaseLost`.
    """

    def __init__(self, renew: Callable[[], bool], interval: float) -> None:
        super().__init__(name="trainjobs-heartbeat", daemon=True)
        self.renew = renew
        self.interval = interval
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.interval):
            try:
                if not self.renew():
                    return
            except Exception:
                # The flush path reports database trouble; a missed beat here
                # only matters if it lasts the whole timeout.
                logger.warning("heartbeat failed", exc_info=True)

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=self.interval + 5)


class JobRunner:
    """Trains one claimed job and persists everything it measures.

    Args:
        claim: the lease and spec handed out by `core.jobs.claim_job`.
        session_scope: returns a transaction-scoped session context.
        flush_interval: seconds between batched writes and cancel checks.
        heartbeat_interval: seconds between heartbeats written by a thread
            of their own, so a single step longer than the heartbeat timeout
            does not make the job look dead.
        data_dirs: extra dataset folders searched before the defaults.
        cache_dir: where decoded datasets are cached for reuse.
    """

    def __init__(
        self,
        claim: Claim,
        session_scope: Callable[[], Any],
        *,
        flush_interval: float,
        heartbeat_interval: float = 5.0,
        data_dirs: list[Any] | None = None,
        cache_dir: Any = None,
    ) -> None:
        self.claim = claim
        self.session_scope = session_scope
        self.flush_interval = flush_interval
        self.heartbeat_interval = heartbeat_interval
        self.data_dirs = data_dirs
        self.cache_dir = cache_dir

        self.pending: list[dict[str, Any]] = []  # rows not yet written
        self.window: list[dict[str, Any]] = []  # rows of the open block(s)
        self.cancel_requested = False
        self.last_flush = time.monotonic()
        self.last_step = 0
        self.pace: float | None = None
        self._pace_mark: tuple[int, float] | None = None

    def run(self) -> str:
        """Train to the end; return the final status written to the job.

        Raises:
            DatasetError, SpecError: the job cannot run on this machine.
            LeaseLost: another worker took the job over.
        """
        spec = JobSpec.model_validate(self.claim.spec)
        dataset = load_dataset(
            spec.dataset, data_dirs=self.data_dirs, cache_dir=self.cache_dir
        )
        check_against_dataset(
            spec,
            features=dataset.features,
            classes=dataset.num_classes,
            train_size=dataset.train_size,
        )
        training = TrainingRun(spec, dataset)
        # TODO: resume from a stored checkpoint of weights, optimizer state and
        # random streams instead of replaying; replay costs as much as the
        # steps already done, which starts to matter for jobs of many minutes.
        skip_through = (self.claim.stored_through // BLOCK_STEPS) * BLOCK_STEPS

        clock_from = (self.claim.stored_through, self.claim.stored_elapsed)

        diverged_at = None
        heartbeat = Heartbeat(self._renew_lease, self.heartbeat_interval)
        heartbeat.start()
        try:
            for record in training.records(
                self.poll, skip_through=skip_through, clock_from=clock_from
            ):
                row = record_row(self.claim.job_id, record)
                self.pending.append(row)
                self.window.append(row)
                self.last_step = record.step
        finally:
            heartbeat.stop()

        status = training.outcome or "failed"
        if status == "diverged":
            diverged_at = self.last_step
        with self.session_scope() as session:
            self._flush(session)
            finish_job(
                session,
                self.claim.job_id,
                self.claim.token,
                status,
                diverged_at=diverged_at,
            )
        return status

    def _renew_lease(self) -> bool:
        with self.session_scope() as session:
            return renew_lease(session, self.claim.job_id, self.claim.token)

    def poll(self) -> bool:
        """Called before every step: flush when due; True means stop."""
        if time.monotonic() - self.last_flush >= self.flush_interval:
            with self.session_scope() as session:
                self._flush(session)
        return self.cancel_requested

    def _flush(self, session: Session) -> None:
        touched = {block_of(row["step"]) for row in self.pending}
        blocks = block_rows(
            self.claim.job_id,
            [row for row in self.window if block_of(row["step"]) in touched],
        )
        self.cancel_requested = flush_progress(
            session,
            self.claim.job_id,
            self.claim.token,
            self.pending,
            blocks,
            ProgressUpdate(self.last_step, self._update_pace()),
        )

        self.pending = []
        if self.window:
            # Blocks before the newest one are complete and never change again.
            open_block = block_of(self.window[-1]["step"])
            self.window = [r for r in self.window if block_of(r["step"]) >= open_block]
        self.last_flush = time.monotonic()

    def _update_pace(self) -> float | None:
        """Smoothed seconds per step, from the records since the last flush."""
        if not self.pending:
            return self.pace
        step, elapsed = self.pending[-1]["step"], self.pending[-1]["elapsed_s"]
        if self._pace_mark is not None and step > self._pace_mark[0]:
            latest = (elapsed - self._pace_mark[1]) / (step - self._pace_mark[0])
            self.pace = (
                latest
                if self.pace is None
                else PACE_SMOOTHING * latest + (1 - PACE_SMOOTHING) * self.pace
            )
        self._pace_mark = (step, elapsed)
        return self.pace
