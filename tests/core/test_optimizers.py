"""Optimizers and learning-rate schedules: behaviour and hand-computed steps.

The whole-trajectory comparison with torch.optim lives in
`test_optimizer_parity.py`; here each update rule is checked on a step or two
small enough to work out by hand.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from numpy.typing import NDArray
from pydantic import TypeAdapter

from core.optimizers import (
    OPTIMIZERS,
    SGD,
    AdaGrad,
    Adam,
    AdamW,
    Momentum,
    Nesterov,
    Optimizer,
    RMSProp,
    make_optimizer,
)
from core.schedules import make_schedule
from core.spec import OPTIMIZER_NAMES, OptimizerSpec

Array = NDArray[np.float64]

# A learning rate per optimizer that converges on the quadratic below.
QUADRATIC_LEARNING_RATES = {
    "sgd": 0.2,
    "momentum": 0.05,
    "nesterov": 0.05,
    "adagrad": 0.5,
    "rmsprop": 0.02,
    "adam": 0.05,
    "adamw": 0.05,
}


def make_params(seed: int = 0) -> dict[str, Array]:
    rng = np.random.default_rng(seed)
    return {"W": rng.standard_normal((3, 4)), "b": rng.standard_normal(4)}


def make_grads(seed: int = 1) -> dict[str, Array]:
    return make_params(seed)


def global_norm(arrays: dict[str, Array]) -> float:
    return math.sqrt(sum(float(np.sum(a * a)) for a in arrays.values()))


class Quadratic:
    """f(w) = 1/2 sum(curvature * (w - target)^2), a convex bowl per array."""

    def __init__(self) -> None:
        rng = np.random.default_rng(2)
        self.target = make_params(seed=3)
        self.curvature = {
            key: rng.uniform(0.5, 2.0, value.shape)
            for key, value in self.target.items()
        }

    def loss(self, params: dict[str, Array]) -> float:
        return sum(
            0.5 * float(np.sum(self.curvature[key] * (params[key] - target) ** 2))
            for key, target in self.target.items()
        )

    def grads(self, params: dict[str, Array]) -> dict[str, Array]:
        return {
            key: self.curvature[key] * (params[key] - target)
            for key, target in self.target.items()
        }


# -- behaviour shared by every optimizer --------------------------------------


def test_optimizer_names_match_the_job_spec() -> None:
    assert set(OPTIMIZERS) == set(OPTIMIZER_NAMES)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_optimizer_decreases_a_convex_quadratic(name: str) -> None:
    problem = Quadratic()
    params = make_params()
    optimizer = make_optimizer(name, QUADRATIC_LEARNING_RATES[name])
    initial_loss = problem.loss(params)

    for _ in range(300):
        optimizer.step(params, problem.grads(params))

    assert problem.loss(params) < 0.01 * initial_loss


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_step_updates_the_parameter_arrays_in_place(name: str) -> None:
    params = make_params()
    arrays = dict(params)
    optimizer = make_optimizer(name, 0.1)

    optimizer.step(params, make_grads())
    state_arrays = {key: dict(state.arrays) for key, state in optimizer.state.items()}
    optimizer.step(params, make_grads(seed=4))

    for key, array in arrays.items():
        assert params[key] is array
        assert not np.array_equal(array, make_params()[key])
        for state_name, state_array in state_arrays[key].items():
            assert optimizer.state[key].arrays[state_name] is state_array


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_step_leaves_the_callers_gradients_unchanged(name: str) -> None:
    params = make_params()
    grads = {key: 10.0 * value for key, value in make_grads().items()}
    before = {key: value.copy() for key, value in grads.items()}
    optimizer = make_optimizer(name, 0.1, weight_decay=0.1, max_grad_norm=1.0)

    optimizer.step(params, grads)

    for key, value in grads.items():
        np.testing.assert_array_equal(value, before[key])


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_float32_parameters_and_state_stay_float32(name: str) -> None:
    params = {key: value.astype(np.float32) for key, value in make_params().items()}
    grads = {key: value.astype(np.float32) for key, value in make_grads().items()}
    optimizer = make_optimizer(name, 0.1, weight_decay=0.1, max_grad_norm=1.0)

    for _ in range(3):
        optimizer.step(params, grads)

    for key, param in params.items():
        assert param.dtype == np.float32
        assert np.all(np.isfinite(param))
        for array in optimizer.state[key].arrays.values():
            assert array.dtype == np.float32


def test_state_is_created_per_parameter_name_on_first_step() -> None:
    optimizer = Adam(0.1)
    params = make_params()
    grads = make_grads()
    grads["b"][:] = 0.0
    assert optimizer.state == {}

    optimizer.step(params, grads)
    optimizer.step(params, grads)
    params["late"] = np.ones(2)
    grads["late"] = np.ones(2)
    optimizer.step(params, grads)

    assert set(optimizer.state) == {"W", "b", "late"}
    for key, param in params.items():
        for array in optimizer.state[key].arrays.values():
            assert array.shape == param.shape
    assert np.all(optimizer.state["b"].arrays["first_moment"] == 0.0)
    assert np.all(optimizer.state["W"].arrays["first_moment"] != 0.0)
    # Each parameter counts its own steps, so Adam's bias correction for a
    # parameter that joined late starts again from t = 1.
    assert optimizer.state["W"].steps == 3
    assert optimizer.state["late"].steps == 1


# -- each update rule, worked out by hand --------------------------------------


def test_sgd_step_subtracts_learning_rate_times_gradient_plus_l2_decay() -> None:
    params = make_params()
    grads = make_grads()
    start = {key: value.copy() for key, value in params.items()}

    SGD(0.1, weight_decay=0.01).step(params, grads)

    for key, param in params.items():
        expected = start[key] - 0.1 * (grads[key] + 0.01 * start[key])
        np.testing.assert_allclose(param, expected, rtol=1e-15)


def test_momentum_velocity_after_two_steps() -> None:
    params = make_params()
    start = {key: value.copy() for key, value in params.items()}
    first, second = make_grads(seed=1), make_grads(seed=2)
    optimizer = Momentum(0.1, momentum=0.9)

    optimizer.step(params, first)
    optimizer.step(params, second)

    for key, param in params.items():
        # v1 = -lr g1; v2 = momentum * v1 - lr g2; w2 = w0 + v1 + v2
        v1 = -0.1 * first[key]
        v2 = 0.9 * v1 - 0.1 * second[key]
        velocity = optimizer.state[key].arrays["velocity"]
        np.testing.assert_allclose(velocity, v2, rtol=1e-14)
        np.testing.assert_allclose(param, start[key] + v1 + v2, rtol=1e-14)


def test_nesterov_looks_ahead_along_the_buffer() -> None:
    params = make_params()
    start = {key: value.copy() for key, value in params.items()}
    first, second = make_grads(seed=1), make_grads(seed=2)
    optimizer = Nesterov(0.1, momentum=0.9)

    optimizer.step(params, first)
    optimizer.step(params, second)

    for key, param in params.items():
        # b1 = g1, w1 = w0 - lr (g1 + mu b1); b2 = mu b1 + g2, w2 = w1 - lr (g2 + mu b2)
        b1 = first[key]
        w1 = start[key] - 0.1 * (first[key] + 0.9 * b1)
        b2 = 0.9 * b1 + second[key]
        w2 = w1 - 0.1 * (second[key] + 0.9 * b2)
        np.testing.assert_allclose(param, w2, rtol=1e-14)


def test_adagrad_first_step_is_learning_rate_times_sign_of_gradient() -> None:
    params = make_params()
    start = {key: value.copy() for key, value in params.items()}
    grads = make_grads()

    AdaGrad(0.1, eps=1e-7).step(params, grads)

    # h = g^2, so the step is lr g / (|g| + eps): lr sign(g) up to eps / |g|.
    for key, param in params.items():
        grad = grads[key]
        expected_step = 0.1 * grad / (np.abs(grad) + 1e-7)
        np.testing.assert_allclose(start[key] - param, expected_step, rtol=1e-14)
        np.testing.assert_allclose(expected_step, 0.1 * np.sign(grad), rtol=1e-5)


def test_adagrad_accumulator_starts_from_its_initial_value() -> None:
    params = make_params()
    grads = make_grads()
    optimizer = AdaGrad(0.1, initial_accumulator_value=0.5)

    optimizer.step(params, grads)

    for key, grad in grads.items():
        np.testing.assert_allclose(
            optimizer.state[key].arrays["sum_of_squares"], 0.5 + grad**2
        )


def test_rmsprop_first_step_divides_by_the_decayed_square() -> None:
    params = make_params()
    start = {key: value.copy() for key, value in params.items()}
    grads = make_grads()

    RMSProp(0.01, alpha=0.9, eps=1e-7).step(params, grads)

    for key, param in params.items():
        # h = (1 - alpha) g^2 after one step from zero.
        expected_step = 0.01 * grads[key] / (np.sqrt(0.1) * np.abs(grads[key]) + 1e-7)
        np.testing.assert_allclose(start[key] - param, expected_step, rtol=1e-14)


def test_adam_first_step_is_learning_rate_times_sign_of_gradient() -> None:
    params = make_params()
    start = {key: value.copy() for key, value in params.items()}
    grads = make_grads()

    Adam(0.01).step(params, grads)

    # Bias correction turns m and v into g and g^2 on the first step, so the
    # step is lr g / (|g| + eps): lr sign(g) up to eps / |g|.
    for key, param in params.items():
        grad = grads[key]
        expected_step = 0.01 * grad / (np.abs(grad) + 1e-8)
        np.testing.assert_allclose(start[key] - param, expected_step, rtol=1e-12)
        np.testing.assert_allclose(expected_step, 0.01 * np.sign(grad), rtol=1e-6)


def test_adamw_shrinks_weights_by_learning_rate_times_decay() -> None:
    params = make_params()
    start = {key: value.copy() for key, value in params.items()}
    zero = {key: np.zeros_like(value) for key, value in params.items()}

    AdamW(0.01, weight_decay=0.1).step(params, zero)

    # With g = 0, Adam's own step is 0 / (0 + eps) = 0: only the decay acts.
    for key, param in params.items():
        np.testing.assert_array_equal(param, start[key] * (1.0 - 0.01 * 0.1))


def test_adam_weight_decay_goes_through_the_adaptive_step() -> None:
    params = make_params()
    start = {key: value.copy() for key, value in params.items()}
    zero = {key: np.zeros_like(value) for key, value in params.items()}

    Adam(0.01, weight_decay=0.1).step(params, zero)

    # L2 decay enters as g = wd * w, which Adam's first step normalises to
    # lr g / (|g| + eps), about lr sign(w), not to lr * wd * w.
    for key, param in params.items():
        grad = 0.1 * start[key]
        expected_step = 0.01 * grad / (np.abs(grad) + 1e-8)
        np.testing.assert_allclose(start[key] - param, expected_step, rtol=1e-12)


# -- gradient clipping --------------------------------------------------------


def test_clipping_scales_the_global_gradient_norm_to_max_grad_norm() -> None:
    params = make_params()
    start = {key: value.copy() for key, value in params.items()}
    grads = {key: 10.0 * value for key, value in make_grads().items()}
    total = global_norm(grads)

    # With lr = 1, SGD moves the parameters by exactly the clipped gradient.
    SGD(1.0, max_grad_norm=2.0).step(params, grads)

    moved = {key: start[key] - param for key, param in params.items()}
    assert global_norm(moved) == pytest.approx(2.0, rel=1e-6)
    for key, step in moved.items():
        # One factor for all arrays, so the direction is kept.
        np.testing.assert_allclose(step, grads[key] * 2.0 / (total + 1e-6))


def test_clipping_leaves_gradients_below_max_grad_norm_alone() -> None:
    params = make_params()
    start = {key: value.copy() for key, value in params.items()}
    grads = make_grads()

    SGD(1.0, max_grad_norm=global_norm(grads) * 1.01).step(params, grads)

    for key, param in params.items():
        np.testing.assert_allclose(start[key] - param, grads[key], rtol=1e-12)


# -- bad input ----------------------------------------------------------------


def test_make_optimizer_rejects_an_unknown_name() -> None:
    with pytest.raises(ValueError, match=r"unknown optimizer 'lion'; expected one of"):
        make_optimizer("lion", 0.1)


def test_make_optimizer_rejects_an_argument_the_optimizer_does_not_take() -> None:
    with pytest.raises(ValueError, match=r"optimizer 'sgd' does not take momentum;"):
        make_optimizer("sgd", 0.1, momentum=0.9)


def test_make_optimizer_rejects_none_for_a_number() -> None:
    with pytest.raises(ValueError, match=r"^beta1 must be a number, got None$"):
        make_optimizer("adam", 0.1, beta1=None)


@pytest.mark.parametrize(
    ("name", "hyperparameters", "message"),
    [
        ("sgd", {"learning_rate": -0.1}, "learning_rate must be > 0, got -0.1"),
        ("sgd", {"learning_rate": math.inf}, "learning_rate must be finite, got inf"),
        ("sgd", {"weight_decay": -1.0}, "weight_decay must be >= 0, got -1.0"),
        ("sgd", {"max_grad_norm": 0.0}, "max_grad_norm must be > 0, got 0.0"),
        ("momentum", {"momentum": 1.0}, "momentum must be in [0, 1), got 1.0"),
        ("adagrad", {"eps": 0.0}, "eps must be > 0, got 0.0"),
        ("rmsprop", {"alpha": -0.5}, "alpha must be in [0, 1), got -0.5"),
        ("adam", {"beta2": math.nan}, "beta2 must be finite, got nan"),
    ],
)
def test_make_optimizer_rejects_an_out_of_range_hyperparameter(
    name: str, hyperparameters: dict[str, float], message: str
) -> None:
    arguments = {"learning_rate": 0.1, **hyperparameters}

    with pytest.raises(ValueError) as excinfo:
        make_optimizer(name, **arguments)

    assert str(excinfo.value) == message


@pytest.mark.parametrize("name", OPTIMIZER_NAMES)
def test_make_optimizer_takes_the_spec_hyperparameters_and_shares_its_defaults(
    name: str,
) -> None:
    spec = TypeAdapter(OptimizerSpec).validate_python(
        {"name": name, "learning_rate": 0.1, "max_grad_norm": 5.0}
    )
    hyperparameters = spec.hyperparameters()

    from_spec = make_optimizer(
        spec.name, max_grad_norm=spec.max_grad_norm, **hyperparameters
    )
    with_defaults = make_optimizer(name, 0.1)

    assert from_spec.max_grad_norm == 5.0
    for key, value in hyperparameters.items():
        assert getattr(from_spec, key) == value
        assert getattr(with_defaults, key) == value


def test_step_rejects_gradients_with_other_names() -> None:
    grads = make_grads()
    grads["extra"] = grads.pop("b")

    with pytest.raises(
        ValueError,
        match=r"^grads must have the same names as params: "
        r"missing \['b'\], unexpected \['extra'\]$",
    ):
        SGD(0.1).step(make_params(), grads)


def test_step_rejects_a_gradient_of_the_wrong_shape() -> None:
    grads = make_grads()
    grads["W"] = grads["W"].T

    with pytest.raises(
        ValueError,
        match=r"^grads\['W'\] must have shape \(3, 4\) like its parameter, "
        r"got \(4, 3\)$",
    ):
        SGD(0.1).step(make_params(), grads)


def test_step_rejects_an_integer_parameter() -> None:
    optimizer: Optimizer = SGD(0.1)

    with pytest.raises(ValueError, match=r"params\['n'\] must be a floating-point"):
        optimizer.step({"n": np.arange(3)}, {"n": np.ones(3)})  # type: ignore[dict-item]


# -- learning-rate schedules --------------------------------------------------


def test_warmup_rises_linearly_to_the_base_rate() -> None:
    schedule = make_schedule("constant", 0.1, 100, warmup_steps=10)

    assert schedule(1) == pytest.approx(0.01)
    assert schedule(5) == pytest.approx(0.05)
    assert schedule(10) == 0.1
    assert schedule(11) == 0.1
    assert schedule(100) == 0.1


def test_step_schedule_multiplies_by_gamma_every_step_size_after_warmup() -> None:
    schedule = make_schedule("step", 1.0, 100, warmup_steps=5, step_size=10, gamma=0.5)

    assert schedule(5) == 1.0
    assert schedule(6) == 1.0
    assert schedule(15) == 1.0
    assert schedule(16) == 0.5
    assert schedule(25) == 0.5
    assert schedule(26) == 0.25
    assert schedule(100) == 1.0 * 0.5**9


def test_cosine_schedule_runs_from_base_rate_to_min_lr() -> None:
    schedule = make_schedule("cosine", 1.0, 111, warmup_steps=10, min_lr=0.1)
    rates = [schedule(step) for step in range(1, 112)]

    assert rates[0] == pytest.approx(0.1)
    assert schedule(10) == 1.0
    assert schedule(11) == 1.0
    assert schedule(61) == pytest.approx(0.55)  # half-way: the mean of both
    assert schedule(111) == 0.1
    assert all(a > b for a, b in itertools.pairwise(rates[10:]))


def test_cosine_schedule_with_one_step_after_warmup_ends_at_min_lr() -> None:
    schedule = make_schedule("cosine", 1.0, 4, warmup_steps=3, min_lr=0.2)

    assert schedule(3) == 1.0
    assert schedule(4) == 0.2


def test_schedule_rejects_a_step_outside_the_run() -> None:
    schedule = make_schedule("constant", 0.1, 10)

    with pytest.raises(ValueError, match=r"^step must be in \[1, 10\], got 0$"):
        schedule(0)
    with pytest.raises(ValueError, match=r"^step must be in \[1, 10\], got 11$"):
        schedule(11)


@pytest.mark.parametrize(
    ("kind", "arguments", "message"),
    [
        ("linear", {}, "unknown schedule kind 'linear'"),
        ("constant", {"base_lr": 0.0}, "base_lr must be a finite number > 0, got 0.0"),
        ("constant", {"total_steps": 0}, "total_steps must be >= 1, got 0"),
        ("constant", {"warmup_steps": 101}, r"warmup_steps must be in \[0, "),
        ("cosine", {"warmup_steps": 100}, "cosine needs at least one step after"),
        ("step", {}, "step_size is required for kind 'step'"),
        ("cosine", {"step_size": 10}, "step_size only applies to kind 'step'"),
        ("step", {"step_size": 0}, "step_size must be >= 1, got 0"),
        ("step", {"step_size": 10, "gamma": 0.0}, r"gamma must be in \(0, 1\]"),
        ("cosine", {"min_lr": 0.5}, r"min_lr must be in \[0, base_lr=0.1\], got 0.5"),
    ],
)
def test_make_schedule_rejects_a_bad_combination(
    kind: str, arguments: dict[str, float], message: str
) -> None:
    base: dict[str, float] = {"base_lr": 0.1, "total_steps": 100}
    merged = {**base, **arguments}

    with pytest.raises(ValueError, match=message):
        make_schedule(
            kind,
            merged.pop("base_lr"),
            int(merged.pop("total_steps")),
            **merged,  # type: ignore[arg-type]
        )
