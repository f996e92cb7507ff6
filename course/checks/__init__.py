"""Self-checks that students call from the unit notebooks.

Each unit has its own module (``course.checks.unit1`` ...). A check either
prints a short confirmation or raises :class:`CheckFailed` whose message says
what is wrong and, where it can, what a typical mistake looks like. Checks run
plain Python, so they work on Colab without any Jupyter extension.
"""

from __future__ import annotations

import ast
import inspect
import textwrap

import numpy as np


class CheckFailed(AssertionError):
    """Raised by a self-check; the message is written for the student."""


def passed(what: str) -> None:
    print(f"✔ {what}: correct.")


def require(condition: bool, message: str) -> None:
    """Raise :class:`CheckFailed` with ``message`` unless ``condition`` holds."""
    if not condition:
        raise CheckFailed(message)


def as_array(value, name: str) -> np.ndarray:
    """Convert a student's result (NumPy, TensorFlow, list) to a NumPy array."""
    if value is None:
        raise CheckFailed(f"{name} is None: did your function forget to `return` its result?")
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise CheckFailed(f"{name} could not be read as numbers ({error}).") from None


def require_shape(value: np.ndarray, shape: tuple, name: str) -> None:
    require(
        value.shape == tuple(shape),
        f"{name} has shape {value.shape}, expected {tuple(shape)}.",
    )


def require_close(actual, expected, name: str, *, rtol: float = 1e-5, atol: float = 1e-6) -> None:
    """Compare arrays and describe the largest difference when they disagree."""
    actual = as_array(actual, name)
    expected = np.asarray(expected, dtype=np.float64)
    require_shape(actual, expected.shape, name)
    require(bool(np.all(np.isfinite(actual))), f"{name} contains NaN or inf values.")
    if not np.allclose(actual, expected, rtol=rtol, atol=atol):
        worst = np.unravel_index(np.argmax(np.abs(actual - expected)), expected.shape)
        raise CheckFailed(
            f"{name} differs from the expected values: at index {tuple(int(i) for i in worst)} "
            f"you have {actual[worst]:.6g}, expected {expected[worst]:.6g}."
        )


def python_loops(function) -> list[str]:
    """The ``for``/``while`` loops and comprehensions in ``function``'s own source code.

    Read from the code itself (its syntax tree), not timed, so a one-loop answer
    is found however fast the machine is. Each entry names the construct and its
    line within the function, e.g. ``"for loop (line 3)"``.
    """
    try:
        source = textwrap.dedent(inspect.getsource(function))
    except (OSError, TypeError):
        return []  # no source to read (a builtin, a lambda typed at a prompt)
    kinds = {ast.For: "for loop", ast.AsyncFor: "for loop", ast.While: "while loop",
             ast.ListComp: "list comprehension", ast.SetComp: "set comprehension",
             ast.DictComp: "dict comprehension", ast.GeneratorExp: "generator expression"}
    found = []
    for node in ast.walk(ast.parse(source)):
        kind = kinds.get(type(node))
        if kind:
            found.append(f"{kind} (line {node.lineno})")
    return found


def require_no_loops(function, hint: str) -> None:
    """Fail when ``function`` loops in Python; ``hint`` says how to vectorise instead."""
    loops = python_loops(function)
    name = getattr(function, "__name__", "your function")
    require(not loops, f"{name} still loops in Python ({', '.join(loops)}). {hint}")


def numerical_gradient(function, values: np.ndarray, step: float = 1e-5) -> np.ndarray:
    """Central differences (f(v + h) - f(v - h)) / 2h, one entry of ``values`` at a time.

    ``function`` takes no argument and reads ``values``, which is perturbed in
    place and restored, so a check can compare a student's analytic gradient
    with what the loss itself says.
    """
    gradient = np.zeros_like(values)
    for index in np.ndindex(values.shape):
        saved = values[index]
        values[index] = saved + step
        above = function()
        values[index] = saved - step
        below = function()
        values[index] = saved
        gradient[index] = (above - below) / (2 * step)
    return gradient


class Exercise:
    """A self-check wrapped with the bookkeeping every exercise shares.

    Calling it runs the check on the student's function. A function that still
    raises ``NotImplementedError`` (the skeleton) counts as "not attempted": the
    check says so and returns False, so a fresh notebook runs top to bottom.
    """

    def __init__(self, title: str, check, solution=None):
        self.title = title
        self._check = check
        self._solution = solution
        self.__doc__ = check.__doc__
        self.__name__ = check.__name__

    def __call__(self, *args, **kwargs) -> bool:
        try:
            self._check(*args, **kwargs)
        except NotImplementedError:
            print(f"… {self.title}: not attempted yet. Write the function body, then re-run this cell.")
            return False
        passed(self.title)
        return True

    def use(self, function, *args, **kwargs):
        """The student's ``function`` when it passes this check, else the reference.

        Later cells of a notebook build on the student's own answers, and still
        run top to bottom when an exercise is unfinished or wrong: they then use
        the published reference and say so.
        """
        try:
            self._check(function, *args, **kwargs)
        except NotImplementedError:
            problem = "is not written yet"
        except CheckFailed as failure:
            problem = f"does not pass its check yet ({str(failure).splitlines()[0][:160]})"
        else:
            return function
        if self._solution is None:
            raise CheckFailed(f"{self.title}: your function {problem}, and there is no "
                              "reference to fall back on: finish the exercise first.")
        print(f"ℹ {self.title}: your function {problem}; the cells below use the course's "
              "reference implementation instead.")
        return self._solution

    def solution(self) -> None:
        """Print the reference solution (try on your own first!)."""
        import inspect

        if self._solution is None:
            print(f"{self.title}: no reference solution is published for this exercise.")
            return
        print(inspect.getsource(self._solution))


def exercise(title: str, solution=None):
    """Decorator turning a check function into an :class:`Exercise`."""

    def wrap(check) -> Exercise:
        return Exercise(title, check, solution)

    return wrap
