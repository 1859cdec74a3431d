"""The training loop: one job spec in, one record per iteration out.

The loop is deterministic: a spec and its seed fix the initial weights, every
minibatch and every dropout mask, each drawn from its own stream spawned from
the seed. Two runs that differ only in the optimizer therefore start from
the same weights and see the same batches, which is what makes a comparison
of optimizers a paired one.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from core.network import MLP
from core.optimizers import make_optimizer
from core.schedules import make_schedule

if TYPE_CHECKING:
    from core.datasets import Dataset
    from core.spec import JobSpec

Outcome = Literal["succeeded", "diverged", "cancelled"]
PIXEL_SCALE = 1.0 / 255.0


@dataclass(frozen=True, slots=True)
class StepRecord:
    """What one iteration measured.

    `loss` and `train_accuracy` come from the minibatch before the update;
    `test_accuracy` from the whole test set after it, on evaluation steps
    only (every `eval_interval` steps and the last one), else None.
    """

    step: int
    loss: float
    train_accuracy: float
    test_accuracy: float | None
    learning_rate: float
    elapsed_s: float


@dataclass(frozen=True, slots=True)
class RandomStreams:
    """Independent generators for the three places randomness enters."""

    init: np.random.Generator
    batches: np.random.Generator
    dropout: np.random.Generator

    @classmethod
    def from_seed(cls, seed: int) -> RandomStreams:
        init, batches, dropout = np.random.SeedSequence(seed).spawn(3)
        return cls(
            np.random.default_rng(init),
            np.random.default_rng(batches),
            np.random.default_rng(dropout),
        )


def build_network(
    spec: JobSpec, features: int, classes: int, streams: RandomStreams
) -> MLP:
    """The spec's network with its initial weights drawn from `streams.init`."""
    model = spec.model
    return MLP(
        model.layer_sizes(features, classes),
        activation=model.activation,
        weight_init=model.weight_init,
        batch_norm=model.batch_norm,
        dropout=model.dropout,
        init_rng=streams.init,
        dropout_rng=streams.dropout,
        dtype=np.float32 if spec.training.dtype == "float32" else np.float64,
    )


class TrainingRun:
    """Trains one spec on one dataset, yielding a `StepRecord` per step.

    After `records()` is exhausted, `outcome` says how the run ended:
    "succeeded", "diverged" (a loss that is not finite or exceeds
    `training.max_loss`; that step's record is the last one yielded) or
    "cancelled" (`should_stop` returned True).

    Example:
        run = TrainingRun(spec, load_dataset(spec.dataset))
        for record in run.records():
            ...
        status = run.outcome
    """

    def __init__(self, spec: JobSpec, dataset: Dataset) -> None:
        self.spec = spec
        self.dataset = dataset
        self.streams = RandomStreams.from_seed(spec.training.seed)
        self.network = build_network(
            spec, dataset.features, dataset.num_classes, self.streams
        )

        opt = spec.optimizer
        self.optimizer = make_optimizer(
            opt.name, max_grad_norm=opt.max_grad_norm, **opt.hyperparameters()
        )
        schedule = opt.schedule
        self.learning_rate_at: Callable[[int], float] = make_schedule(
            schedule.kind,
            opt.learning_rate,
            spec.training.iterations,
            warmup_steps=schedule.warmup_steps,
            step_size=getattr(schedule, "step_size", None),
            gamma=getattr(schedule, "gamma", 0.1),
            min_lr=getattr(schedule, "min_lr", 0.0),
        )
        self.outcome: Outcome | None = None
        # The optimizer sees the whole network as one flat parameter; every
        # rule here is elementwise (clipping uses the global norm anyway).
        self._params = {"all": self.network.flat_params}
        self._grads = {"all": self.network.flat_grads}

    def records(
        self,
        should_stop: Callable[[], bool] | None = None,
        *,
        skip_through: int = 0,
        clock_from: tuple[int, float] = (0, 0.0),
    ) -> Iterator[StepRecord]:
        """Run the loop.

        Args:
            should_stop: polled before every step; True cancels the run.
            skip_through: steps up to this one are trained but neither
                evaluated nor yielded. A worker that restarts a job replays
                them to rebuild the exact state; evaluation draws no random
                numbers and changes no weights, so skipping it is safe.
            clock_from: (step, elapsed seconds): `elapsed_s` of the steps
                after `step` continues from these seconds, so a restarted
                run's clock goes on from where its stored steps left it.
        """
        training = self.spec.training
        started = time.perf_counter()

        for step in range(1, training.iterations + 1):
            if step == clock_from[0] + 1:
                started = time.perf_counter() - clock_from[1]
            if should_stop is not None and should_stop():
                self.outcome = "cancelled"
                return

            loss, train_accuracy, learning_rate = self._train_step(step)
            if step <= skip_through:
                continue

            diverged = not math.isfinite(loss) or (
                training.max_loss is not None and loss > training.max_loss
            )
            is_eval_step = (
                step % training.eval_interval == 0 or step == training.iterations
            )
            test_accuracy = (
                self.test_accuracy() if is_eval_step and not diverged else None
            )
            yield StepRecord(
                step=step,
                loss=loss,
                train_accuracy=train_accuracy,
                test_accuracy=test_accuracy,
                learning_rate=learning_rate,
                elapsed_s=time.perf_counter() - started,
            )
            if diverged:
                self.outcome = "diverged"
                return

        self.outcome = "succeeded"

    def _train_step(self, step: int) -> tuple[float, float, float]:
        """One minibatch: returns its loss, its accuracy and the rate used."""
        training = self.spec.training
        labels = self.dataset.train_labels

        # Divergence is detected from the returned loss; overflow on the way
        # there is expected and must not reach the logs as warnings.
        with np.errstate(all="ignore"):
            # 1. draw a minibatch with replacement and scale its pixels
            rows = self.streams.batches.integers(0, len(labels), training.batch_size)
            x = self.dataset.train_images[rows].astype(self.network.dtype)  # (N, D)
            x *= PIXEL_SCALE

            # 2. forward and backward, then update with the scheduled rate
            loss, accuracy = self.network.train_batch(x, labels[rows])
            learning_rate = self.learning_rate_at(step)
            self.optimizer.learning_rate = learning_rate
            self.optimizer.step(self._params, self._grads)

        return loss, accuracy, learning_rate

    def test_accuracy(self) -> float:
        """Accuracy on the whole test set, evaluated in chunks."""
        with np.errstate(all="ignore"):
            correct = self.network.count_correct(
                self.dataset.test_images, self.dataset.test_labels, scale=PIXEL_SCALE
            )
        return correct / len(self.dataset.test_labels)
