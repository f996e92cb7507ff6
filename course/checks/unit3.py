"""Self-checks for unit 3 (neural networks and backpropagation).

The network of exercise 3.2 is the MNIST classifier in miniature, written with
one example per row (the Keras convention)::

    Z1 = X @ W1 + b1        X (n, d), W1 (d, h), b1 (h,)
    A1 = relu(Z1)
    Z2 = A1 @ W2 + b2       W2 (h, k), b2 (k,)
    P  = softmax(Z2)        each row sums to 1
    C  = mean over the n rows of -sum(Y * log P)
"""

from __future__ import annotations

import math
from functools import partial

import numpy as np

from course.checks import (
    CheckFailed,
    as_array,
    exercise,
    numerical_gradient,
    require,
    require_close,
    require_no_loops,
)

# ---------------------------------------------------------------------------
# Exercise 3.1 — the derivative of the sigmoid
# ---------------------------------------------------------------------------


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def reference_sigmoid_derivative(z):
    """σ'(z) = σ(z) (1 − σ(z))."""
    s = 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=np.float64)))
    return s * (1.0 - s)


def _sigmoid_derivative_inputs():
    rng = np.random.default_rng(3)
    return [
        np.array([0.0]),
        np.array([-2.0, -0.5, 0.0, 0.5, 2.0]),
        np.linspace(-8.0, 8.0, 33),
        rng.normal(scale=3.0, size=(4, 6)),
    ]


@exercise("Exercise 3.1 — derivative of the sigmoid", solution=reference_sigmoid_derivative)
def sigmoid_derivative(fn) -> None:
    """Check ``fn(z)`` returns σ'(z) element-wise for arrays of any shape."""
    for z in _sigmoid_derivative_inputs():
        expected = reference_sigmoid_derivative(z)
        answer = as_array(fn(z.copy()), "sigmoid_derivative(z)")
        require(
            answer.shape == z.shape,
            f"sigmoid_derivative(z) for z of shape {z.shape} returned shape {answer.shape}: "
            "the derivative is taken element by element, so the shape must not change.",
        )
        if np.allclose(answer, expected, rtol=1e-6, atol=1e-9):
            continue
        # Name the mistake on inputs where the typical wrong formulas all differ
        # (at z = 0 several of them coincide with σ(0) = 0.5).
        probe = np.linspace(-4.0, 4.0, 17)
        probed = as_array(fn(probe.copy()), "sigmoid_derivative(z)")
        s = _sigmoid(probe)
        tips = [
            (s, "you returned σ(z) itself, not its slope. At z = 0 the sigmoid is 0.5, "
             "but the plot of its derivative above peaks at 0.25 there."),
            (1 - s, "you have e^(−z) / (1 + e^(−z)), which is 1 − σ(z): differentiating "
             "(1 + e^(−z))^(−1) with the chain rule squares the denominator."),
            (probe * (1 - probe), "your result is a polynomial in z (at z = 2 it is negative, "
             "yet σ is increasing everywhere). Write the derivative through σ(z), not through z."),
            (s * (1 - probe), "you mixed z and σ(z): once the derivative is written through the "
             "sigmoid, every factor is a function of σ(z)."),
            (1 - np.tanh(probe) ** 2, "that is the derivative of tanh, not of the sigmoid."),
            (1 - s**2, "1 − σ(z)² is the pattern of tanh's derivative; at z = 0 it gives 0.75, "
             "three times the sigmoid's slope there."),
            (-s * (1 - s), "the sign is wrong: σ is increasing, so σ'(z) > 0 everywhere."),
        ]
        for wrong, message in tips:
            if probed.shape == probe.shape and np.allclose(probed, wrong, rtol=1e-6, atol=1e-9):
                raise CheckFailed(f"sigmoid_derivative: {message}")
        require_close(answer, expected, f"sigmoid_derivative(z) for z = {np.round(z, 3)}")


# ---------------------------------------------------------------------------
# Exercise 3.2 — the backward pass of a two-layer network
# ---------------------------------------------------------------------------


