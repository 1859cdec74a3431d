"""Fully connected networks with hand-written backpropagation.

Shape legend: N rows in a batch, D inputs, H units of a layer, C classes.

Every layer caches in `forward` exactly what its `backward` needs. Gradients
are written into arrays allocated once, so an optimizer can hold on to
`MLP.params` and `MLP.grads` for the whole run.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Literal

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.floating]
Activation = Literal["sigmoid", "relu", "tanh"]
WeightInit = float | Literal["xavier", "he"]

# Batch norm's variance floor; torch uses the same default.
BATCH_NORM_EPS = 1e-5
BATCH_NORM_MOMENTUM = 0.9


def param_key(kind: str, layer: int) -> str:
    """Name of a parameter: `param_key("W", 1)` -> "W1" (layers count from 1)."""
    return f"{kind}{layer}"


def init_std(weight_init: WeightInit, fan_in: int, fan_out: int) -> float:
    """Standard deviation of the normal that draws a layer's weights.

    Args:
        weight_init: a fixed std, "xavier" (Glorot & Bengio 2010, normal form)
            or "he" (He et al. 2015, for ReLU).
        fan_in: inputs of the layer.
        fan_out: outputs of the layer.
    """
    if weight_init == "xavier":
        return math.sqrt(2.0 / (fan_in + fan_out))
    if weight_init == "he":
        return math.sqrt(2.0 / fan_in)
    return float(weight_init)


class Affine:
    """y = x @ W + b.

    Layers cache what `backward` needs only while training: holding on to
    an evaluation chunk's arrays would keep the allocator from reusing their
    memory for the next chunk (a measured 7% of evaluation time).
    """

    def __init__(self, W: Array, b: Array, dW: Array, db: Array) -> None:
        self.W, self.b, self.dW, self.db = W, b, dW, db
        self.x: Array | None = None

    def forward(self, x: Array, training: bool) -> Array:
        out: Array = x @ self.W  # (N, D) @ (D, H) -> (N, H)
        out += self.b  # the same sum as x @ W + b, without a second array

        self.x = x if training else None
        return out

    def backward(self, dout: Array) -> Array:
        self.backward_params(dout)
        return dout @ self.W.T  # (N, H) @ (H, D) -> (N, D)

    def backward_params(self, dout: Array) -> None:
        """Fill dW and db only, for a layer whose input needs no gradient."""
        assert self.x is not None, "backward before forward"
        np.matmul(self.x.T, dout, out=self.dW)  # (D, N) @ (N, H) -> (D, H)
        np.sum(dout, axis=0, out=self.db)


class Sigmoid:
    """Logistic function, written with tanh so no input can overflow exp."""

    def __init__(self) -> None:
        self.y: Array | None = None

    def forward(self, x: Array, training: bool) -> Array:
        y: Array = np.multiply(x, 0.5)
        np.tanh(y, out=y)
        y += 1.0
        y *= 0.5

        self.y = y if training else None
        return y

    def backward(self, dout: Array) -> Array:
        assert self.y is not None, "backward before forward"
        dx: Array = dout * self.y
        dx *= 1.0 - self.y
        return dx


class ReLU:
    def __init__(self) -> None:
        self.mask: NDArray[np.bool_] | None = None

    def forward(self, x: Array, training: bool) -> Array:
        mask = x > 0
        self.mask = mask if training else None
        return x * mask

    def backward(self, dout: Array) -> Array:
        assert self.mask is not None, "backward before forward"
        return dout * self.mask


class Tanh:
    def __init__(self) -> None:
        self.y: Array | None = None

    def forward(self, x: Array, training: bool) -> Array:
        y: Array = np.tanh(x)
        self.y = y if training else None
        return y

    def backward(self, dout: Array) -> Array:
        assert self.y is not None, "backward before forward"
        return dout * (1.0 - self.y * self.y)


class BatchNorm:
    """Batch normalisation (Ioffe & Szegedy 2015) over the batch axis.

    Training normalises with the batch's mean and (biased) variance and keeps
    running averages of both; evaluation uses the running averages.
    """

    def __init__(self, gamma: Array, beta: Array, dgamma: Array, dbeta: Array) -> None:
        self.gamma, self.beta, self.dgamma, self.dbeta = gamma, beta, dgamma, dbeta
        self.running_mean = np.zeros_like(gamma)
        self.running_var = np.ones_like(gamma)
        self.x_hat: Array | None = None
        self.std: Array | None = None

    def forward(self, x: Array, training: bool) -> Array:
        if not training:
            x_hat = (x - self.running_mean) / np.sqrt(self.running_var + BATCH_NORM_EPS)
            normalized: Array = self.gamma * x_hat + self.beta
            return normalized

        mean = x.mean(axis=0)  # (H,)
        centered = x - mean  # (N, H)
        var = np.mean(centered * centered, axis=0)  # (H,)
        std = np.sqrt(var + BATCH_NORM_EPS)
        x_hat = centered / std

        self.running_mean *= BATCH_NORM_MOMENTUM
        self.running_mean += (1.0 - BATCH_NORM_MOMENTUM) * mean
        self.running_var *= BATCH_NORM_MOMENTUM
        self.running_var += (1.0 - BATCH_NORM_MOMENTUM) * var
        self.x_hat, self.std = x_hat, std
        out: Array = self.gamma * x_hat + self.beta
        return out

    def backward(self, dout: Array) -> Array:
        assert self.x_hat is not None and self.std is not None, "backward first"
        x_hat, n = self.x_hat, dout.shape[0]
        np.sum(dout * x_hat, axis=0, out=self.dgamma)
        np.sum(dout, axis=0, out=self.dbeta)

        # Gradient through the batch statistics, folded into one expression:
        # dx = (N dx_hat - sum(dx_hat) - x_hat sum(dx_hat x_hat)) / (N std)
        dx_hat = dout * self.gamma
        dx: Array = (
            n * dx_hat - dx_hat.sum(axis=0) - x_hat * np.sum(dx_hat * x_hat, axis=0)
        ) / (n * self.std)
        return dx


class Dropout:
    """Inverted dropout: scale kept units by 1/(1-p) while training only."""

    def __init__(self, rate: float, rng: np.random.Generator) -> None:
        self.rate = rate
        self.rng = rng
        self.scaled_mask: Array | None = None

    def forward(self, x: Array, training: bool) -> Array:
        if not training:
            return x

        keep = self.rng.random(x.shape) >= self.rate  # (N, H)
        self.scaled_mask = keep.astype(x.dtype) / (1.0 - self.rate)
        return x * self.scaled_mask

    def backward(self, dout: Array) -> Array:
        assert self.scaled_mask is not None, "backward before forward"
        return dout * self.scaled_mask


def softmax_cross_entropy(
    logits: Array, labels: NDArray[np.integer]
) -> tuple[float, Array]:
    """Mean cross-entropy of softmax(logits) and its gradient wrt the logits.

    Shifting by the row maximum keeps exp from overflowing, and the loss is
    taken as logsumexp - logit, so no log(0) ever happens for finite logits.

    Args:
        logits: (N, C) scores.
        labels: (N,) class indices.

    Returns:
        The loss, and dloss/dlogits of shape (N, C).
    """
    n = logits.shape[0]
    rows = np.arange(n)

    # A gap between logits beyond the float range makes the true loss
    # infinite; that is reported as an infinite loss, not as a warning.
    with np.errstate(over="ignore"):
        shifted = logits - logits.max(axis=1, keepdims=True)  # (N, C), max 0
        exp = np.exp(shifted)
        sum_exp = exp.sum(axis=1)  # (N,), >= 1
        loss = float(np.mean(np.log(sum_exp) - shifted[rows, labels]))

    grad = exp / sum_exp[:, None]  # softmax, (N, C)
    grad[rows, labels] -= 1.0
    grad /= n
    return loss, grad


Layer = Affine | Sigmoid | ReLU | Tanh | BatchNorm | Dropout
_ACTIVATIONS: dict[str, type[Sigmoid | ReLU | Tanh]] = {
    "sigmoid": Sigmoid,
    "relu": ReLU,
    "tanh": Tanh,
}


class MLP:
    """Affine -> [BatchNorm] -> activation -> [Dropout] per hidden layer,
    then a final Affine whose logits feed softmax cross-entropy.

    Args:
        layer_sizes: widths from inputs to classes, e.g. [784, 40, 20, 10].
        activation: "sigmoid", "relu" or "tanh".
        weight_init: a std such as 0.01, or "xavier" / "he".
        batch_norm: insert batch normalisation before each activation.
        dropout: drop rate after each hidden activation (0 disables it).
        init_rng: draws the initial weights.
        dropout_rng: draws dropout masks.
        dtype: np.float32 or np.float64 for parameters and activations.

    Raises:
        ValueError: for fewer than two layer sizes or a non-positive width.
    """

    def __init__(
        self,
        layer_sizes: Sequence[int],
        *,
        activation: Activation = "sigmoid",
        weight_init: WeightInit = 0.01,
        batch_norm: bool = False,
        dropout: float = 0.0,
        init_rng: np.random.Generator,
        dropout_rng: np.random.Generator | None = None,
        dtype: type[np.floating] = np.float64,
    ) -> None:
        if len(layer_sizes) < 2 or min(layer_sizes) < 1:
            raise ValueError(
                f"layer_sizes needs two or more positive widths, got {layer_sizes}"
            )
        if activation not in _ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}"
            )

        self.dtype = np.dtype(dtype)
        self.layers: list[Layer] = []
        self.bn_layers: list[BatchNorm] = []
        last = len(layer_sizes) - 1

        # Every parameter (and its gradient) is a view into one flat array,
        # so an elementwise optimizer can update them all with one call per
        # operation instead of one per parameter: `flat_params`/`flat_grads`.
        shapes: dict[str, tuple[int, ...]] = {}
        for index, (fan_in, fan_out) in enumerate(
            itertools.pairwise(layer_sizes), start=1
        ):
            shapes[param_key("W", index)] = (fan_in, fan_out)
            shapes[param_key("b", index)] = (fan_out,)
            if batch_norm and index < last:
                shapes[param_key("gamma", index)] = (fan_out,)
                shapes[param_key("beta", index)] = (fan_out,)
        total = sum(math.prod(shape) for shape in shapes.values())
        self.flat_params: Array = np.zeros(total, dtype=self.dtype)
        self.flat_grads: Array = np.zeros(total, dtype=self.dtype)
        self.params: dict[str, Array] = {}
        self.grads: dict[str, Array] = {}
        offset = 0
        for key, shape in shapes.items():
            size = math.prod(shape)
            self.params[key] = self.flat_params[offset : offset + size].reshape(shape)
            self.grads[key] = self.flat_grads[offset : offset + size].reshape(shape)
            offset += size

        for index, (fan_in, fan_out) in enumerate(
            itertools.pairwise(layer_sizes), start=1
        ):
            std = init_std(weight_init, fan_in, fan_out)
            W = self._add(
                param_key("W", index), std * init_rng.standard_normal((fan_in, fan_out))
            )
            b = self._add(param_key("b", index), np.zeros(fan_out))
            self.layers.append(
                Affine(
                    W,
                    b,
                    self.grads[param_key("W", index)],
                    self.grads[param_key("b", index)],
                )
            )
            if index == last:
                break

            if batch_norm:
                gamma = self._add(param_key("gamma", index), np.ones(fan_out))
                beta = self._add(param_key("beta", index), np.zeros(fan_out))
                bn = BatchNorm(
                    gamma,
                    beta,
                    self.grads[param_key("gamma", index)],
                    self.grads[param_key("beta", index)],
                )
                self.layers.append(bn)
                self.bn_layers.append(bn)
            self.layers.append(_ACTIVATIONS[activation]())
            if dropout > 0:
                if dropout_rng is None:
                    raise ValueError("dropout > 0 needs a dropout_rng")
                self.layers.append(Dropout(dropout, dropout_rng))

    def _add(self, key: str, value: NDArray[np.floating]) -> Array:
        """Set a parameter's initial value (cast to the network's dtype)."""
        param = self.params[key]
        param[...] = value
        return param

    def forward(self, x: Array, training: bool) -> Array:
        """Logits (N, C) for inputs (N, D)."""
        for layer in self.layers:
            x = layer.forward(x, training)
        return x

    def train_batch(self, x: Array, labels: NDArray[np.integer]) -> tuple[float, float]:
        """One forward and backward pass in training mode.

        Fills `self.grads` and returns the batch's loss and accuracy, both
        measured before any parameter update.
        """
        logits = self.forward(x, training=True)
        loss, dout = softmax_cross_entropy(logits, labels)
        # Equal to the mean of the boolean hits, without a float array.
        hits = int(np.count_nonzero(logits.argmax(axis=1) == labels))
        accuracy = hits / len(labels)

        # Nothing needs the gradient with respect to the inputs, so the first
        # layer (always an Affine) stops at dW and db. That skips an
        # (N, H) @ (H, D) product as large as the first layer's forward one.
        first = self.layers[0]
        assert isinstance(first, Affine), "the first layer is an Affine"
        for layer in self.layers[:0:-1]:
            dout = layer.backward(dout)
        first.backward_params(dout)
        return loss, accuracy

    def loss(self, x: Array, labels: NDArray[np.integer], training: bool) -> float:
        """Mean cross-entropy without touching the gradients."""
        return softmax_cross_entropy(self.forward(x, training), labels)[0]

    def count_correct(
        self,
        images: NDArray[np.uint8],
        labels: NDArray[np.integer],
        *,
        scale: float = 1.0 / 255.0,
        chunk_size: int = 1000,
    ) -> int:
        """Correct predictions in evaluation mode over a whole uint8 set.

        Rows are scaled a chunk at a time, so memory stays flat however
        large the set is.
        """
        # A memmap's slices and their copies stay memmaps, whose Python hooks
        # run on every operation; a plain view of the same pages avoids them.
        images = np.asarray(images)
        correct = 0
        for start in range(0, len(images), chunk_size):
            x = images[start : start + chunk_size].astype(self.dtype)  # (n, D)
            x *= scale
            correct += self._count_chunk(x, labels[start : start + chunk_size])
        return correct

    def _count_chunk(self, x: Array, labels: NDArray[np.integer]) -> int:
        predicted = self.forward(x, training=False).argmax(axis=1)  # (n,)
        return int(np.count_nonzero(predicted == labels))
