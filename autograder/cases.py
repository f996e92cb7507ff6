"""Graded cases: how an instructor writes the tests that decide a question's points.

An assignment's cases live in ``grading/<assignment>.py`` in the course
directory, next to its grading TOML and outside ``source/``, so nbgrader never
releases them. The module defines ``QUESTIONS``, a list of :class:`Question`::

    from autograder.cases import Case, Question, close, raises

    QUESTIONS = [
        Question("test_conv_output_size", "conv_output_size", cases=[
            Case("AlexNet's first layer", args=(227, 11, 0, 4), expect=integer(55)),
            Case("filter does not tile", args=(32, 5, 0, 2), expect=raises("ValueError")),
        ]),
    ]

The grader runs each case against the student's function in a fresh
sandboxed process (:mod:`autograder.case_runner`), gets back plain values and
judges them here, in the trusted process, with the expectation of the case.
A question earns its grade cell's points when every case passes, like an
nbgrader test cell whose asserts all hold (``partial_credit=True`` gives the
share of cases passed instead). ``libraries="numpy"`` (the default) takes TensorFlow,
Keras, SciPy and the other array libraries away from the student's function:
using one of them earns the question nothing, and the feedback says why.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# Libraries a NumPy-only exercise may not use: each can compute a convolution, a
# pooling, a transposed convolution or an IoU in one call.
ARRAY_LIBRARIES = ("tensorflow", "keras", "tf_keras", "tensorflow_datasets", "scipy", "sklearn",
                   "skimage", "cv2", "torch", "torchvision", "jax", "jaxlib", "numba")
LIBRARY_CHOICES = ("numpy", "any")


@dataclass(frozen=True)
class Reply:
    """What the sandbox said about one call: a value, or why there is none."""

    status: str  # ok | raised | forbidden | timeout | missing | unsendable | crashed
    value: object = None
    error: str | None = None
    exception: str | None = None


Expectation = Callable[[Reply], "str | None"]  # None: the case passes; else what is wrong


@dataclass(frozen=True)
class Case:
    name: str  # shown to the student in the feedback, e.g. "stride 2, padding 1, 3 channels"
    expect: Expectation
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    probe: str | None = None  # an autograder.probes function applied in the sandbox
    probe_args: dict = field(default_factory=dict)
    timeout: float = 10.0


@dataclass(frozen=True)
class Question:
    grade_id: str  # the nbgrader test cell whose points the cases decide
    function: str  # the student's function that the cases call
    cases: Sequence[Case]
    libraries: str = "numpy"
    forbidden_functions: tuple[str, ...] = ()  # e.g. ("numpy.convolve",)
    partial_credit: bool = False  # True: points in proportion to the cases passed

    def __post_init__(self):
        if self.libraries not in LIBRARY_CHOICES:
            raise ValueError(f"{self.grade_id}: libraries must be one of {LIBRARY_CHOICES}")
        if not self.cases:
            raise ValueError(f"{self.grade_id}: a question needs at least one case")

    @property
    def blocked_modules(self) -> tuple[str, ...]:
        return ARRAY_LIBRARIES if self.libraries == "numpy" else ()

    @property
    def profile(self) -> tuple:
        """Questions with the same profile share one case process."""
        return (self.blocked_modules, tuple(sorted(self.forbidden_functions)))


class CasesError(ValueError):
    """``grading/<assignment>.py`` is missing, broken or does not match the notebook."""


def cases_path(course_dir: Path, assignment: str) -> Path:
    return Path(course_dir) / "grading" / f"{assignment}.py"


def load_questions(course_dir: Path, assignment: str) -> list[Question]:
    """The assignment's questions; an absent file means none (every test cell is then an error)."""
    path = cases_path(course_dir, assignment)
    if not path.exists():
        return []
    spec = importlib.util.spec_from_file_location(f"grading_cases_{assignment}", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as err:  # an instructor's file: report whatever broke it, once
        raise CasesError(f"{path}: cannot be imported: {type(err).__name__}: {err}") from err
    questions = getattr(module, "QUESTIONS", None)
    if not isinstance(questions, list) or not all(isinstance(q, Question) for q in questions):
        raise CasesError(f"{path}: define QUESTIONS, a list of autograder.cases.Question")
    ids = [q.grade_id for q in questions]
    duplicated = sorted({i for i in ids if ids.count(i) > 1})
    if duplicated:
        raise CasesError(f"{path}: grade ids with two questions: {duplicated}")
    return questions


# --------------------------------------------------------------------------- judging replies

def _why_no_value(reply: Reply) -> str:
    return {
        "raised": f"raised {reply.error}",
        "forbidden": f"used a library this exercise does not allow ({reply.error})",
        "timeout": f"did not finish: it {reply.error}",
        "missing": reply.error or "the function is not defined",
        "unsendable": f"returned something that is not plain data ({reply.error})",
        "crashed": f"crashed the process ({reply.error})",
    }.get(reply.status, f"gave no value ({reply.status})")


def _numbers(value) -> tuple[np.ndarray | None, str | None]:
    if isinstance(value, bool) or value is None or isinstance(value, str | dict):
        return None, f"returned {type(value).__name__}, not numbers"
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return None, f"returned {type(value).__name__} that is not an array of numbers"
    return array, None


def close(expected, *, rtol: float = 1e-6, atol: float = 1e-8) -> Expectation:
    """The returned array has ``expected``'s shape and values (NumPy's allclose)."""
    expected = np.asarray(expected, dtype=np.float64)

    def judge(reply: Reply) -> str | None:
        if reply.status != "ok":
            return _why_no_value(reply)
        array, problem = _numbers(reply.value)
        if problem:
            return problem
        if array.shape != expected.shape:
            return f"returned shape {array.shape}, expected {expected.shape}"
        if not np.all(np.isfinite(array)):
            return "returned NaN or infinite values"
        if not np.allclose(array, expected, rtol=rtol, atol=atol):
            error = np.abs(array - expected)
            where = np.unravel_index(int(np.argmax(error)), error.shape) if error.ndim else ()
            return (f"wrong values: off by up to {float(error.max()):.4g}"
                    + (f" (at index {tuple(int(i) for i in where)})" if where else ""))
        return None

    return judge


def integer(expected: int) -> Expectation:
    """The function returns exactly the integer ``expected`` (an int, not a float or bool)."""

    def judge(reply: Reply) -> str | None:
        if reply.status != "ok":
            return _why_no_value(reply)
        value = reply.value
        if isinstance(value, bool) or not isinstance(value, int):
            return f"returned {value!r} of type {type(value).__name__}, expected an int"
        return None if value == expected else f"returned {value}, expected {expected}"

    return judge


def raises(*exceptions: str) -> Expectation:
    """The call raises one of the named exception types (e.g. ``"ValueError"``)."""

    def judge(reply: Reply) -> str | None:
        if reply.status == "raised" and reply.exception in exceptions:
            return None
        if reply.status == "ok":
            return f"returned {_short(reply.value)} instead of raising {' or '.join(exceptions)}"
        return _why_no_value(reply)

    return judge


def each(*expectations: Expectation) -> Expectation:
    """A tuple (or list) return value whose elements meet the expectations, in order."""

    def judge(reply: Reply) -> str | None:
        if reply.status != "ok":
            return _why_no_value(reply)
        value = reply.value
        if not isinstance(value, tuple | list) or len(value) != len(expectations):
            return f"returned {_short(value)}, expected a tuple of {len(expectations)} values"
        for position, (item, expectation) in enumerate(zip(value, expectations, strict=True)):
            problem = expectation(Reply("ok", item))
            if problem:
                return f"item {position} of the returned tuple: {problem}"
        return None

    return judge


def satisfies(check: Callable[[object], str | None]) -> Expectation:
    """A custom judgement of the returned value: ``check(value)`` says what is wrong or None."""

    def judge(reply: Reply) -> str | None:
        return _why_no_value(reply) if reply.status != "ok" else check(reply.value)

    return judge


def _short(value) -> str:
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape}"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# --------------------------------------------------------------------------- verdicts

