"""What every unit's exercises share: a blank skeleton is "not attempted", the reference passes."""

import importlib

import pytest

from course.checks import Exercise

UNITS = [importlib.import_module(f"course.checks.unit{n}") for n in range(1, 7)]
EXERCISES = [
    (f"{module.__name__.rsplit('.', 1)[1]}.{name}", value)
    for module in UNITS
    for name, value in vars(module).items()
    if isinstance(value, Exercise)
]


def skeleton(*args, **kwargs):
    raise NotImplementedError("Exercise: write this function")


def test_every_unit_has_exercises():
    per_unit = {module.__name__: 0 for module in UNITS}
    for label, _ in EXERCISES:
        per_unit[f"course.checks.{label.split('.')[0]}"] += 1
    assert all(count >= 2 for count in per_unit.values()), per_unit


@pytest.mark.parametrize("exercise", [e for _, e in EXERCISES], ids=[n for n, _ in EXERCISES])
def test_skeleton_counts_as_not_attempted(exercise, capsys):
    assert exercise(skeleton) is False
    assert "not attempted" in capsys.readouterr().out


@pytest.mark.parametrize("exercise", [e for _, e in EXERCISES], ids=[n for n, _ in EXERCISES])
def test_reference_solution_passes_and_is_printable(exercise, capsys):
    assert exercise._solution is not None, f"{exercise.title} publishes no reference solution"
    assert exercise(exercise._solution) is True
    assert "correct" in capsys.readouterr().out
    exercise.solution()
    assert "def " in capsys.readouterr().out


def test_a_failing_check_propagates_and_is_not_called_not_attempted():
    from course.checks import CheckFailed, exercise, require

    @exercise("Exercise 0.1 — double", solution=lambda x: 2 * x)
    def double(fn):
        require(fn(3) == 6, "double(3) should be 6")

    with pytest.raises(CheckFailed, match="double\\(3\\) should be 6"):
        double(lambda x: x)
