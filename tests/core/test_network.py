"""Backpropagation checked against central differences, plus the loss's edges."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core.network import MLP, Dropout, init_std, param_key, softmax_cross_entropy

SIZES = [7, 6, 5, 4]
BATCH = 8


def make_net(activation: str, batch_norm: bool, dropout: float = 0.0) -> MLP:
    return MLP(
        SIZES,
        activation=activation,  # type: ignore[arg-type]
        weight_init="xavier",
        batch_norm=batch_norm,
        dropout=dropout,
        init_rng=np.random.default_rng(1),
        dropout_rng=np.random.default_rng(2),
    )


def reset_dropout(net: MLP) -> None:
    """Give every dropout layer the same mask stream before each pass."""
    for layer in net.layers:
        if isinstance(layer, Dropout):
            layer.rng = np.random.default_rng(3)


def numerical_gradient(
    net: MLP, x: np.ndarray, labels: np.ndarray, key: str, h: float = 1e-5
) -> np.ndarray:
    param = net.params[key]
    grad = np.zeros_like(param)
    for index in np.ndindex(param.shape):
        original = param[index]
        param[index] = original + h
        reset_dropout(net)
        plus = net.loss(x, labels, training=True)
        param[index] = original - h
        reset_dropout(net)
        minus = net.loss(x, labels, training=True)
        param[index] = original
        grad[index] = (plus - minus) / (2 * h)
    return grad


@pytest.mark.parametrize("activation", ["sigmoid", "relu", "tanh"])
@pytest.mark.parametrize("batch_norm", [False, True])
@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_backprop_matches_central_differences(
    activation: str, batch_norm: bool, dropout: float
) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, SIZES[0]))
    labels = rng.integers(0, SIZES[-1], BATCH)
    net = make_net(activation, batch_norm, dropout)

    reset_dropout(net)
    net.train_batch(x, labels)
    analytic = {key: grad.copy() for key, grad in net.grads.items()}

    expected_keys = {param_key(kind, i) for kind in "Wb" for i in (1, 2, 3)}
    if batch_norm:
        expected_keys |= {
            param_key(kind, i) for kind in ("gamma", "beta") for i in (1, 2)
        }
    assert set(analytic) == expected_keys

    for key, grad in analytic.items():
        numeric = numerical_gradient(net, x, labels, key)
        if batch_norm and key in {"b1", "b2"}:
            # Batch norm subtracts the batch mean, so a bias in front of it
            # has no effect at all: both gradients must be (near) zero.
            assert np.abs(grad).max() < 1e-12
            assert np.abs(numeric).max() < 1e-9
            continue
        scale = max(np.linalg.norm(grad), np.linalg.norm(numeric))
        relative_error = np.linalg.norm(grad - numeric) / scale
        assert relative_error < 1e-6, f"{key}: relative error {relative_error:.2e}"


def test_softmax_cross_entropy_is_finite_and_silent_on_extreme_logits() -> None:
    logits = np.array([[1e300, -1e300, 0.0], [-1e300, -1e300, -1e300], [5.0, 5.0, 5.0]])
    labels = np.array([1, 0, 2])

    with np.errstate(over="raise", invalid="raise", divide="raise"):
        loss, grad = softmax_cross_entropy(logits, labels)

    # Row 0 puts all mass on class 0, so its label costs 2e300; the other
    # rows are uniform over three classes.
    assert loss == pytest.approx((2e300 + 2 * math.log(3)) / 3)
    assert np.isfinite(grad).all()
    np.testing.assert_allclose(grad.sum(axis=1), 0.0, atol=1e-12)


def test_softmax_cross_entropy_reports_an_unrepresentable_loss_as_inf() -> None:
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        loss, grad = softmax_cross_entropy(np.array([[1e308, -1e308]]), np.array([1]))

    assert loss == math.inf
    assert not np.isnan(grad).any()


def test_softmax_cross_entropy_of_uniform_logits_is_log_classes() -> None:
    loss, grad = softmax_cross_entropy(np.zeros((4, 10)), np.arange(4))

    assert loss == pytest.approx(math.log(10))
    np.testing.assert_allclose(grad[0, 0], (0.1 - 1) / 4)


def test_sigmoid_network_does_not_warn_on_huge_inputs() -> None:
    net = make_net("sigmoid", batch_norm=False)

    with np.errstate(over="raise", invalid="raise", divide="raise"):
        logits = net.forward(np.full((2, SIZES[0]), -1e6), training=False)

    assert np.isfinite(logits).all()


@pytest.mark.parametrize(
    ("weight_init", "fan_in", "fan_out", "expected"),
    [
        (0.01, 784, 40, 0.01),
        ("xavier", 784, 40, math.sqrt(2 / 824)),
        ("he", 784, 40, math.sqrt(2 / 784)),
    ],
)
def test_init_std_follows_the_named_rule(
    weight_init: float | str, fan_in: int, fan_out: int, expected: float
) -> None:
    std = init_std(weight_init, fan_in, fan_out)  # type: ignore[arg-type]
    assert std == pytest.approx(expected)


def test_initial_weights_have_the_requested_spread() -> None:
    net = MLP([784, 400, 10], weight_init=0.01, init_rng=np.random.default_rng(0))

    assert net.params["W1"].std() == pytest.approx(0.01, rel=0.01)
    assert not net.params["b1"].any()


def test_float32_network_keeps_float32_everywhere() -> None:
    net = MLP(
        SIZES, batch_norm=True, init_rng=np.random.default_rng(0), dtype=np.float32
    )
    x = np.random.default_rng(1).standard_normal((BATCH, SIZES[0])).astype(np.float32)

    net.train_batch(x, np.zeros(BATCH, dtype=np.int64))

    assert {p.dtype for p in net.params.values()} == {np.dtype(np.float32)}
    assert {g.dtype for g in net.grads.values()} == {np.dtype(np.float32)}
    assert net.forward(x, training=False).dtype == np.float32


def test_count_correct_is_the_same_in_any_chunk_size() -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (1037, SIZES[0]), dtype=np.uint8)
    labels = rng.integers(0, SIZES[-1], 1037)
    net = make_net("relu", batch_norm=True)

    counts = {
        size: net.count_correct(images, labels, chunk_size=size)
        for size in (1, 100, 5000)
    }

    assert len(set(counts.values())) == 1
    whole = net.forward(images / 255.0, training=False).argmax(axis=1)
    assert counts[100] == int((whole == labels).sum())


def test_mlp_rejects_a_network_without_layers() -> None:
    with pytest.raises(ValueError, match="two or more positive widths"):
        MLP([784], init_rng=np.random.default_rng(0))


def test_dropout_is_identity_in_evaluation_and_scaled_in_training() -> None:
    layer = Dropout(0.5, np.random.default_rng(0))
    x = np.ones((1000, 10))

    assert layer.forward(x, training=False) is x
    out = layer.forward(x, training=True)
    assert set(np.unique(out)) == {0.0, 2.0}
    assert out.mean() == pytest.approx(1.0, abs=0.05)
