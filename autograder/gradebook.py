"""Glue to nbgrader: course config, the API object, and gradebook reads/writes.

Only the trusted parent process calls these; SQLite is written from one
process at a time (workers never touch the gradebook).
"""

from __future__ import annotations

import functools
import os
import re
import sys
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path

import nbgrader.api
import sqlalchemy
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.apps import NbGraderAPI
from nbgrader.coursedir import CourseDirectory
from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

# nbgrader opens a Gradebook, and with it a new SQLAlchemy engine, about 11 times to record
# one submission. SQLAlchemy caches compiled statements per engine, so a new engine each
# time spent over a quarter of every recording compiling the same SQL again. One engine per
# database URL in this process keeps that cache; Gradebook.close() still disposes of the
# engine's connections.
nbgrader.api.create_engine = functools.cache(sqlalchemy.create_engine)

HIDDEN_BEGIN = "BEGIN HIDDEN TESTS"
HIDDEN_END = "END HIDDEN TESTS"


def db_url(path: Path) -> str:
    return f"sqlite:///{Path(path).resolve()}"


def course_config(course_dir: Path, db_path: Path | None = None) -> Config:
    """The course's ``nbgrader_config.py`` (if any) plus the course root and gradebook."""
    course_dir = Path(course_dir).resolve()
    config = Config()
    config_file = course_dir / "nbgrader_config.py"
    if config_file.exists():
        config.merge(PyFileConfigLoader(config_file.name, path=str(course_dir)).load_config())
    config.CourseDirectory.root = str(course_dir)
    config.CourseDirectory.db_url = db_url(db_path or course_dir / "gradebook.db")
    return config


def make_api(course_dir: Path, db_path: Path | None = None, extra: Config | None = None):
    # nbgrader creates a new gradebook by running the `alembic` command, which lives
    # next to this Python; a venv that is not activated lacks it on PATH.
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    config = course_config(course_dir, db_path)
    if extra is not None:
        config.merge(extra)
    coursedir = CourseDirectory(config=config)
    return NbGraderAPI(coursedir=coursedir, config=config)


def notebook_ids(db_path: Path, assignment: str) -> list[str]:
    with Gradebook(db_url(db_path)) as gb:
        try:
            return sorted(nb.name for nb in gb.find_assignment(assignment).notebooks)
        except MissingEntry as err:
            raise RuntimeError(
                f"assignment {assignment!r} is not in the gradebook {db_path}: run "
                f"`course-grader release {assignment}` first"
            ) from err


@dataclass(frozen=True)
class SourceCellInfo:
    name: str
    cell_type: str
    locked: bool
    checksum: str | None
    source: str
    is_grade: bool
    max_score: float
    is_solution: bool


def source_cells(db_path: Path, assignment: str, notebook: str) -> list[SourceCellInfo]:
    """The instructor's cells recorded by generate_assignment, in notebook order."""
    with Gradebook(db_url(db_path)) as gb:
        nb = gb.find_notebook(notebook, assignment)
        grades = {cell.name: cell.max_score for cell in nb.grade_cells}
        solutions = {cell.name for cell in nb.solution_cells}
        return [
            SourceCellInfo(c.name, c.cell_type, bool(c.locked), c.checksum, c.source,
                           c.name in grades, float(grades.get(c.name, 0.0)), c.name in solutions)
            for c in nb.source_cells
        ]


def hidden_test_lines(db_path: Path, assignment: str) -> list[str]:
    """Every non-blank line between BEGIN/END HIDDEN TESTS in the source cells."""
    lines = []
    with Gradebook(db_url(db_path)) as gb:
        for nb in gb.find_assignment(assignment).notebooks:
            for cell in nb.source_cells:
                inside = False
                for line in cell.source.splitlines():
                    if HIDDEN_BEGIN in line:
                        inside = True
                    elif HIDDEN_END in line:
                        inside = False
                    elif inside and line.strip():
                        lines.append(line.strip())
    return lines


def set_due_date(db_path: Path, assignment: str, due) -> None:
    """The assignment's due date in the gradebook, from which nbgrader computes lateness."""
    with Gradebook(db_url(db_path)) as gb:
        gb.update_or_create_assignment(assignment, duedate=due.astimezone(UTC).replace(tzinfo=None))


def submission_scores(db_path: Path, assignment: str) -> dict[str, dict]:
    """student -> {score, max_score, late_penalty, needs_manual_grade, timestamp, seconds_late,
    grades, manual}: ``grades`` maps grade_id to the score nbgrader counts, ``manual`` maps grade_id
    to (auto_score, manual_score) for every grade a person set in formgrader."""
    with Gradebook(db_url(db_path)) as gb:
        try:
            assignment_row = gb.find_assignment(assignment)
        except MissingEntry:
            return {}
        return {s.student_id: _scores(s) for s in assignment_row.submissions}


def student_scores(db_path: Path, assignment: str, student: str) -> dict:
    """One student's entry of :func:`submission_scores`, without reading the whole class
    (recording a class one submission at a time would otherwise read it N times)."""
    with Gradebook(db_url(db_path)) as gb:
        return _scores(gb.find_submission(assignment, student))


def _scores(submission) -> dict:
    grades, manual = {}, {}
    for nb in submission.notebooks:
        for grade in nb.grades:
            grades[grade.name] = grade.score
            if grade.manual_score is not None:
                manual[grade.name] = (grade.auto_score, grade.manual_score)
    return {
        "score": float(submission.score),
        "max_score": float(submission.max_score),
        "late_penalty": float(submission.late_submission_penalty or 0.0),
        "needs_manual_grade": bool(submission.needs_manual_grade),
        "timestamp": submission.timestamp,
        "seconds_late": float(submission.total_seconds_late or 0.0),
        "grades": grades,
        "manual": manual,
    }


_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,99}$")


def check_student_id(student: str) -> str:
    """Student ids become directory names: refuse anything that could escape a folder."""
    if not _SAFE_ID.match(student) or ".." in student:
        raise ValueError(f"student id {student!r}: use letters, digits, '_', '.', '@', '-'")
    return student
