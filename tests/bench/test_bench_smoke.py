"""The benchmark's bare NumPy loop computes exactly what core computes.

A correctness check of `bench.core_vs_bare`, not a timing: if the bare loop
drifted from core's arithmetic, its timings would compare different work.
"""

from __future__ import annotations

import pytest

from bench.core_vs_bare import SEED_OPTIMIZERS, run_bare, run_core, seed_spec
from core.datasets import Dataset, load_dataset

ITERATIONS = 25


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    return load_dataset("mnist-10k", cache_dir=tmp_path_factory.mktemp("cache"))


@pytest.mark.parametrize("optimizer", SEED_OPTIMIZERS)
def test_bare_loop_gives_core_numbers_bit_for_bit(
    digits: Dataset, optimizer: str
) -> None:
    core = run_core(seed_spec(digits.name, optimizer, ITERATIONS), digits)
    bare = run_bare(digits, optimizer, ITERATIONS)

    assert [step for step, _ in core.test_accuracies] == [10, 20, 25]
    assert len(core.losses) == ITERATIONS
    assert bare == core


def test_bare_loop_rejects_an_optimizer_it_does_not_implement(
    digits: Dataset,
) -> None:
    with pytest.raises(ValueError, match="optimizer must be one of"):
        run_bare(digits, "nesterov", ITERATIONS)