@dataclass(frozen=True)
class CaseResult:
    name: str
    problem: str | None  # None: passed

    @property
    def passed(self) -> bool:
        return self.problem is None


@dataclass(frozen=True)
class QuestionVerdict:
    grade_id: str
    function: str
    max_points: float
    points: float
    cases: tuple[CaseResult, ...]
    forbidden: bool  # the answer used a library the exercise takes away

    @property
    def passed(self) -> int:
        return sum(case.passed for case in self.cases)

    def note(self) -> str:
        """The feedback line for the student: points, and what failed (case names only)."""
        head = (f"[grader] {self.function}: {self.passed} of {len(self.cases)} graded cases "
                f"passed -> {self.points:g}/{self.max_points:g} points.")
        if self.forbidden:
            head += (" The answer uses a library this exercise does not allow (write it with "
                     "NumPy), so the question earns no points.")
        failed = [f"  - {case.name}: {case.problem}" for case in self.cases if not case.passed]
        return "\n".join([head, *failed[:8]] + (["  - ..."] if len(failed) > 8 else []))

    def as_dict(self) -> dict:
        return {"grade_id": self.grade_id, "function": self.function,
                "max_points": self.max_points, "points": self.points,
                "forbidden": self.forbidden, "passed": self.passed,
                "cases": [{"name": c.name, "problem": c.problem} for c in self.cases]}


def judge(question: Question, replies: Sequence[Reply], max_points: float) -> QuestionVerdict:
    """Points of one question from the sandbox's replies, one per case, in order."""
    results = []
    for case, reply in zip(question.cases, replies, strict=True):
        try:
            problem = case.expect(reply)
        except Exception as err:  # noqa: BLE001 - a reply the expectation cannot digest fails
            problem = f"returned a value that could not be checked ({type(err).__name__})"
        results.append(CaseResult(case.name, problem))
    forbidden = any(reply.status == "forbidden" for reply in replies)
    passed = sum(r.passed for r in results)
    if forbidden:
        share = 0.0
    elif question.partial_credit:
        share = passed / len(results)
    else:
        share = float(passed == len(results))
    points = round(max_points * share, 4)
    return QuestionVerdict(question.grade_id, question.function, float(max_points), points,
                           tuple(results), forbidden)
