"""Every optimizer's trajectory against torch.optim's, recorded and live.

Each case runs 200 float64 steps on fixed random gradients. The recorded
comparison always runs, against the torch trajectories committed in
`data/optimizer_references.npz`; the live one runs whenever torch is
installed. Regenerate the file with
`.venv/bin/python -m tests.core.make_optimizer_references`.
"""

from __future__ import annotations

import importlib.util
import json
from functools import cache

import numpy as np
import pytest

from core.optimizers import make_optimizer
from tests.core.make_optimizer_references import (
    CASES,
    REFERENCES_PATH,
    SHAPES,
    STEPS,
    Array,
    snapshot_rows,
    torch_trajectory,
)

TOLERANCE = 1e-6
HAVE_TORCH = importlib.util.find_spec("torch") is not None


@cache
def recorded() -> dict[str, Array]:
    """The committed reference file, loaded once."""
    with np.load(REFERENCES_PATH, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def recorded_inputs() -> tuple[dict[str, Array], dict[str, Array]]:
    data = recorded()
    initial = {key: data[f"initial/{key}"] for key in SHAPES}
    grads = {key: data[f"grads/{key}"] for key in SHAPES}
    return initial, grads


def our_trajectory(
    case: str, initial: dict[str, Array], grads: dict[str, Array]
) -> dict[str, Array]:
    """Run core.optimizers for one case; parameters after every step."""
    name, hyperparameters = CASES[case]
    optimizer = make_optimizer(name, **hyperparameters)
    params = {key: value.copy() for key, value in initial.items()}
    trajectory = {key: np.empty_like(grads[key]) for key in params}

    for t in range(STEPS):
        optimizer.step(params, {key: grads[key][t] for key in params})
        for key, param in params.items():
            trajectory[key][t] = param
    return trajectory


def relative_errors(
    ours: dict[str, Array], reference: dict[str, Array], initial: dict[str, Array]
) -> Array:
    """Per snapshot, |ours - reference| / |reference - initial|.

    The norms run over all parameters together: S snapshots of P numbers.
    Dividing by how far the reference has moved, rather than by the size of
    the parameters, keeps a wrong update from hiding behind large starting
    weights.
    """

    def flat(arrays: dict[str, Array]) -> Array:
        snapshots = next(iter(arrays.values())).shape[0]
        return np.concatenate(
            [arrays[key].reshape(snapshots, -1) for key in SHAPES], axis=1
        )  # (S, P)

    start = np.concatenate([initial[key].ravel() for key in SHAPES])  # (P,)
    diff: Array = np.linalg.norm(flat(ours) - flat(reference), axis=1)  # (S,)
    moved: Array = np.linalg.norm(flat(reference) - start, axis=1)  # (S,)
    return diff / moved


def test_recorded_references_match_the_cases() -> None:
    stored = json.loads(str(recorded()["cases"]))
    expected = json.loads(json.dumps(CASES, sort_keys=True))
    assert stored == expected, (
        "optimizer_references.npz is stale; regenerate it with "
        "`.venv/bin/python -m tests.core.make_optimizer_references`"
    )


@pytest.mark.parametrize(
    "reference",
    [
        "recorded",
        pytest.param(
            "torch",
            marks=pytest.mark.skipif(
                not HAVE_TORCH,
                reason="torch is not installed; the recorded comparison still ran",
            ),
        ),
    ],
)
@pytest.mark.parametrize("case", list(CASES))
def test_optimizer_trajectory_matches_torch(case: str, reference: str) -> None:
    initial, grads = recorded_inputs()
    ours = our_trajectory(case, initial, grads)

    if reference == "torch":
        theirs = torch_trajectory(case, initial, grads)
    else:
        data = recorded()
        theirs = {key: data[f"{case}/{key}"] for key in SHAPES}
        ours = {key: value[snapshot_rows()] for key, value in ours.items()}

    errors = relative_errors(ours, theirs, initial)
    worst = int(np.argmax(errors))
    assert errors[worst] <= TOLERANCE, (
        f"{case}: relative error {errors[worst]:.3g} at snapshot {worst} "
        f"exceeds {TOLERANCE:g}"
    )
