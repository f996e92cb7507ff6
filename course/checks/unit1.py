"""Self-checks for Unit 1 (TensorFlow basics and linear regression).

Exercises:

* 1.1 ``gradient_step(w, X, y, learning_rate)``: one gradient-descent step on the
  mean squared error of a linear model with design matrix ``X``;
* 1.2 ``polynomial_features(x, degree)``: the design matrix of the powers of ``x``;
* 1.3 ``fit_polynomial(x, y, degree)``: least-squares polynomial coefficients.

The messages say what is wrong (a step that climbs, a factor that is off) and
where to look, never the line of code that fixes it.
"""

from __future__ import annotations

import numpy as np

from course.checks import CheckFailed, as_array, exercise, require, require_close, require_shape

__all__ = ["fit_polynomial", "gradient_step", "polynomial_features"]


# --------------------------------------------------------------------------- references


def _reference_gradient_step(w, X, y, learning_rate):
    residual = X @ w - y
    gradient = 2.0 / len(y) * X.T @ residual
    return w - learning_rate * gradient


def _reference_polynomial_features(x, degree):
    return np.stack([x**power for power in range(degree + 1)], axis=1)


def _reference_fit_polynomial(x, y, degree):
    features = np.stack([x**power for power in range(degree + 1)], axis=1)
    coefficients, *_ = np.linalg.lstsq(features, y, rcond=None)
    return coefficients


# --------------------------------------------------------------------------- 1.1 gradient step


def _mse(w, X, y) -> float:
    return float(np.mean((X @ w - y) ** 2))


def _step_diagnosis(step: np.ndarray, expected_step: np.ndarray, n: int, learning_rate: float,
                    losses: str) -> str | None:
    """Name the typical mistake when the step is a multiple of the right one."""
    scale = float(step @ expected_step / (expected_step @ expected_step))
    if not np.allclose(step, scale * expected_step, rtol=1e-6, atol=1e-9):
        return None
    if scale < 0:
        size = "" if np.isclose(scale, -1.0, rtol=1e-6) else (
            f" It is also {abs(scale):.4g} times as long as a correct step.")
        return (f"your step moves uphill: {losses}. The gradient points where the loss grows "
                "fastest, so a descent step must go the opposite way." + size)
    known = [
        (n / 2, f"your step is N/2 = {n / 2:g} times too long ({losses}). Two constants of the "
                "derivative of the MEAN squared error are missing: the 1/N of the mean and the "
                "factor that differentiating a square brings down."),
        (float(n), f"your step is N = {n} times too long ({losses}): that is the gradient of the "
                   "SUM of the squared errors, but the loss is their MEAN over the N examples."),
        (0.5, f"your step is half as long as it should be ({losses}): differentiating a square "
              "brings down a constant factor, and yours is missing."),
        (1.0 / learning_rate, f"your step does not depend on the learning rate ({losses}): the "
                              "learning rate sets how far one step goes, so the step must grow "
                              "and shrink with it."),
    ]
    for factor, message in known:
        if np.isclose(scale, factor, rtol=1e-6):
            return message
    return (
        f"your step goes in the right direction but is {scale:.4g} times as long as a correct "
        f"one ({losses}): compare the constant factors of your gradient with the derivative "
        "of the mean squared error."
    )


def _check_gradient_step(gradient_step) -> None:
    """Exercise 1.1: compare one step with the reference on several problems."""
    rng = np.random.default_rng(0)
    problems = []  # (weights, features, targets, learning rate)
    # The first problem has N = 50, where the typical wrong factors (N/2, N, 1/2 and
    # 1/learning_rate) all differ, so the first failure names its mistake unambiguously.
    for n, d, learning_rate in [(50, 3, 0.05), (17, 5, 0.3)]:
        X = rng.normal(size=(n, d))
        problems.append((rng.normal(size=d), X, X @ rng.normal(size=d) + 0.1 * rng.normal(size=n),
                         learning_rate))
    problems.append((np.array([0.5, -0.5]), np.array([[1.0, 1.0], [1.0, 2.0], [1.0, 3.0]]),
                     np.array([2.0, 3.0, 5.0]), 0.1))  # a bias column of ones, by hand

    for w, X, y, learning_rate in problems:
        expected = _reference_gradient_step(w, X, y, learning_rate)
        result = gradient_step(w.copy(), X.copy(), y.copy(), learning_rate)
        result = as_array(result, "the new weights")
        if result.shape == (len(w), 1) or result.shape == (1, len(w)):
            raise CheckFailed(
                f"the new weights have shape {result.shape} but w has shape {w.shape}: keep w a "
                "1-D vector. Print the shape of each intermediate result: the residuals should "
                "have shape (N,), not (N, 1) or (N, N)."
            )
        require_shape(result, w.shape, "the new weights")
        if np.allclose(result, expected, rtol=1e-6, atol=1e-9):
            continue
        where = f"N = {len(y)}, learning_rate = {learning_rate}"
        update = expected - w
        returned_update = np.allclose(np.abs(result), np.abs(update), rtol=1e-6, atol=1e-9)
        if returned_update and np.any(w != 0):  # with w = 0 the update IS the new weights
            raise CheckFailed(
                "you returned how much the weights change, not the new weights: the function "
                f"must return the weights after the step ({where})."
            )
        losses = (f"the loss went from {_mse(w, X, y):.5g} to {_mse(result, X, y):.5g}, where one "
                  f"correct step reaches {_mse(expected, X, y):.5g}")
        message = _step_diagnosis(result - w, expected - w, len(y), learning_rate, losses)
        if message is not None:
            raise CheckFailed(f"{message} ({where})")
        try:
            require_close(result, expected, "the new weights")
        except CheckFailed as failure:
            raise CheckFailed(f"{failure} With your step {losses} ({where}). Check the "
                              "residuals (prediction minus target) and which axis you sum "
                              "over.") from None


