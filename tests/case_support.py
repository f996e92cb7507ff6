"""Run an assignment's graded cases against a Python function in this process.

The grader runs cases in a sandboxed process (tests/test_assignments_grading.py
shows that path); this in-process twin is for proving the cases themselves:
the instructor's solution passes every one, and each typical wrong answer
fails the cases it should, with the message it should.
"""

from __future__ import annotations

import copy

from autograder import wire
from autograder.cases import Question, QuestionVerdict, Reply, judge, load_questions
from autograder.probes import PROBES
from course.notebooks import ROOT

COURSE = ROOT / "assignments"


def questions(assignment: str) -> dict[str, Question]:
    return {q.grade_id: q for q in load_questions(COURSE, assignment)}


def evaluate(question: Question, function, max_points: float = 10.0) -> QuestionVerdict:
    """The verdict the grader would give ``function`` (no sandbox, no library blocking)."""
    replies = []
    for case in question.cases:
        try:
            value = function(*copy.deepcopy(case.args), **copy.deepcopy(case.kwargs))
            if case.probe:
                value = PROBES[case.probe](value, **case.probe_args)
            replies.append(Reply("ok", wire.decode(wire.encode(value))))
        except wire.WireError as err:
            replies.append(Reply("unsendable", error=str(err)))
        except Exception as err:  # noqa: BLE001 - a case records whatever was raised
            replies.append(Reply("raised", error=f"{type(err).__name__}: {err}",
                                 exception=type(err).__name__))
    return judge(question, replies, max_points)
