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
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from core.datasets import load_dataset
from core.jobs import Claim, finish_job
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


class JobRunner:
    """Trains one claimed job and persists everything it measures.

    Args:
        claim: the lease and spec handed out by `core.jobs.claim_job`.
        session_scope: returns a transaction-scoped session context.
        flush_interval: seconds between batched writes and cancel checks.
        data_dirs: extra dataset folders searched before the defaults.
        cache_dir: where decoded datasets are cached for reuse.
    """

    def __init__(
        self,
        claim: Claim,
        session_scope: Callable[[], Any],
        *,
        flush_interval: float,
        data_dirs: list[Any] | None = None,
        cache_dir: Any = None,
    ) -> None:
        self.claim = claim
        self.session_scope = session_scope
        self.flush_interval = flush_interval
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

        diverged_at = None
        for record in training.records(self.poll, skip_through=skip_through):
            row = record_row(self.claim.job_id, record)
            self.pending.append(row)
            self.window.append(row)
            self.last_step = record.step

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