def reference_backward_pass(X, Y, W1, b1, W2, b2):
    """Gradients of the mean cross-entropy of a ReLU + softmax two-layer network."""
    n = X.shape[0]
    # Forward pass, keeping what the backward pass needs.
    Z1 = X @ W1 + b1
    A1 = np.maximum(Z1, 0.0)
    Z2 = A1 @ W2 + b2
    Z2 = Z2 - Z2.max(axis=1, keepdims=True)  # softmax is unchanged by a shift; exp cannot overflow
    P = np.exp(Z2) / np.exp(Z2).sum(axis=1, keepdims=True)
    # BP1 for softmax + cross-entropy: the output error is P − Y (divided by n: C is a mean).
    delta2 = (P - Y) / n
    # BP3 and BP4 for the output layer.
    dW2 = A1.T @ delta2
    db2 = delta2.sum(axis=0)
    # BP2: send the error back through W2 and the ReLU (derivative 1 where Z1 > 0).
    delta1 = (delta2 @ W2.T) * (Z1 > 0)
    dW1 = X.T @ delta1
    db1 = delta1.sum(axis=0)
    return dW1, db1, dW2, db2


def mean_cross_entropy(X, Y, W1, b1, W2, b2) -> float:
    """The loss whose gradients exercise 3.2 asks for (used for numerical gradients)."""
    Z2 = np.maximum(X @ W1 + b1, 0.0) @ W2 + b2
    Z2 = Z2 - Z2.max(axis=1, keepdims=True)
    log_p = Z2 - np.log(np.exp(Z2).sum(axis=1, keepdims=True))
    return float(-(Y * log_p).sum(axis=1).mean())


def numerical_gradients(loss, params, eps: float = 1e-6):
    """Central differences (C(θ + ε) − C(θ − ε)) / 2ε for every entry of every parameter."""
    return [numerical_gradient(loss, param, eps) for param in params]


