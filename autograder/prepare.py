"""Step 1 of grading a submission, in the trusted process: check it and build its work dir.

The submitted notebook is read and compared with the assignment's cells
(:mod:`autograder.structure`), then sanitized by nbgrader's own preprocessors
(locked and test cells restored from the gradebook, deleted grade cells
re-added, duplicates neutralised). The sanitized notebook, the submitted
files (weights) and the hidden IMAGES of each metric question go into a fresh
work dir with the :class:`~autograder.records.NotebookJob` for the runner.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from traitlets.config import Config

from autograder import gradebook
from autograder.records import JOB_DIR, NotebookJob, PredictionRequest
from autograder.setup import GradingSetup
from autograder.structure import (
    InvalidNotebook,
    read_submission,
    sanitize_preprocessors,
    structure_issues,
)


class SubmissionRejected(ValueError):
    """The submission's own files cannot be graded (the student's fault, with the reason)."""


@dataclass
class PreparedSubmission:
    student: str
    digest: str
    work_dir: Path
    notebook: nbformat.NotebookNode  # sanitized: what the runner and the cases see
    structure_issues: list[str] = field(default_factory=list)


def sanitize(setup: GradingSetup, nb: nbformat.NotebookNode, student: str):
    """nbgrader's Autograde sanitize pass, run here on the notebook without writing anything."""
    config = gradebook.course_config(setup.options.course_dir, setup.options.db_path)
    config.merge(Config({"OverwriteCells": {"add_missing_cells": True}}))
    resources = {"nbgrader": {"db_url": gradebook.db_url(setup.options.db_path),
                              "assignment": setup.options.assignment,
                              "notebook": setup.notebook, "student": student}}
    for step in sanitize_preprocessors():
        nb, resources = step(config=config).preprocess(nb, resources)
    return nb


def prepare(setup: GradingSetup, student: str, digest: str) -> PreparedSubmission:
    opts = setup.options
    submitted = opts.course_dir / "submitted" / student / opts.assignment
    notebook_path = submitted / f"{setup.notebook}.ipynb"
    if not notebook_path.exists():
        raise SubmissionRejected(f"invalid submission: no {notebook_path.name}")
    try:
        nb = read_submission(notebook_path)
    except InvalidNotebook as err:
        raise SubmissionRejected(f"invalid notebook: {err}") from err
    issues = structure_issues(nb, setup.source_cells, setup.release_nb)
    sanitized = sanitize(setup, nb, student)
    work = setup.scratch / student
    work.mkdir(mode=0o777)
    nbformat.write(sanitized, work / f"{setup.notebook}.ipynb")
    # The course's CourseDirectory.ignore keeps *.weights.h5 out of nbgrader's copies;
    # the sandbox needs the submitted weights, so they are copied here.
    for path in submitted.iterdir():
        if path.is_file() and not path.is_symlink() and path.suffix != ".ipynb":
            shutil.copy(path, work / path.name)
    setup.keras_home(work)
    job_dir = work / JOB_DIR
    job_dir.mkdir()
    requests = []
    for hidden in setup.hidden:
        grade_id = hidden.question.grade_id
        images = f"{JOB_DIR}/{grade_id}-images.npy"
        shutil.copy(hidden.images_path, work / images)
        requests.append(PredictionRequest(
            grade_id=grade_id, model=hidden.question.model, images=images,
            predictions=f"{JOB_DIR}/{grade_id}-predictions.npy",
            reduce=_reduction(hidden.question.metric)))
    timeouts = opts.timeouts
    NotebookJob(
        notebook=f"{setup.notebook}.ipynb",
        timeouts={"test": timeouts.test, "training": timeouts.training,
                  "default": timeouts.default, "predict": timeouts.predict},
        output_bytes_per_cell=opts.limits.output_bytes_per_cell,
        predictions=tuple(requests),
    ).write(job_dir / "job.json")
    for path in [work, *work.rglob("*")]:  # the runner writes here as an unprivileged uid
        if not path.is_symlink():  # a link's target is the shared cache: leave it as it is
            path.chmod(0o777 if path.is_dir() else 0o666)
    return PreparedSubmission(student, digest, work, sanitized, issues)


def _reduction(metric: str) -> str:
    from autograder.metrics import METRICS

    return METRICS[metric].reduce
