"""Record torch.optim trajectories for the optimizer parity test.

Run from the repository root, with the `torch` extra installed::

    .venv/bin/python -m tests.core.make_optimizer_references

It writes `tests/core/data/optimizer_references.npz`, which holds:

- `cases`: the JSON of `CASES`, so the test can tell when the file is stale;
- `initial/<param>`: the starting parameters;
- `grads/<param>`: one gradient per step, shape (STEPS, *param shape);
- `<case>/<param>`: torch's parameters after every SNAPSHOT_EVERY-th step,
  shape (STEPS // SNAPSHOT_EVERY, *param shape); the last row is the final
  parameters.

The gradients are stored rather than redrawn from the seed because NumPy does
not promise that a `Generator` gives the same stream in every release.

This module imports torch only inside `torch_trajectory`, so the test can use
the case list and helpers without it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]

STEPS = 200
SNAPSHOT_EVERY = 10
SEED = 20_250_601
SHAPES: dict[str, tuple[int, ...]] = {"weight": (4, 3), "bias": (3,)}
REFERENCES_PATH = Path(__file__).parent / "data" / "optimizer_references.npz"

# Every hyperparameter is written out, eps included, so neither side falls back
# on a default the other does not share. The "_wd" cases also use a large eps:
# at 1e-8 it moves the result by about 1e-8, below the test's tolerance, so a
# misplaced eps would go unnoticed. max_grad_norm=4 clips roughly half of the
# steps (see `make_inputs`), so both branches of the clipping are exercised.
CASES: dict[str, tuple[str, dict[str, float]]] = {
    "sgd": ("sgd", {"learning_rate": 0.05, "weight_decay": 0.0}),
    "sgd_wd": ("sgd", {"learning_rate": 0.05, "weight_decay": 0.1}),
    "sgd_clip": (
        "sgd",
        {"learning_rate": 0.05, "weight_decay": 0.0, "max_grad_norm": 4.0},
    ),
    "momentum": (
        "momentum",
        {"learning_rate": 0.01, "momentum": 0.9, "weight_decay": 0.0},
    ),
    "momentum_wd": (
        "momentum",
        {"learning_rate": 0.01, "momentum": 0.8, "weight_decay": 0.1},
    ),
    "nesterov": (
        "nesterov",
        {"learning_rate": 0.01, "momentum": 0.9, "weight_decay": 0.0},
    ),
    "nesterov_wd": (
        "nesterov",
        {"learning_rate": 0.01, "momentum": 0.8, "weight_decay": 0.1},
    ),
    "nesterov_wd_clip": (
        "nesterov",
        {
            "learning_rate": 0.01,
            "momentum": 0.9,
            "weight_decay": 0.1,
            "max_grad_norm": 4.0,
        },
    ),
    "adagrad": (
        "adagrad",
        {
            "learning_rate": 0.1,
            "eps": 1e-7,
            "initial_accumulator_value": 0.0,
            "weight_decay": 0.0,
        },
    ),
    "adagrad_wd": (
        "adagrad",
        {
            "learning_rate": 0.1,
            "eps": 0.01,
            "initial_accumulator_value": 0.1,
            "weight_decay": 0.1,
        },
    ),
    "rmsprop": (
        "rmsprop",
        {"learning_rate": 0.01, "alpha": 0.99, "eps": 1e-7, "weight_decay": 0.0},
    ),
    "rmsprop_wd": (
        "rmsprop",
        {"learning_rate": 0.01, "alpha": 0.9, "eps": 0.01, "weight_decay": 0.1},
    ),
    "adam": (
        "adam",
        {
            "learning_rate": 0.01,
            "beta1": 0.9,
            "beta2": 0.999,
            "eps": 1e-8,
            "weight_decay": 0.0,
        },
    ),
    "adam_wd": (
        "adam",
        {
            "learning_rate": 0.01,
            "beta1": 0.8,
            "beta2": 0.99,
            "eps": 1e-3,
            "weight_decay": 0.1,
        },
    ),
    "adamw_no_decay": (
        "adamw",
        {
            "learning_rate": 0.01,
            "beta1": 0.9,
            "beta2": 0.999,
            "eps": 1e-8,
            "weight_decay": 0.0,
        },
    ),
    "adamw": (
        "adamw",
        {
            "learning_rate": 0.01,
            "beta1": 0.9,
            "beta2": 0.999,
            "eps": 1e-3,
            "weight_decay": 0.1,
        },
    ),
    "adamw_clip": (
        "adamw",
        {
            "learning_rate": 0.01,
            "beta1": 0.9,
            "beta2": 0.999,
            "eps": 1e-8,
            "weight_decay": 0.01,
            "max_grad_norm": 4.0,
        },
    ),
}


def make_inputs(seed: int = SEED) -> tuple[dict[str, Array], dict[str, Array]]:
    """Draw the starting parameters and one gradient per step.

    Each step's gradients share a log-normal scale, so the global norm (about
    4 times the scale for these 15 numbers) sits above 4 on some steps and
    below it on others.

    Returns:
        The starting parameters and the gradients, shape (STEPS, *shape), by
        parameter name.
    """
    rng = np.random.default_rng(seed)
    initial = {name: rng.standard_normal(shape) for name, shape in SHAPES.items()}
    scale = np.exp(rng.normal(0.0, 0.5, size=STEPS))  # (STEPS,)
    grads = {
        name: rng.standard_normal((STEPS, *shape))
        * scale.reshape(STEPS, *(1,) * len(shape))
        for name, shape in SHAPES.items()
    }
    return initial, grads


def snapshot_rows() -> slice:
    """Which rows of a full (STEPS, ...) trajectory the file keeps."""
    return slice(SNAPSHOT_EVERY - 1, STEPS, SNAPSHOT_EVERY)


def torch_trajectory(
    case: str, initial: dict[str, Array], grads: dict[str, Array]
) -> dict[str, Array]:
    """Run torch.optim for one case in float64.

    Args:
        case: a key of CASES.
        initial: starting parameters by name.
        grads: gradients by name, shape (STEPS, *shape).

    Returns:
        The parameters after every step by name, shape (STEPS, *shape).
    """
    import torch

    name, hyperparameters = CASES[case]
    params = {
        key: torch.nn.Parameter(torch.tensor(value, dtype=torch.float64))
        for key, value in initial.items()
    }
    optimizer = _torch_optimizer(name, hyperparameters, list(params.values()))
    max_grad_norm = hyperparameters.get("max_grad_norm")
    trajectory = {key: np.empty_like(grads[key]) for key in params}

    for t in range(STEPS):
        for key, param in params.items():
            param.grad = torch.tensor(grads[key][t], dtype=torch.float64)
        if max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(
                list(params.values()), max_grad_norm, foreach=False
            )
        optimizer.step()
        for key, param in params.items():
            trajectory[key][t] = param.detach().numpy()
    return trajectory


def _torch_optimizer(name: str, hp: dict[str, float], params: list[Any]) -> Any:
    """The torch.optim optimizer of a case (typed Any: torch is optional)."""
    import torch

    lr, wd = hp["learning_rate"], hp["weight_decay"]
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, weight_decay=wd, foreach=False)
    if name in ("momentum", "nesterov"):
        return torch.optim.SGD(
            params,
            lr=lr,
            momentum=hp["momentum"],
            dampening=0.0,
            nesterov=name == "nesterov",
            weight_decay=wd,
            foreach=False,
        )
    if name == "adagrad":
        return torch.optim.Adagrad(
            params,
            lr=lr,
            lr_decay=0.0,
            weight_decay=wd,
            initial_accumulator_value=hp["initial_accumulator_value"],
            eps=hp["eps"],
            foreach=False,
        )
    if name == "rmsprop":
        return torch.optim.RMSprop(
            params,
            lr=lr,
            alpha=hp["alpha"],
            eps=hp["eps"],
            weight_decay=wd,
            momentum=0.0,
            centered=False,
            foreach=False,
        )
    if name in ("adam", "adamw"):
        adam = torch.optim.AdamW if name == "adamw" else torch.optim.Adam
        return adam(
            params,
            lr=lr,
            betas=(hp["beta1"], hp["beta2"]),
            eps=hp["eps"],
            weight_decay=wd,
            foreach=False,
        )
    raise ValueError(f"no torch optimizer for {name!r}")


def main() -> None:
    """Write REFERENCES_PATH from torch."""
    initial, grads = make_inputs()
    arrays: dict[str, Any] = {
        "cases": np.array(json.dumps(CASES, sort_keys=True)),
    }
    for key in SHAPES:
        arrays[f"initial/{key}"] = initial[key]
        arrays[f"grads/{key}"] = grads[key]
    for case in CASES:
        trajectory = torch_trajectory(case, initial, grads)
        for key in SHAPES:
            arrays[f"{case}/{key}"] = trajectory[key][snapshot_rows()]

    REFERENCES_PATH.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(REFERENCES_PATH, **arrays)
    print(f"wrote {REFERENCES_PATH} ({REFERENCES_PATH.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
