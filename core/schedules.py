"""Learning-rate schedules: the rate for each 1-based training step.

A schedule is a plain function `step -> learning_rate`, built once per run.
The training loop calls it before every optimizer step and assigns the result
to `optimizer.learning_rate`.

Every kind starts with an optional linear warm-up (Goyal et al. 2017,
"Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour"): step s of
warmup_steps gets base_lr * s / warmup_steps, so the first step is already
non-zero and the last warm-up step reaches base_lr. After it, with k counting
steps from 1 again and n = total_steps - warmup_steps steps left:

- constant: base_lr.
- step: base_lr * gamma ** ((k - 1) // step_size), i.e. torch's StepLR counted
  from the end of warm-up: the first step_size steps run at base_lr.
- cosine: min_lr + (base_lr - min_lr) * (1 + cos(pi * (k - 1) / (n - 1))) / 2,
  from base_lr at k = 1 down to exactly min_lr at the last step (Loshchilov &
  Hutter 2017, "SGDR: Stochastic Gradient Descent with Warm Restarts",
  without the restarts). With a single step left, that step gets min_lr.
"""

from __future__ import annotations

import math
from collections.abc import Callable

__all__ = ["SCHEDULE_KINDS", "make_schedule"]

SCHEDULE_KINDS: tuple[str, ...] = ("constant", "step", "cosine")
"""The kinds `make_schedule` knows, the same as the job spec's."""


def make_schedule(
    kind: str,
    base_lr: float,
    total_steps: int,
    *,
    warmup_steps: int = 0,
    step_size: int | None = None,
    gamma: float = 0.1,
    min_lr: float = 0.0,
) -> Callable[[int], float]:
    """Build the learning-rate schedule of one run.

    Args:
        kind: "constant", "step" or "cosine".
        base_lr: the rate after warm-up; must be > 0.
        total_steps: steps in the run, >= 1; the schedule is defined on
            1..total_steps.
        warmup_steps: steps of linear warm-up, from 0 to total_steps (for
            cosine, below total_steps so that the decay has a step to end on).
        step_size: for "step" only, and required there: steps between two
            multiplications by gamma, >= 1.
        gamma: factor applied every step_size steps, in (0, 1].
        min_lr: where cosine ends, in [0, base_lr].

    Returns:
        A function from a 1-based step to its learning rate. It raises
        ValueError for a step outside 1..total_steps.

    Raises:
        ValueError: naming the argument that is out of range or does not fit
            the kind.
    """
    _check_schedule(kind, base_lr, total_steps, warmup_steps, step_size, gamma, min_lr)
    remaining = total_steps - warmup_steps

    def after_warmup(k: int) -> float:
        if kind == "step":
            assert step_size is not None  # checked above
            return base_lr * gamma ** ((k - 1) // step_size)
        if kind == "cosine":
            progress = (k - 1) / (remaining - 1) if remaining > 1 else 1.0
            return min_lr + (base_lr - min_lr) * 0.5 * (
                1.0 + math.cos(math.pi * progress)
            )
        return base_lr

    def learning_rate(step: int) -> float:
        if not 1 <= step <= total_steps:
            raise ValueError(f"step must be in [1, {total_steps}], got {step}")
        if step <= warmup_steps:
            return base_lr * step / warmup_steps
        return after_warmup(step - warmup_steps)

    return learning_rate


def _check_schedule(
    kind: str,
    base_lr: float,
    total_steps: int,
    warmup_steps: int,
    step_size: int | None,
    gamma: float,
    min_lr: float,
) -> None:
    if kind not in SCHEDULE_KINDS:
        raise ValueError(
            f"unknown schedule kind {kind!r}; expected one of "
            f"{', '.join(SCHEDULE_KINDS)}"
        )
    if not (math.isfinite(base_lr) and base_lr > 0):
        raise ValueError(f"base_lr must be a finite number > 0, got {base_lr!r}")
    if total_steps < 1:
        raise ValueError(f"total_steps must be >= 1, got {total_steps}")
    if not 0 <= warmup_steps <= total_steps:
        raise ValueError(
            f"warmup_steps must be in [0, total_steps={total_steps}], "
            f"got {warmup_steps}"
        )
    if kind == "cosine" and warmup_steps == total_steps:
        raise ValueError(
            "cosine needs at least one step after warm-up to reach min_lr: "
            f"warmup_steps must be < total_steps={total_steps}, got {warmup_steps}"
        )
    if kind == "step" and step_size is None:
        raise ValueError("step_size is required for kind 'step'")
    if kind != "step" and step_size is not None:
        raise ValueError(
            f"step_size only applies to kind 'step', got step_size={step_size} "
            f"with kind {kind!r}"
        )
    if step_size is not None and step_size < 1:
        raise ValueError(f"step_size must be >= 1, got {step_size}")
    if not (math.isfinite(gamma) and 0 < gamma <= 1):
        raise ValueError(f"gamma must be in (0, 1], got {gamma!r}")
    if not (math.isfinite(min_lr) and 0 <= min_lr <= base_lr):
        raise ValueError(f"min_lr must be in [0, base_lr={base_lr!r}], got {min_lr!r}")
