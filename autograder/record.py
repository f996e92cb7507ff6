"""Step 3 of grading a submission, in the trusted process: points into nbgrader's gradebook.

The metric questions are scored from the predictions the sandbox wrote, the
graded cases were judged already; then nbgrader's own Autograde converter
runs with ``Execute`` replaced by the replay of the sandbox's outputs and the
trusted points set right after its SaveAutoGrades
(:func:`autograder.replay.autograde_preprocessors`), so its gradebook,
formgrader, feedback and late penalties work as usual. Submissions are
recorded one at a time: SQLite has a single writer.
"""

from __future__ import annotations

import time

import nbformat
from traitlets.config import Config

from autograder import gradebook
from autograder.cases import QuestionVerdict
from autograder.execute import NotebookRun
from autograder.prepare import PreparedSubmission
from autograder.records import JOB_DIR, SubmissionResult
from autograder.replay import autograde_preprocessors
from autograder.scoring import MetricScore, score
from autograder.setup import GradingSetup

MAX_PREDICTION_BYTES = 2 * 2**30
STATUS_REASONS = {  # runner's cell status -> reason shown to the instructor
    "timeout": "timeout (kernel replaced)",
    "kernel_died": "kernel died (replaced)",
    "not_run": "not run (too many kernel restarts)",
}
OUTPUT_REASONS = {  # exception name in a cell's output -> reason
    "MissingWeights": "missing weights",
    "MemoryError": "memory limit",
}


class RecordingFailed(RuntimeError):
    """nbgrader could not record the grades (the grader's problem, not the student's)."""


def metric_scores(setup: GradingSetup, prepared: PreparedSubmission) -> list[MetricScore]:
    return [score(h.question, prepared.work_dir / JOB_DIR / f"{h.question.grade_id}-predictions.npy",
                  h.labels, h.tiers, h.zero, h.description, h.max_points, MAX_PREDICTION_BYTES)
            for h in setup.hidden]


def record(setup: GradingSetup, prepared: PreparedSubmission, notebook: NotebookRun,
           verdicts: list[QuestionVerdict], case_problems: list[str],
           started: float) -> SubmissionResult:
    opts = setup.options
    metrics = metric_scores(setup, prepared)
    trusted_copy = setup.scratch / f"{prepared.student}.executed.ipynb"
    nbformat.write(notebook.executed, trusted_copy)
    config = Config()
    config.Autograde.autograde_preprocessors = autograde_preprocessors()
    config.OverwriteCells.add_missing_cells = True
    config.Autograde.sanitize_preprocessors = _sanitize_steps()
    config.ReplaySandboxOutputs.executed_notebook = str(trusted_copy)
    config.ReplaySandboxOutputs.notes = {
        **{m.grade_id: m.comment for m in metrics}, **{v.grade_id: v.note() for v in verdicts}}
    config.ApplyTrustedScores.scores = {
        **{m.grade_id: m.points for m in metrics}, **{v.grade_id: v.points for v in verdicts}}
    if setup.policy.late_penalty_per_day or setup.policy.late_days_max is not None:
        config.AssignLatePenalties.plugin_class = "autograder.late.PenaltyPerDay"
        config.PenaltyPerDay.fraction_per_day = setup.policy.late_penalty_per_day
        config.PenaltyPerDay.days_max = (-1 if setup.policy.late_days_max is None
                                         else setup.policy.late_days_max)
    api = gradebook.make_api(opts.course_dir, opts.db_path, config)
    outcome = api.autograde(opts.assignment, prepared.student, force=True, create=True)
    if not outcome["success"]:
        lines = [line for line in outcome.get("error", "").splitlines() if line.strip()]
        raise RecordingFailed("nbgrader could not record the grades: "
                              + (lines[-1][:300] if lines else "no message"))
    totals = gradebook.student_scores(opts.db_path, opts.assignment, prepared.student)
    submission_time = totals["timestamp"]
    return SubmissionResult(
        student=prepared.student, assignment=opts.assignment, status="graded",
        digest=prepared.digest, score=round(totals["score"] - totals["late_penalty"], 4),
        max_score=totals["max_score"], late_penalty=totals["late_penalty"],
        questions=[v.as_dict() for v in verdicts], metrics=[m.as_dict() for m in metrics],
        problems=problems(notebook.executed, notebook.events) + case_problems,
        structure_issues=prepared.structure_issues, cells=notebook.events,
        submitted_at=submission_time.isoformat() if submission_time else None,
        seconds_late=totals["seconds_late"],
        backend=setup.backend.name, isolation=setup.backend.isolation,
        limits=notebook.run.limits_applied, seconds=round(time.monotonic() - started, 2),
        kernel_memory=notebook.kernel_memory)


def _sanitize_steps() -> list:
    from autograder.structure import sanitize_preprocessors

    return sanitize_preprocessors()


def problems(executed_nb, events: list[dict]) -> list[str]:
    """Why some cells went wrong: timeouts, kernel deaths, memory, missing weights."""
    found = []
    for event in events:
        if event.get("status") in STATUS_REASONS:
            found.append(f"{event.get('label')}: {STATUS_REASONS[event['status']]}")
        if str(event.get("label", "")).startswith("predict:") and event.get("error"):
            found.append(f"{event['label']}: {event['error']}")
    for cell in executed_nb.cells:
        for output in cell.get("outputs", []):
            reason = OUTPUT_REASONS.get(output.get("ename", ""))
            if output.get("output_type") == "error" and reason:
                label = cell.metadata.get("nbgrader", {}).get("grade_id", "a cell")
                found.append(f"{label}: {reason}")
    return found
