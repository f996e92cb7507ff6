"""The Unit 1 self-checks accept right answers and explain typical wrong ones."""

import numpy as np
import pytest

from course.checks import CheckFailed
from course.checks import unit1 as check

# --------------------------------------------------------------------------- 1.1 gradient step


def right_step(w, X, y, learning_rate):
    return w - learning_rate * 2.0 / len(y) * X.T @ (X @ w - y)


def test_gradient_step_accepts_right_answer(capsys):
    assert check.gradient_step(right_step) is True
    assert "correct" in capsys.readouterr().out


def test_gradient_step_accepts_an_in_place_update():
    def in_place_step(w, X, y, learning_rate):
        w -= learning_rate * 2.0 / len(y) * X.T @ (X @ w - y)
        return w

    assert check.gradient_step(in_place_step) is True


GRADIENT_STEP_MISTAKES = [
    (lambda w, X, y, lr: w + lr * 2.0 / len(y) * X.T @ (X @ w - y),
     r"moves uphill: the loss went from [\d.]+ to [\d.]+"),
    (lambda w, X, y, lr: w - lr * 2.0 / len(y) * X.T @ (y - X @ w), "moves uphill"),
    (lambda w, X, y, lr: w + lr * X.T @ (X @ w - y), "moves uphill.*also [\\d.]+ times as long"),
    (lambda w, X, y, lr: w - lr * X.T @ (X @ w - y), "N/2 = 25 times too long"),
    (lambda w, X, y, lr: w - lr * 2.0 * X.T @ (X @ w - y), "SUM of the squared errors"),
    (lambda w, X, y, lr: w - lr / len(y) * X.T @ (X @ w - y), "half as long"),
    (lambda w, X, y, lr: w - 2.0 / len(y) * X.T @ (X @ w - y), "does not depend on the learning"),
    (lambda w, X, y, lr: w - lr * 3.0 / len(y) * X.T @ (X @ w - y), "1.5 times as long"),
    (lambda w, X, y, lr: lr * 2.0 / len(y) * X.T @ (X @ w - y), "not the new weights"),
    (lambda w, X, y, lr: (w - lr * 2.0 / len(y) * X.T @ (X @ w - y))[:, None], "1-D"),
    (lambda w, X, y, lr: w - lr * 2.0 / len(y) * X.T @ (X @ w + y),
     "differs from the expected values.*the loss went from"),
    (lambda w, X, y, lr: None, "forget to `return`"),
]


@pytest.mark.parametrize(("wrong_step", "message"), GRADIENT_STEP_MISTAKES)
def test_gradient_step_explains_typical_mistakes(wrong_step, message):
    with pytest.raises(CheckFailed, match=message):
        check.gradient_step(wrong_step)


@pytest.mark.parametrize("wrong_step", [wrong for wrong, _ in GRADIENT_STEP_MISTAKES])
def test_gradient_step_messages_do_not_print_the_update_rule(wrong_step):
    with pytest.raises(CheckFailed) as failure:
        check.gradient_step(wrong_step)
    message = str(failure.value)
    for piece in ["X.T", "X^T", "@", "2/N", "2 / N", "learning_rate *", "w -", "gradient)"]:
        assert piece not in message, f"{piece!r} gives the answer away in: {message}"


# --------------------------------------------------------------------------- 1.2 features


def right_features(x, degree):
    return np.vander(x, degree + 1, increasing=True)


def test_polynomial_features_accepts_right_answer():
    assert check.polynomial_features(right_features) is True


@pytest.mark.parametrize(
    ("wrong_features", "message"),
    [
        (lambda x, d: np.vander(x, d + 1, increasing=True)[:, 1:], "bias column is missing"),
        (lambda x, d: np.vander(x, d + 1), "reverse order"),
        (lambda x, d: np.vander(x, d + 1, increasing=True).T, "transposed"),
        (lambda x, d: np.vander(x, d, increasing=True), "highest power is missing"),
        (lambda x, d: np.vander(2 * x, d + 1, increasing=True), "differs from the expected"),
    ],
)
def test_polynomial_features_explains_typical_mistakes(wrong_features, message):
    with pytest.raises(CheckFailed, match=message):
        check.polynomial_features(wrong_features)


# --------------------------------------------------------------------------- 1.3 fit


def right_fit(x, y, degree):
    return np.linalg.lstsq(np.vander(x, degree + 1, increasing=True), y, rcond=None)[0]


def test_fit_polynomial_accepts_right_answers():
    assert check.fit_polynomial(right_fit) is True
    # Solving the normal equations is a right answer too (well conditioned here).
    assert check.fit_polynomial(
        lambda x, y, d: np.linalg.solve(
            np.vander(x, d + 1, increasing=True).T @ np.vander(x, d + 1, increasing=True),
            np.vander(x, d + 1, increasing=True).T @ y,
        )
    )


@pytest.mark.parametrize(
    ("wrong_fit", "message"),
    [
        (lambda x, y, d: np.linalg.lstsq(np.vander(x, d + 1, increasing=True), y, rcond=None),
         "whole tuple"),
        (lambda x, y, d: np.polyfit(x, y, d), "reverse order"),
        (lambda x, y, d: np.linalg.lstsq(np.vander(x, d, increasing=True), y, rcond=None)[0],
         "has shape"),
        (lambda x, y, d: np.vander(x, d + 1, increasing=True).T @ y,
         "training MSE .* do not minimise the squared error"),
    ],
)
def test_fit_polynomial_explains_typical_mistakes(wrong_fit, message):
    with pytest.raises(CheckFailed, match=message):
        check.fit_polynomial(wrong_fit)


# --------------------------------------------------------------------------- reuse


def test_use_returns_the_students_function_when_it_passes(capsys):
    assert check.gradient_step.use(right_step) is right_step
    assert capsys.readouterr().out == ""


def test_use_falls_back_to_the_reference_and_says_why(capsys):
    fallback = check.gradient_step.use(lambda w, X, y, lr: w + lr * X.T @ (X @ w - y))
    assert fallback is check.gradient_step._solution
    assert "moves uphill" in capsys.readouterr().out


def test_solution_prints_reference_source(capsys):
    check.gradient_step.solution()
    assert "def _reference_gradient_step" in capsys.readouterr().out
