"""Optimizers: one small class per update rule, all behind `step(params, grads)`.

`step` updates the parameter arrays in place, because the network holds
references to them and reads the new values on its next forward pass. The
caller's gradient arrays are only read: clipping and L2 decay work on new
arrays, so the same gradients can still be logged or checked after the step.

State (velocities, moment estimates) is kept per parameter name. It is created
in one place, `Optimizer._state_for`, on the first step that sees a name, with
that parameter's shape and dtype: a float32 network keeps float32 state. Every
scalar in an update is a Python float for the same reason; under NumPy's
promotion rules a NumPy float64 scalar would turn float32 arithmetic into
float64 arithmetic.

The arithmetic follows torch.optim's single-tensor code path, so that
`tests/core/test_optimizer_parity.py` can check whole trajectories against it.

Shapes: every array inside an update has the shape of its parameter, written P.
"""

from __future__ import annotations

import inspect
import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "OPTIMIZERS",
    "SGD",
    "AdaGrad",
    "Adam",
    "AdamW",
    "Momentum",
    "Nesterov",
    "Optimizer",
    "ParamState",
    "RMSProp",
    "make_optimizer",
]

FloatArray = NDArray[np.floating]

# torch.nn.utils.clip_grad_norm_ adds this to the norm before dividing, so an
# all-zero gradient does not divide by zero; we add the same to stay in step.
_CLIP_NORM_EPS = 1e-6


def _require_finite(name: str, value: float) -> None:
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")


def _require_positive(name: str, value: float) -> None:
    _require_finite(name, value)
    if not value > 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")


def _require_non_negative(name: str, value: float) -> None:
    _require_finite(name, value)
    if not value >= 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")


def _require_unit_interval(name: str, value: float) -> None:
    _require_finite(name, value)
    if not 0 <= value < 1:
        raise ValueError(f"{name} must be in [0, 1), got {value!r}")


@dataclass(slots=True)
class ParamState:
    """What an optimizer remembers about one parameter.

    Attributes:
        steps: updates applied to this parameter so far (Adam's t).
        arrays: the optimizer's arrays by name, each with the parameter's shape
            and dtype.
    """

    steps: int
    arrays: dict[str, FloatArray]


