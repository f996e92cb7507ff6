"""Unit 3 self-checks accept right answers and explain typical wrong ones."""

import math

import numpy as np
import pytest

from course.checks import CheckFailed
from course.checks import unit3 as check

# --- Exercise 3.1: sigmoid derivative ---------------------------------------


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def test_sigmoid_derivative_accepts_correct_answer(capsys):
    assert check.sigmoid_derivative(lambda z: sigmoid(z) * (1 - sigmoid(z)))
    assert "correct" in capsys.readouterr().out


def test_sigmoid_derivative_accepts_tensorflow_result():
    tf = pytest.importorskip("tensorflow")
    assert check.sigmoid_derivative(lambda z: tf.sigmoid(z) * (1 - tf.sigmoid(z)))


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (sigmoid, "returned σ\\(z\\) itself"),
        (lambda z: np.exp(-z) / (1 + np.exp(-z)), "squares the denominator"),
        (lambda z: z * (1 - z), "polynomial in z"),
        (lambda z: sigmoid(z) * (1 - z), "mixed z and σ\\(z\\)"),
        (lambda z: 1 - sigmoid(z) ** 2, "pattern of tanh's derivative"),
        (lambda z: 1 - np.tanh(z) ** 2, "derivative of tanh"),
        (lambda z: -sigmoid(z) * (1 - sigmoid(z)), "sign is wrong"),
        (lambda z: np.mean(sigmoid(z) * (1 - sigmoid(z))), "shape must not change"),
        (lambda z: None, "forget to `return`"),
        (lambda z: sigmoid(z) * (1 - sigmoid(z)) + 0.01, "differs from the expected"),
    ],
)
def test_sigmoid_derivative_explains_mistakes(wrong, message):
    with pytest.raises(CheckFailed, match=message):
        check.sigmoid_derivative(wrong)


def test_sigmoid_derivative_wrong_only_on_matrices_still_fails():
    def reverses_rows_of_matrices(z):
        s = sigmoid(z)
        return s * (1 - s) if z.ndim == 1 else (s * (1 - s))[::-1]

    with pytest.raises(CheckFailed, match=r"z of shape|differs from the expected"):
        check.sigmoid_derivative(reverses_rows_of_matrices)


def test_sigmoid_derivative_messages_do_not_print_the_answer():
    """A message may say what is wrong, never write out σ(z)(1 − σ(z)) itself."""
    for wrong in (sigmoid, lambda z: z * (1 - z), lambda z: sigmoid(z) * (1 - z),
                  lambda z: 1 - sigmoid(z) ** 2, lambda z: -sigmoid(z) * (1 - sigmoid(z))):
        with pytest.raises(CheckFailed) as failure:
            check.sigmoid_derivative(wrong)
        assert "(1 − σ(z))" not in str(failure.value)
        assert "(1 - σ(z))" not in str(failure.value)


# --- Exercise 3.2: backward pass --------------------------------------------


def test_reference_backward_pass_matches_numerical_gradients():
    problem = check.backward_problem(seed=5)
    X, Y, *params = problem
    numeric = check.numerical_gradients(lambda: check.mean_cross_entropy(X, Y, *params), params)
    for analytic, approx in zip(check.reference_backward_pass(*problem), numeric, strict=True):
        np.testing.assert_allclose(analytic, approx, rtol=1e-6, atol=1e-9)


def test_reference_backward_pass_matches_tensorflow():
    tf = pytest.importorskip("tensorflow")
    X, Y, *params = check.backward_problem(seed=6)
    variables = [tf.Variable(p) for p in params]
    with tf.GradientTape() as tape:
        W1, b1, W2, b2 = variables
        logits = tf.nn.relu(X @ W1 + b1) @ W2 + b2
        loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(Y, logits))
    for ours, theirs in zip(
        check.reference_backward_pass(X, Y, *params), tape.gradient(loss, variables), strict=True
    ):
        np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-9, atol=1e-12)


def test_backward_pass_accepts_correct_answer(capsys):
    assert check.backward_pass(check.reference_backward_pass)
    assert "correct" in capsys.readouterr().out


def _tweak(index, change):
    """A backward pass whose gradient number ``index`` goes through ``change(g, X)``."""

    def backward(X, Y, W1, b1, W2, b2):
        grads = list(check.reference_backward_pass(X, Y, W1, b1, W2, b2))
        grads[index] = change(grads[index], X)
        return tuple(grads)

    return backward


def _no_mean(X, Y, W1, b1, W2, b2):
    """Forgets that the loss is a mean: every gradient is n times too large."""
    return tuple(g * X.shape[0] for g in check.reference_backward_pass(X, Y, W1, b1, W2, b2))


def _y_minus_p(X, Y, W1, b1, W2, b2):
    return tuple(-g for g in check.reference_backward_pass(X, Y, W1, b1, W2, b2))