def backward_problem(n=6, d=4, h=5, k=3, seed=0):
    """A random batch and random parameters (float64) for checking a backward pass."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    Y = np.eye(k)[rng.integers(0, k, size=n)]
    W1 = rng.normal(scale=0.7, size=(d, h))
    b1 = rng.normal(scale=0.3, size=h)
    W2 = rng.normal(scale=0.7, size=(h, k))
    b2 = rng.normal(scale=0.3, size=k)
    return X, Y, W1, b1, W2, b2


GRADIENT_NAMES = ("dW1", "db1", "dW2", "db2")


def _wrong_variants(X, Y, W1, b1, W2, b2):
    """Gradients produced by typical mistakes, each with the hint that fixes it."""
    n = X.shape[0]
    Z1 = X @ W1 + b1
    A1 = np.maximum(Z1, 0.0)
    Z2 = A1 @ W2 + b2
    P = np.exp(Z2 - Z2.max(axis=1, keepdims=True))
    P /= P.sum(axis=1, keepdims=True)
    delta2 = (P - Y) / n
    no_relu = delta2 @ W2.T
    return {
        "dW1": [
            (
                X.T @ no_relu,
                "is what you get without the ⊙ f'(Z1) factor in BP2: multiply the "
                "back-propagated error by the ReLU derivative (1 where Z1 > 0, else 0).",
            ),
            (
                X.T @ (no_relu * A1),
                "multiplies by the ReLU output A1 instead of its derivative "
                "(Z1 > 0): f'(z) is 1 or 0, not f(z).",
            ),
        ],
        "db1": [
            (
                no_relu.sum(axis=0),
                "is missing the ⊙ f'(Z1) factor in BP2: multiply by the ReLU "
                "derivative (Z1 > 0) before summing.",
            ),
        ],
        "dW2": [
            (
                Z1.T @ delta2,
                "uses Z1 instead of the activations A1 = relu(Z1): BP4 multiplies the "
                "error by the *activations* of the previous layer.",
            ),
        ],
        "db2": [],
    }


def _diagnose(name, answer, expected, n, variants):
    """Raise CheckFailed describing how ``answer`` differs from ``expected``."""
    if answer.shape != expected.shape:
        if name.startswith("db") and answer.shape in {(1,) + expected.shape, (n,) + expected.shape}:
            how = (
                "the extra axis of length 1 must go: a bias gradient has one entry per unit, "
                "like the bias itself"
                if answer.shape[0] == 1
                else "you returned one bias gradient per example; the batch's contributions add up"
            )
            raise CheckFailed(
                f"{name} has shape {answer.shape}, expected {expected.shape} — sum over the "
                f"batch axis: {how}."
            )
        if answer.shape == expected.T.shape and expected.ndim == 2:
            raise CheckFailed(
                f"{name} has shape {answer.shape}, expected {expected.shape}: {name} looks "
                "transposed. It must have the shape of the weight it updates (one row per input "
                "of the layer, one column per unit): check which factor of BP4 is transposed."
            )
        raise CheckFailed(
            f"{name} has shape {answer.shape}, expected {expected.shape} "
            "(a gradient always has the shape of its parameter)."
        )
    require(bool(np.all(np.isfinite(answer))), f"{name} contains NaN or inf values.")
    if np.allclose(answer, expected, rtol=1e-5, atol=1e-8):
        return
    if (
        expected.ndim == 2
        and expected.shape[0] == expected.shape[1]
        and np.allclose(answer, expected.T, rtol=1e-5, atol=1e-8)
    ):
        raise CheckFailed(
            f"{name} looks transposed: with one example per row, the rows of a weight gradient "
            "belong to the layer's inputs and its columns to the layer's units; check which factor "
            "of BP4 is transposed."
        )
    scale = float(np.vdot(answer, expected) / max(np.vdot(expected, expected), 1e-300))
    if np.allclose(answer, scale * expected, rtol=1e-4, atol=1e-8):
        if math.isclose(scale, n, rel_tol=1e-3):
            raise CheckFailed(
                f"{name} is off by a factor of the batch size ({n} times too large): the loss "
                "is the *mean* over the batch, so divide the output error by n once."
            )
        if math.isclose(scale, 1 / n, rel_tol=1e-3):
            raise CheckFailed(
                f"{name} is off by a factor of the batch size ({n} times too small): did you "
                "divide by n twice (in delta and again in the gradient)?"
            )
        if math.isclose(scale, -1.0, rel_tol=1e-3):
            raise CheckFailed(
                f"{name} has the wrong sign: the output error of softmax + cross-entropy is "
                "P − Y, not Y − P."
            )
        raise CheckFailed(f"{name} points the right way but is {scale:.4g} times too large.")
    for wrong, hint in variants.get(name, []):
        if np.allclose(answer, wrong, rtol=1e-5, atol=1e-8):
            raise CheckFailed(f"{name} {hint}")
    require_close(answer, expected, name)


def _relative_error(a, b) -> float:
    return float(np.max(np.abs(a - b) / np.maximum(np.maximum(np.abs(a), np.abs(b)), 1e-8)))


@exercise("Exercise 3.2 — backward pass of a two-layer network", solution=reference_backward_pass)
def backward_pass(fn) -> None:
    """Check ``fn(X, Y, W1, b1, W2, b2) -> (dW1, db1, dW2, db2)``.

    The student's gradients are compared with the reference on random problems
    and, on the first one, with numerical gradients from central differences.
    The batch form needs no Python loop, and the check reads the code to make sure.
    """
    problems = [
        backward_problem(),
        backward_problem(n=10, d=7, h=8, k=4, seed=1),
        backward_problem(n=5, d=3, h=3, k=3, seed=2),
    ]
    for number, problem in enumerate(problems):
        X, Y, W1, b1, W2, b2 = problem
        result = fn(*(p.copy() for p in problem))
        require(
            isinstance(result, (tuple, list)) and len(result) == 4,
            "backward_pass must return a tuple of four arrays: (dW1, db1, dW2, db2).",
        )
        expected = reference_backward_pass(*problem)
        variants = _wrong_variants(*problem)
        answers = [
            as_array(value, name) for value, name in zip(result, GRADIENT_NAMES, strict=True)
        ]
        # Output layer first: a mistake there also spoils the hidden layer's gradients.
        for index in (2, 3, 0, 1):
            _diagnose(GRADIENT_NAMES[index], answers[index], expected[index], X.shape[0], variants)
        if number == 0:
            params = [p.copy() for p in (W1, b1, W2, b2)]
            # partial binds the arrays themselves, so the in-place nudges reach the loss.
            numeric = numerical_gradients(partial(mean_cross_entropy, X, Y, *params), params)
            for name, answer, approx in zip(GRADIENT_NAMES, answers, numeric, strict=True):
                error = _relative_error(answer, approx)
                require(
                    error < 1e-4,
                    f"{name} disagrees with the numerical gradient (max relative error {error:.2e}).",
                )
    require_no_loops(
        fn,
        "The gradients are right, but the exercise asks for the batch (matrix) form of section "
        "5: one matrix product per BP2 and BP4 handles every example of the batch at once, and "
        "summing over the batch axis replaces the loop for the biases.",
    )


# ---------------------------------------------------------------------------
# Exercise 3.3 — iterations per epoch
# ---------------------------------------------------------------------------


def reference_iterations_per_epoch(n_examples, batch_size):
    """Mini-batches (= parameter updates) needed to see every example once."""
    return math.ceil(n_examples / batch_size)


ITERATION_CASES = [(60000, 128), (54000, 128), (1000, 100), (10, 3), (5, 10), (1, 1), (50000, 32)]


@exercise("Exercise 3.3 — iterations per epoch", solution=reference_iterations_per_epoch)
def iterations_per_epoch(fn) -> None:
    """Check ``fn(n_examples, batch_size)`` for several dataset and batch sizes."""
    for n, batch in ITERATION_CASES:
        expected = reference_iterations_per_epoch(n, batch)
        answer = fn(n, batch)
        require(answer is not None, "iterations_per_epoch returned None: did you forget `return`?")
        require(
            isinstance(answer, (int, float, np.integer, np.floating))
            and float(answer).is_integer(),
            f"iterations_per_epoch({n}, {batch}) returned {answer!r}: a number of iterations is a "
            "whole number (an optimizer cannot take 468.75 steps), so round the division.",
        )
        answer = int(answer)
        if answer == expected:
            continue
        if answer == n // batch + 1 and n % batch == 0:
            raise CheckFailed(
                f"iterations_per_epoch({n}, {batch}) = {answer}, expected {expected}: adding 1 to "
                f"the rounded-down quotient counts a batch too many when the batch size divides "
                f"the data exactly. {n} examples in batches of {batch} are {n // batch} full "
                "batches with nothing left over for another one. Your answer happens to be "
                "right whenever a smaller last batch exists: find one expression that is right "
                "in both cases."
            )
        if answer == n // batch:
            raise CheckFailed(
                f"iterations_per_epoch({n}, {batch}) = {answer}, expected {expected}: rounding "
                f"down drops the last, smaller batch ({n} / {batch} = {n / batch:.4g}: "
                f"{n // batch} full batches and {n % batch} examples left over). Keras trains on "
                "those left-over examples too, in one more iteration."
            )
        if answer == n * batch:
            raise CheckFailed(
                f"iterations_per_epoch({n}, {batch}) = {answer}: you multiplied; an epoch of {n} "
                f"examples in batches of {batch} cannot need more iterations than examples."
            )
        if answer == math.ceil(batch / n):
            raise CheckFailed(
                f"iterations_per_epoch({n}, {batch}) = {answer}: the division is upside down "
                "(how many batches fit in the data, not how many data sets fit in a batch)."
            )
        raise CheckFailed(f"iterations_per_epoch({n}, {batch}) = {answer}, expected {expected}.")