class Optimizer(ABC):
    """Base of all optimizers: validation, clipping, L2 decay and state.

    A subclass names its state arrays in `state_names` and implements
    `_update`, which receives the effective gradient (clipped, L2 decay added)
    and the parameter's state with `steps` already counting this step.

    Args:
        learning_rate: step size; must be > 0.
        weight_decay: L2 coefficient, added to the gradient as `g + wd * w`
            the way torch.optim does (AdamW decouples it instead).
        max_grad_norm: if given, scale all gradients together so that their
            global L2 norm is at most this, like
            `torch.nn.utils.clip_grad_norm_`; None means no clipping.

    Attributes:
        learning_rate: step size of the next `step`. The training loop assigns
            it from the schedule before each step; it is not re-validated.
        weight_decay: as given.
        max_grad_norm: as given.
        state: per parameter name, what the optimizer remembers about it.

    Raises:
        ValueError: naming the hyperparameter that is out of range.
    """

    state_names: ClassVar[tuple[str, ...]] = ()
    # AdamW applies its decay to the weights itself instead of to the gradient.
    _decoupled_weight_decay: ClassVar[bool] = False

    def __init__(
        self,
        learning_rate: float,
        *,
        weight_decay: float = 0.0,
        max_grad_norm: float | None = None,
    ) -> None:
        _require_positive("learning_rate", learning_rate)
        _require_non_negative("weight_decay", weight_decay)
        if max_grad_norm is not None:
            _require_positive("max_grad_norm", max_grad_norm)

        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.max_grad_norm = max_grad_norm
        self.state: dict[str, ParamState] = {}

    def step(
        self, params: Mapping[str, FloatArray], grads: Mapping[str, FloatArray]
    ) -> None:
        """Update every parameter in place from its gradient.

        Args:
            params: parameter arrays by name. The arrays are updated in place,
                so whoever holds them sees the new values; the mapping itself
                is not changed.
            grads: gradient arrays with the same names and shapes. They are
                only read: clipping and weight decay work on new arrays.

        Raises:
            ValueError: if the names in `grads` differ from those in `params`,
                a gradient's shape differs from its parameter's, or a
                parameter is not a floating-point array.
        """
        _check_grads(params, grads)
        scale = self._clip_scale(grads)

        for name, param in params.items():
            grad = grads[name]
            if scale < 1.0:
                grad = grad * scale  # (P), new: the caller's gradient stays as is
            if self.weight_decay and not self._decoupled_weight_decay:
                # Gradient of the L2 penalty wd/2 * |w|^2, added as torch does.
                grad = grad + self.weight_decay * param  # (P), new
            state = self._state_for(name, param)
            state.steps += 1
            self._update(param, grad, state)

    def _state_for(self, name: str, param: FloatArray) -> ParamState:
        """Return the state of `name`, creating it on the first step."""
        state = self.state.get(name)
        if state is None:
            if not np.issubdtype(param.dtype, np.floating):
                raise ValueError(
                    f"params[{name!r}] must be a floating-point array, "
                    f"got dtype {param.dtype}"
                )
            state = ParamState(steps=0, arrays=self._initial_arrays(param))
            self.state[name] = state
        return state

    def _initial_arrays(self, param: FloatArray) -> dict[str, FloatArray]:
        """State arrays for a new parameter: zeros of its shape and dtype."""
        return {name: np.zeros_like(param) for name in self.state_names}

    def _clip_scale(self, grads: Mapping[str, FloatArray]) -> float:
        """The factor that brings the global gradient norm to max_grad_norm."""
        if self.max_grad_norm is None:
            return 1.0
        # vdot sums the squares in one pass without a temporary array.
        total_norm = math.sqrt(sum(float(np.vdot(g, g)) for g in grads.values()))
        return min(1.0, self.max_grad_norm / (total_norm + _CLIP_NORM_EPS))

    @abstractmethod
    def _update(self, param: FloatArray, grad: FloatArray, state: ParamState) -> None:
        """Apply one update to `param` in place, using and updating `state`."""


def _check_grads(
    params: Mapping[str, FloatArray], grads: Mapping[str, FloatArray]
) -> None:
    if grads.keys() != params.keys():
        missing = sorted(params.keys() - grads.keys())
        unexpected = sorted(grads.keys() - params.keys())
        raise ValueError(
            "grads must have the same names as params: "
            f"missing {missing}, unexpected {unexpected}"
        )
    for name, param in params.items():
        if grads[name].shape != param.shape:
            raise ValueError(
                f"grads[{name!r}] must have shape {param.shape} like its "
                f"parameter, got {grads[name].shape}"
            )


class SGD(Optimizer):
    """Plain stochastic gradient descent: `w -= lr * g`.

    Robbins & Monro (1951), "A Stochastic Approximation Method". Matches
    `torch.optim.SGD` without momentum.

    Args:
        learning_rate: step size; must be > 0.
        weight_decay: L2 coefficient added to the gradient.
        max_grad_norm: global gradient-norm clip, or None.

    Raises:
        ValueError: naming the hyperparameter that is out of range.
    """

    def _update(self, param: FloatArray, grad: FloatArray, state: ParamState) -> None:
        param -= self.learning_rate * grad  # (P)


class _MomentumBase(Optimizer):
    """What Momentum and Nesterov share: a `momentum` in [0, 1)."""

    def __init__(
        self,
        learning_rate: float,
        *,
        momentum: float = 0.9,
        weight_decay: float = 0.0,
        max_grad_norm: float | None = None,
    ) -> None:
        super().__init__(
            learning_rate, weight_decay=weight_decay, max_grad_norm=max_grad_norm
        )
        _require_unit_interval("momentum", momentum)
        self.momentum = momentum