gradient_step = exercise("Exercise 1.1 — one gradient-descent step",
                         solution=_reference_gradient_step)(_check_gradient_step)


# --------------------------------------------------------------------------- 1.2 features


def _check_polynomial_features(polynomial_features) -> None:
    """Exercise 1.2: one row per example, column j holds the j-th power."""
    rng = np.random.default_rng(1)
    cases = [(np.array([2.0, -1.0, 0.5]), 3), (rng.uniform(-1.5, 1.5, size=20), 5),
             (np.array([3.0, 4.0]), 0)]
    for x, degree in cases:
        expected = _reference_polynomial_features(x, degree)
        result = as_array(polynomial_features(x.copy(), degree), "the feature matrix")
        where = f"(x with {len(x)} values, degree={degree})"
        if result.shape == expected.shape[::-1] and expected.shape[0] != expected.shape[1]:
            raise CheckFailed(
                f"the feature matrix has shape {result.shape} {where}, expected "
                f"{expected.shape}: it is transposed. One ROW per example, one COLUMN per power."
            )
        if result.shape == (len(x), degree) and degree > 0:
            if np.allclose(result, expected[:, 1:]):
                raise CheckFailed(
                    f"the bias column is missing {where}: the first column must be all ones "
                    "(x to the power 0), so the model can learn an intercept."
                )
            if np.allclose(result, expected[:, :-1]):
                raise CheckFailed(
                    f"the highest power is missing {where}: degree d needs d + 1 columns, from "
                    "the power 0 up to and including the power d."
                )
        require_shape(result, expected.shape, f"the feature matrix {where}")
        if degree > 0 and np.allclose(result, expected[:, ::-1]):
            raise CheckFailed(
                f"the columns are in reverse order {where}: column j must hold x to the power "
                "j, starting with the ones column. (If you used np.vander, read what its "
                "`increasing` argument does.)"
            )
        require_close(result, expected, f"the feature matrix {where}")


polynomial_features = exercise("Exercise 1.2 — polynomial features",
                               solution=_reference_polynomial_features)(_check_polynomial_features)


# --------------------------------------------------------------------------- 1.3 fit


def _check_fit_polynomial(fit_polynomial) -> None:
    """Exercise 1.3: least-squares coefficients, lowest power first."""
    rng = np.random.default_rng(2)
    x = rng.uniform(-1.0, 1.0, size=40)
    cases = [
        (np.array([0.0, 1.0, 2.0, 3.0]), np.array([1.0, 3.0, 5.0, 7.0]), 1),  # exactly 1 + 2x
        (x, 0.5 - x + 2.0 * x**3 + 0.1 * rng.normal(size=40), 3),
        (x, np.sin(3.0 * x) + 0.1 * rng.normal(size=40), 6),
    ]
    for x_values, y_values, degree in cases:
        expected = _reference_fit_polynomial(x_values, y_values, degree)
        raw = fit_polynomial(x_values.copy(), y_values.copy(), degree)
        if isinstance(raw, tuple) and len(raw) == 4:
            raise CheckFailed(
                "you returned the whole tuple of np.linalg.lstsq (solution, residuals, rank, "
                "singular values): the coefficients are only its first element."
            )
        result = as_array(raw, "the coefficients")
        if result.shape == (degree + 1, 1):
            result = result[:, 0]
        require_shape(result, expected.shape, f"the coefficients for degree {degree}")
        if degree > 0 and np.allclose(result, expected[::-1], rtol=1e-4, atol=1e-6):
            raise CheckFailed(
                "your coefficients are in reverse order (highest power first, as np.polyfit "
                "returns them): coefficient j must multiply x to the power j."
            )
        require(
            bool(np.all(np.isfinite(result))),
            f"the coefficients for degree {degree} contain NaN or inf.",
        )
        if degree > 0:
            fitted_mse = np.mean((_reference_polynomial_features(x_values, degree) @ result
                                  - y_values) ** 2)
            best_mse = np.mean((_reference_polynomial_features(x_values, degree) @ expected
                                - y_values) ** 2)
            require(
                fitted_mse <= best_mse * (1 + 1e-6) + 1e-12,
                f"your degree-{degree} polynomial has training MSE {fitted_mse:.5g}, but the "
                f"least-squares fit reaches {best_mse:.5g}: your coefficients do not minimise "
                "the squared error of the features against y.",
            )
        require_close(result, expected, f"the coefficients for degree {degree}",
                      rtol=1e-4, atol=1e-6)


fit_polynomial = exercise("Exercise 1.3 — least-squares polynomial fit",
                          solution=_reference_fit_polynomial)(_check_fit_polynomial)
