"""The training loop on the built-in real digits (mnist-10k)."""

from __future__ import annotations

import dataclasses
import itertools
import math
from typing import Any

import numpy as np
import pytest

from core.datasets import Dataset, load_dataset
from core.spec import JobSpec
from core.training import StepRecord, TrainingRun


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    return load_dataset("mnist-10k", cache_dir=tmp_path_factory.mktemp("cache"))


def make_spec(**sections: Any) -> JobSpec:
    spec: dict[str, Any] = {"optimizer": {"name": "adam", "learning_rate": 0.01}}
    for key, value in sections.items():
        spec[key] = value
    return JobSpec.model_validate(spec)


def without_time(records: list[StepRecord]) -> list[tuple[Any, ...]]:
    return [dataclasses.astuple(r)[:-1] for r in records]


def test_same_spec_and_seed_give_bit_identical_metrics(digits: Dataset) -> None:
    spec = make_spec(training={"iterations": 60, "eval_interval": 20, "seed": 3})

    first = list(TrainingRun(spec, digits).records())
    second = list(TrainingRun(spec, digits).records())

    assert without_time(first) == without_time(second)
    other_seed = make_spec(training={"iterations": 60, "eval_interval": 20, "seed": 4})
    assert without_time(
        list(TrainingRun(other_seed, digits).records())
    ) != without_time(first)


def test_records_carry_test_accuracy_on_eval_steps_and_the_last(
    digits: Dataset,
) -> None:
    spec = make_spec(training={"iterations": 45, "eval_interval": 20})

    records = list(TrainingRun(spec, digits).records())

    assert [r.step for r in records] == list(range(1, 46))
    assert [r.step for r in records if r.test_accuracy is not None] == [20, 40, 45]
    assert all(0 <= r.train_accuracy <= 1 for r in records)
    assert all(b.elapsed_s >= a.elapsed_s for a, b in itertools.pairwise(records))


def test_optimizers_with_the_same_seed_start_alike_and_see_the_same_batches(
    digits: Dataset,
) -> None:
    sgd = TrainingRun(
        make_spec(optimizer={"name": "sgd", "learning_rate": 0.1}), digits
    )
    adam = TrainingRun(make_spec(), digits)

    for key, weights in sgd.network.params.items():
        np.testing.assert_array_equal(weights, adam.network.params[key])
    sgd_batches = [sgd.streams.batches.integers(0, 8000, 100) for _ in range(3)]
    adam_batches = [adam.streams.batches.integers(0, 8000, 100) for _ in range(3)]
    np.testing.assert_array_equal(sgd_batches, adam_batches)


def test_first_loss_is_paired_across_optimizers_and_differs_across_seeds(
    digits: Dataset,
) -> None:
    def first_loss(optimizer: str, seed: int) -> float:
        spec = make_spec(
            optimizer={"name": optimizer, "learning_rate": 0.01},
            training={"iterations": 1, "seed": seed},
        )
        return next(TrainingRun(spec, digits).records()).loss

    assert first_loss("sgd", 0) == first_loss("adam", 0) == first_loss("rmsprop", 0)
    assert first_loss("sgd", 0) != first_loss("sgd", 1)


def test_skipped_steps_are_trained_but_not_reported(digits: Dataset) -> None:
    spec = make_spec(
        model={"dropout": 0.2}, training={"iterations": 50, "eval_interval": 7}
    )

    full = list(TrainingRun(spec, digits).records())
    resumed = list(TrainingRun(spec, digits).records(skip_through=30))

    assert [r.step for r in resumed] == list(range(31, 51))
    assert without_time(resumed) == without_time(full[30:])


def test_huge_learning_rate_diverges_with_the_records_so_far(digits: Dataset) -> None:
    run = TrainingRun(
        make_spec(optimizer={"name": "sgd", "learning_rate": 1e6}), digits
    )

    records = list(run.records())

    assert run.outcome == "diverged"
    assert records[-1].loss > 1e4
    assert all(r.loss <= 1e4 for r in records[:-1])
    assert len(records) < 1000


def test_non_finite_loss_diverges_without_numpy_warnings(digits: Dataset) -> None:
    spec = make_spec(
        model={"activation": "relu", "weight_init": "he"},
        optimizer={"name": "sgd", "learning_rate": 1e6},
        training={"iterations": 500, "dtype": "float32", "max_loss": None},
    )
    run = TrainingRun(spec, digits)

    # pytest turns any warning into an error here, NumPy's included.
    records = list(run.records())

    assert run.outcome == "diverged"
    assert not math.isfinite(records[-1].loss)
    assert records[-1].test_accuracy is None


def test_should_stop_cancels_before_the_next_step(digits: Dataset) -> None:
    polls = 0

    def stop_on_sixth_poll() -> bool:
        nonlocal polls
        polls += 1
        return polls == 6

    run = TrainingRun(make_spec(), digits)
    records = list(run.records(stop_on_sixth_poll))

    assert run.outcome == "cancelled"
    assert [r.step for r in records] == [1, 2, 3, 4, 5]


def test_float32_runs_and_schedule_sets_each_steps_rate(digits: Dataset) -> None:
    spec = make_spec(
        optimizer={
            "name": "momentum",
            "learning_rate": 0.1,
            "schedule": {
                "kind": "step",
                "step_size": 10,
                "gamma": 0.5,
                "warmup_steps": 4,
            },
        },
        training={"iterations": 30, "dtype": "float32"},
    )
    run = TrainingRun(spec, digits)

    records = list(run.records())

    assert run.outcome == "succeeded"
    assert {p.dtype for p in run.network.params.values()} == {np.dtype(np.float32)}
    rates = [r.learning_rate for r in records]
    assert rates[:4] == pytest.approx([0.025, 0.05, 0.075, 0.1])
    assert rates[4] == pytest.approx(0.1) and rates[-1] == pytest.approx(0.025)


@pytest.mark.slow
def test_classic_experiment_reproduces_the_known_ordering(digits: Dataset) -> None:
    """784-40-20-10 sigmoid, N(0, 0.01^2), batches of 100, lr 0.01, 1000 steps:
    SGD and Momentum stay near chance, AdaGrad learns a little and stalls,
    RMSProp and Adam climb past 0.85. Three seeds each."""
    final: dict[str, list[float]] = {}
    for optimizer in ("sgd", "momentum", "adagrad", "rmsprop", "adam"):
        for seed in (0, 1, 2):
            spec = make_spec(
                optimizer={"name": optimizer, "learning_rate": 0.01},
                training={"iterations": 1000, "eval_interval": 10, "seed": seed},
            )
            records = list(TrainingRun(spec, digits).records())
            final.setdefault(optimizer, []).append(records[-1].test_accuracy or 0.0)

    mean = {name: float(np.mean(values)) for name, values in final.items()}
    assert max(final["sgd"] + final["momentum"]) < 0.2
    assert 0.2 < mean["adagrad"] < 0.7
    assert min(final["rmsprop"] + final["adam"]) > 0.85
    assert mean["sgd"] <= mean["adagrad"] < min(mean["rmsprop"], mean["adam"])