class Momentum(_MomentumBase):
    """SGD with heavy-ball momentum (Polyak 1964).

    With velocity v (zero at first)::

        v = momentum * v - lr * g
        w += v

    Polyak (1964), "Some methods of speeding up the convergence of iteration
    methods". v carries the learning rate, so when a schedule changes lr,
    earlier steps keep their old size until they decay. `torch.optim.SGD`
    keeps lr out of its buffer (b = momentum * b + g; w -= lr * b); the two
    agree exactly while lr is constant.

    Args:
        learning_rate: step size; must be > 0.
        momentum: decay of the velocity, in [0, 1).
        weight_decay: L2 coefficient added to the gradient.
        max_grad_norm: global gradient-norm clip, or None.

    Raises:
        ValueError: naming the hyperparameter that is out of range.
    """

    state_names = ("velocity",)

    def _update(self, param: FloatArray, grad: FloatArray, state: ParamState) -> None:
        velocity = state.arrays["velocity"]  # (P)
        velocity *= self.momentum
        velocity -= self.learning_rate * grad
        param += velocity


class Nesterov(_MomentumBase):
    """Nesterov accelerated gradient, as `torch.optim.SGD(nesterov=True)`.

    Nesterov (1983), "A method for solving the convex programming problem with
    convergence rate O(1/k^2)", in the form of Sutskever et al. (2013), "On the
    importance of initialization and momentum in deep learning", which takes
    the gradient at the current weights. With buffer b (zero at first)::

        b = momentum * b + g
        w -= lr * (g + momentum * b)

    This is torch's arithmetic with dampening 0, lr outside the buffer.

    Args:
        learning_rate: step size; must be > 0.
        momentum: decay of the buffer, in [0, 1).
        weight_decay: L2 coefficient added to the gradient.
        max_grad_norm: global gradient-norm clip, or None.

    Raises:
        ValueError: naming the hyperparameter that is out of range.
    """

    state_names = ("momentum_buffer",)

    def _update(self, param: FloatArray, grad: FloatArray, state: ParamState) -> None:
        buffer = state.arrays["momentum_buffer"]  # (P)
        buffer *= self.momentum
        buffer += grad

        update = self.momentum * buffer  # (P), new
        update += grad
        update *= self.learning_rate
        param -= update


class AdaGrad(Optimizer):
    """AdaGrad: per-coordinate steps shrinking with the summed squared gradient.

    Duchi, Hazan & Singer (2011), "Adaptive Subgradient Methods for Online
    Learning and Stochastic Optimization", JMLR 12. With h starting at
    `initial_accumulator_value`::

        h += g * g
        w -= lr * g / (sqrt(h) + eps)

    Matches `torch.optim.Adagrad` with lr_decay 0.

    Args:
        learning_rate: step size; must be > 0.
        eps: added to sqrt(h) so the first steps do not divide by zero; > 0.
        initial_accumulator_value: starting value of h, >= 0.
        weight_decay: L2 coefficient added to the gradient.
        max_grad_norm: global gradient-norm clip, or None.

    Raises:
        ValueError: naming the hyperparameter that is out of range.
    """

    state_names = ("sum_of_squares",)

    def __init__(
        self,
        learning_rate: float,
        *,
        eps: float = 1e-7,
        initial_accumulator_value: float = 0.0,
        weight_decay: float = 0.0,
        max_grad_norm: float | None = None,
    ) -> None:
        super().__init__(
            learning_rate, weight_decay=weight_decay, max_grad_norm=max_grad_norm
        )
        _require_positive("eps", eps)
        _require_non_negative("initial_accumulator_value", initial_accumulator_value)
        self.eps = eps
        self.initial_accumulator_value = initial_accumulator_value

    def _initial_arrays(self, param: FloatArray) -> dict[str, FloatArray]:
        return {"sum_of_squares": np.full_like(param, self.initial_accumulator_value)}

    def _update(self, param: FloatArray, grad: FloatArray, state: ParamState) -> None:
        sum_of_squares = state.arrays["sum_of_squares"]  # (P)
        sum_of_squares += grad * grad

        # One scratch array holds sqrt(h) + eps, then the whole step.
        update = np.sqrt(sum_of_squares)  # (P), new
        update += self.eps
        np.divide(grad, update, out=update)
        update *= self.learning_rate
        param -= update