def _no_relu_derivative(X, Y, W1, b1, W2, b2):
    Z1 = X @ W1 + b1
    A1 = np.maximum(Z1, 0)
    Z2 = A1 @ W2 + b2
    P = np.exp(Z2) / np.exp(Z2).sum(axis=1, keepdims=True)
    delta2 = (P - Y) / len(X)
    delta1 = delta2 @ W2.T  # the ⊙ relu'(Z1) factor is missing
    return X.T @ delta1, delta1.sum(axis=0), A1.T @ delta2, delta2.sum(axis=0)


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (
            _tweak(3, lambda g, X: g[None, :]),
            r"db2 has shape \(1, 3\), expected \(3,\) — sum over the batch axis",
        ),
        (
            _tweak(1, lambda g, X: np.tile(g, (len(X), 1)) / len(X)),
            r"db1 has shape \(6, 5\).*one bias gradient per example",
        ),
        (_tweak(2, lambda g, X: g.T), "dW2 looks transposed"),
        (_tweak(0, lambda g, X: g.T), "dW1 looks transposed"),
        (_tweak(0, lambda g, X: g * len(X)), "dW1 is off by a factor of the batch size"),
        (_tweak(0, lambda g, X: g / len(X)), "dW1 is off by a factor of the batch size.*too small"),
        (_no_mean, "dW2 is off by a factor of the batch size"),
        (_y_minus_p, "dW2 has the wrong sign"),
        (_no_relu_derivative, "dW1 is what you get without the ⊙ f'\\(Z1\\) factor"),
        (_tweak(1, lambda g, X: g + 0.1), "db1 differs from the expected values"),
        (lambda *args: check.reference_backward_pass(*args)[:3], "tuple of four arrays"),
        (_tweak(2, lambda g, X: None), "dW2 is None"),
    ],
)
def test_backward_pass_names_the_wrong_gradient(wrong, message):
    with pytest.raises(CheckFailed, match=message):
        check.backward_pass(wrong)


def _looping_over_examples(X, Y, W1, b1, W2, b2):
    """Right numbers, one example at a time: the per-example outer products of section 5."""
    grads = [np.zeros_like(W1), np.zeros_like(b1), np.zeros_like(W2), np.zeros_like(b2)]
    for x, y in zip(X, Y, strict=True):
        for total, g in zip(grads, check.reference_backward_pass(x[None], y[None], W1, b1, W2, b2),
                            strict=True):
            total += g / len(X)
    return tuple(grads)


def test_backward_pass_messages_do_not_print_code():
    wrongs = [_tweak(3, lambda g, X: g[None, :]), _tweak(2, lambda g, X: g.T),
              _tweak(1, lambda g, X: np.tile(g, (len(X), 1)) / len(X))]
    for wrong in wrongs:
        with pytest.raises(CheckFailed) as failure:
            check.backward_pass(wrong)
        assert "@" not in str(failure.value) and "axis=" not in str(failure.value)


def test_backward_pass_rejects_a_loop_over_the_examples():
    with pytest.raises(CheckFailed, match=r"still loops in Python \(for loop.*batch \(matrix\) form"):
        check.backward_pass(_looping_over_examples)


def test_backward_pass_compares_with_numerical_gradients(monkeypatch):
    """A reference and an answer that agree but are both wrong are caught by central differences."""

    def doubled(X, Y, W1, b1, W2, b2):
        return tuple(2 * g for g in wrong_reference(X, Y, W1, b1, W2, b2))

    wrong_reference = check.reference_backward_pass
    monkeypatch.setattr(check, "reference_backward_pass", doubled)
    with pytest.raises(CheckFailed, match="disagrees with the numerical gradient"):
        check.backward_pass(doubled)


# --- Exercise 3.3: iterations per epoch -------------------------------------


def test_iterations_per_epoch_accepts_correct_answers():
    assert check.iterations_per_epoch(lambda n, b: math.ceil(n / b))
    assert check.iterations_per_epoch(lambda n, b: int(np.ceil(n / b)))
    assert check.iterations_per_epoch(lambda n, b: (n + b - 1) // b)


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (lambda n, b: n // b, "rounding down drops the last, smaller batch"),
        (lambda n, b: n // b + 1, "adding 1 to the rounded-down quotient counts a batch too many"),
        (lambda n, b: int(n / b) + 1, "adding 1 to the rounded-down quotient"),
        (lambda n, b: n / b, "whole number"),
        (lambda n, b: n * b, "you multiplied"),
        (lambda n, b: math.ceil(b / n), "upside down"),
        (lambda n, b: round(n / b), "rounding down drops the last"),
        (lambda n, b: None, "forget `return`"),
    ],
)
def test_iterations_per_epoch_explains_mistakes(wrong, message):
    with pytest.raises(CheckFailed, match=message):
        check.iterations_per_epoch(wrong)


def test_iterations_per_epoch_plus_one_message_names_the_exact_case():
    with pytest.raises(CheckFailed) as failure:
        check.iterations_per_epoch(lambda n, b: n // b + 1)
    message = str(failure.value)
    assert "iterations_per_epoch(1000, 100) = 11, expected 10" in message
    assert "10 full batches" in message
    assert "ceil" not in message
