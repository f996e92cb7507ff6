"""Run an assignment's graded cases: in this process, or in the real case runner.

The grader runs cases in a sandboxed process (tests/test_assignments_grading.py
shows that path); this in-process twin is for proving the cases themselves:
the instructor's solution passes every one, and each typical wrong answer
fails the cases it should, with the message it should.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import nbformat

from autograder import wire
from autograder.cases import Question, QuestionVerdict, Reply, judge, load_questions
from autograder.probes import PROBES
from autograder.setup import CASE_SETUP_TAG
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


def problems(verdict: QuestionVerdict) -> str:
    return "\n".join(f"{c.name}: {c.problem}" for c in verdict.cases if not c.passed)


def case_cells(nb_path: Path) -> list[dict]:
    """What the grader's case process runs: locked case-setup cells and answer code cells."""
    nb = nbformat.read(nb_path, as_version=4)
    cells = []
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        setup = meta.get("locked") and CASE_SETUP_TAG in cell.metadata.get("tags", [])
        if cell.cell_type == "code" and (meta.get("solution") or setup):
            cells.append({"label": meta.get("grade_id", "cell"), "source": cell.source})
    return cells


def solution_namespace(nb_path: Path) -> dict:
    """The case-setup and answer cells of a source notebook, run in one namespace."""
    namespace: dict = {"__name__": "__main__"}
    for cell in case_cells(nb_path):
        exec(compile(cell["source"], cell["label"], "exec"), namespace)  # noqa: S102
    return namespace


# --------------------------------------------------------------------------- the real case runner

def run_in_case_runner(cells: list[dict], question: Question, work_dir: Path,
                       timeout: float = 300) -> tuple[QuestionVerdict, dict]:
    """Judge ``question`` as the grader does: a fresh ``autograder.case_runner`` process runs
    ``cells`` with the question's libraries blocked, then answers one call per case.
    Returns the verdict and the runner's report on the cells. (No sandbox here: the blocking
    comes from the runner itself.)"""
    requests = [{"cells": cells, "blocked_modules": list(question.blocked_modules),
                 "blocked_functions": list(question.forbidden_functions), "cell_timeout": 120}]
    for number, case in enumerate(question.cases):
        requests.append({"id": number, "function": question.function,
                         "args": wire.encode(tuple(case.args)),
                         "kwargs": wire.encode(dict(case.kwargs)), "probe": case.probe,
                         "probe_args": wire.encode(dict(case.probe_args)),
                         "timeout": case.timeout})
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2",
           "MPLBACKEND": "Agg", "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run([sys.executable, "-m", "autograder.case_runner"], cwd=work_dir,
                          input=b"".join(wire.dumps(r) for r in requests), capture_output=True,
                          env=env, timeout=timeout)
    lines = [wire.loads(line) for line in done.stdout.splitlines() if line.strip()]
    report, answers = lines[0], lines[1:]
    assert len(answers) == len(question.cases), (report, done.stderr.decode()[-2000:])
    replies = []
    for message in answers:
        if message["status"] == "ok":
            replies.append(Reply("ok", wire.decode(message["value"])))
        else:
            replies.append(Reply(message["status"], error=message.get("error"),
                                 exception=message.get("exception")))
    return judge(question, replies, 10.0), report


def replace_answer(cells: list[dict], label: str, source: str) -> list[dict]:
    return [{**c, "source": source} if c["label"] == label else c for c in cells]