class RMSProp(Optimizer):
    """RMSProp: steps scaled by a running average of squared gradients.

    Tieleman & Hinton (2012), "Lecture 6.5 - RMSProp", COURSERA: Neural
    Networks for Machine Learning. With h starting at zero::

        h = alpha * h + (1 - alpha) * g * g
        w -= lr * g / (sqrt(h) + eps)

    Matches `torch.optim.RMSprop` without momentum and not centered.

    Args:
        learning_rate: step size; must be > 0.
        alpha: decay of the running average, in [0, 1).
        eps: added to sqrt(h) to keep the division finite; > 0.
        weight_decay: L2 coefficient added to the gradient.
        max_grad_norm: global gradient-norm clip, or None.

    Raises:
        ValueError: naming the hyperparameter that is out of range.
    """

    state_names = ("mean_square",)

    def __init__(
        self,
        learning_rate: float,
        *,
        alpha: float = 0.99,
        eps: float = 1e-7,
        weight_decay: float = 0.0,
        max_grad_norm: float | None = None,
    ) -> None:
        super().__init__(
            learning_rate, weight_decay=weight_decay, max_grad_norm=max_grad_norm
        )
        _require_unit_interval("alpha", alpha)
        _require_positive("eps", eps)
        self.alpha = alpha
        self.eps = eps

    def _update(self, param: FloatArray, grad: FloatArray, state: ParamState) -> None:
        mean_square = state.arrays["mean_square"]  # (P)
        scratch = grad * grad  # (P), new
        scratch *= 1.0 - self.alpha
        mean_square *= self.alpha
        mean_square += scratch

        # Reuse the scratch array for sqrt(h) + eps, then for the whole step.
        np.sqrt(mean_square, out=scratch)
        scratch += self.eps
        np.divide(grad, scratch, out=scratch)
        scratch *= self.learning_rate
        param -= scratch


class Adam(Optimizer):
    """Adam: momentum on the gradient, scaled by its running second moment.

    Kingma & Ba (2015), "Adam: A Method for Stochastic Optimization", ICLR,
    Algorithm 1, with m and v starting at zero and t counting steps::

        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        w -= lr * (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps)

    eps sits outside the square root, added to the bias-corrected sqrt(v),
    as in Algorithm 1 (not the paper's faster variant, which rescales eps).
    The arithmetic is arranged like `torch.optim.Adam`: step size
    lr / (1 - beta1^t), denominator sqrt(v) / sqrt(1 - beta2^t) + eps.

    Args:
        learning_rate: step size; must be > 0.
        beta1: decay of the first-moment average, in [0, 1).
        beta2: decay of the second-moment average, in [0, 1).
        eps: added to the denominator to keep the division finite; > 0.
        weight_decay: L2 coefficient added to the gradient (what
            `torch.optim.Adam` does; see `AdamW` for decoupled decay).
        max_grad_norm: global gradient-norm clip, or None.

    Raises:
        ValueError: naming the hyperparameter that is out of range.
    """

    state_names = ("first_moment", "second_moment")

    def __init__(
        self,
        learning_rate: float,
        *,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        max_grad_norm: float | None = None,
    ) -> None:
        super().__init__(
            learning_rate, weight_decay=weight_decay, max_grad_norm=max_grad_norm
        )
        _require_unit_interval("beta1", beta1)
        _require_unit_interval("beta2", beta2)
        _require_positive("eps", eps)
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps

    def _update(self, param: FloatArray, grad: FloatArray, state: ParamState) -> None:
        first_moment = state.arrays["first_moment"]  # (P)
        second_moment = state.arrays["second_moment"]  # (P)

        # m += (1 - beta1) * (g - m) is beta1 * m + (1 - beta1) * g in the form
        # torch's lerp computes, which keeps the rounding close to torch's.
        scratch = grad - first_moment  # (P), new
        scratch *= 1.0 - self.beta1
        first_moment += scratch
        np.multiply(grad, grad, out=scratch)
        scratch *= 1.0 - self.beta2
        second_moment *= self.beta2
        second_moment += scratch

        bias_correction1 = 1.0 - self.beta1**state.steps
        bias_correction2 = 1.0 - self.beta2**state.steps
        step_size = self.learning_rate / bias_correction1

        # Reuse the scratch array for the denominator, then for the whole step.
        np.sqrt(second_moment, out=scratch)
        scratch /= math.sqrt(bias_correction2)
        scratch += self.eps
        np.divide(first_moment, scratch, out=scratch)
        scratch *= step_size
        param -= scratch


class AdamW(Adam):
    """Adam with decoupled weight decay.

    Loshchilov & Hutter (2019), "Decoupled Weight Decay Regularization", ICLR.
    Before the Adam step, and instead of adding wd * w to the gradient::

        w -= lr * wd * w

    so the decay is not rescaled by Adam's per-coordinate denominator. Like
    `torch.optim.AdamW`, the decay is scaled by the current lr; the paper
    scales it by the schedule multiplier alone, so its wd is lr times ours.

    Args:
        learning_rate: step size; must be > 0.
        beta1: decay of the first-moment average, in [0, 1).
        beta2: decay of the second-moment average, in [0, 1).
        eps: added to the denominator to keep the division finite; > 0.
        weight_decay: decoupled decay coefficient, >= 0.
        max_grad_norm: global gradient-norm clip, or None.

    Raises:
        ValueError: naming the hyperparameter that is out of range.
    """

    _decoupled_weight_decay = True

    def __init__(
        self,
        learning_rate: float,
        *,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
        weight_decay: float = 0.01,
        max_grad_norm: float | None = None,
    ) -> None:
        super().__init__(
            learning_rate,
            beta1=beta1,
            beta2=beta2,
            eps=eps,
            weight_decay=weight_decay,
            max_grad_norm=max_grad_norm,
        )

    def _update(self, param: FloatArray, grad: FloatArray, state: ParamState) -> None:
        if self.weight_decay:
            param *= 1.0 - self.learning_rate * self.weight_decay
        super()._update(param, grad, state)


_OPTIMIZER_CLASSES: dict[str, type[Optimizer]] = {
    "sgd": SGD,
    "momentum": Momentum,
    "nesterov": Nesterov,
    "adagrad": AdaGrad,
    "rmsprop": RMSProp,
    "adam": Adam,
    "adamw": AdamW,
}

OPTIMIZERS: tuple[str, ...] = tuple(_OPTIMIZER_CLASSES)
"""The names `make_optimizer` knows, the same as the job spec's."""

# Keyword arguments each class accepts, read from its signature once so that
# make_optimizer can name an unknown one instead of raising a TypeError.
_KEYWORDS: dict[str, frozenset[str]] = {
    name: frozenset(
        parameter.name
        for parameter in inspect.signature(cls).parameters.values()
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY
    )
    for name, cls in _OPTIMIZER_CLASSES.items()
}


def make_optimizer(
    name: str, learning_rate: float, **hyperparameters: float | None
) -> Optimizer:
    """Build an optimizer from the job spec's name and hyperparameters.

    The keyword names are the spec's, so `spec.hyperparameters()` plus
    `max_grad_norm` can be passed straight through. Omitted hyperparameters
    take the class defaults, which equal the spec's defaults.

    Args:
        name: one of `OPTIMIZERS`, e.g. "adam".
        learning_rate: step size; must be > 0.
        **hyperparameters: the optimizer's other hyperparameters by name, e.g.
            `beta1=0.9`. Only `max_grad_norm` may be None (no clipping).

    Returns:
        A new optimizer with empty state.

    Raises:
        ValueError: if the name is unknown, the optimizer does not take one of
            the keywords, a value is None where a number is needed, or a value
            is out of range.
    """
    cls = _OPTIMIZER_CLASSES.get(name)
    if cls is None:
        raise ValueError(
            f"unknown optimizer {name!r}; expected one of {', '.join(OPTIMIZERS)}"
        )
    unknown = sorted(hyperparameters.keys() - _KEYWORDS[name])
    if unknown:
        raise ValueError(
            f"optimizer {name!r} does not take {', '.join(unknown)}; "
            f"it takes {', '.join(sorted(_KEYWORDS[name]))}"
        )

    max_grad_norm = hyperparameters.pop("max_grad_norm", None)
    numbers: dict[str, float] = {}
    for key, value in hyperparameters.items():
        if value is None:
            raise ValueError(f"{key} must be a number, got None")
        numbers[key] = value
    return cls(learning_rate, max_grad_norm=max_grad_norm, **numbers)
