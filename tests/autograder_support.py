"""Helpers to grade an nbgrader assignment end to end in a test.

``grade_assignment(course_dir, assignment, submissions)`` is the entry point
for tests of the real assignments too (tests/test_assignments_grading.py):
it releases the assignment, packs each submission as the upload archive a
student makes, collects, grades in the sandbox and returns the results.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import nbformat

from autograder import collect, pipeline, release
from autograder.config import GradeOptions, Limits, Timeouts
from autograder.records import SubmissionResult

FIXTURES = Path(__file__).parent / "fixtures" / "autograder"
SPLITS = str(FIXTURES / "splits_toy.py")
QUICK_TIMEOUTS = Timeouts(test=20, training=60, default=20, predict=30)
SMALL_LIMITS = Limits(memory_bytes=2 * 2**30, cpu_seconds=120, max_processes=64,
                      output_bytes_per_cell=200_000)


def fixture_course(tmp_path: Path) -> Path:
    course = tmp_path / "course"
    shutil.copytree(FIXTURES / "course", course)
    return course


def released_notebook(course_dir: Path, assignment: str) -> nbformat.NotebookNode:
    notebooks = sorted((course_dir / "release" / assignment).glob("*.ipynb"))
    return nbformat.read(notebooks[0], as_version=4)


def answer(nb: nbformat.NotebookNode, grade_id: str, source: str) -> nbformat.NotebookNode:
    """Replace the source of the cell ``grade_id`` (what a student types)."""
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            cell.source = source
            return nb
    raise KeyError(grade_id)


def pack(nb_or_bytes, files: dict[str, bytes] | None = None, name: str = "nb.ipynb") -> bytes:
    """An upload archive: a notebook (NotebookNode or raw bytes) plus extra files."""
    import io

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        data = nb_or_bytes if isinstance(nb_or_bytes, bytes) else nbformat.writes(nb_or_bytes)
        zf.writestr(name, data)
        for fname, content in (files or {}).items():
            zf.writestr(fname, content)
    return buffer.getvalue()


def grade_assignment(course_dir: Path, assignment: str, submissions: dict[str, bytes],
                     **options) -> dict[str, SubmissionResult]:
    """Release, collect ``{student: archive bytes}``, grade; returns {student: result}."""
    course_dir = Path(course_dir)
    if not (course_dir / "release" / assignment).exists():
        release.release(course_dir, assignment)
    inbox = course_dir.parent / f"inbox-{assignment}"
    inbox.mkdir(exist_ok=True)
    for student, archive in submissions.items():
        (inbox / f"{student}_{assignment}_submission.zip").write_bytes(archive)
    notebook = released_notebook_name(course_dir, assignment)
    report = collect.collect(course_dir, assignment, inbox, notebook)
    errors = [r for r in report if r.error]
    assert not errors, errors
    settings = dict(backend="bwrap", timeouts=QUICK_TIMEOUTS, limits=SMALL_LIMITS,
                    splits=SPLITS, data_source="synthetic", progress=False)
    settings.update(options)
    results = pipeline.grade(GradeOptions(course_dir=course_dir, assignment=assignment, **settings))
    return {r.student: r for r in results}


def released_notebook_name(course_dir: Path, assignment: str) -> str:
    return sorted((course_dir / "release" / assignment).glob("*.ipynb"))[0].stem


def autograded_notebook(course_dir: Path, assignment: str, student: str) -> dict:
    folder = course_dir / "autograded" / student / assignment
    return json.loads(next(folder.glob("*.ipynb")).read_text())


def solution_source(course_dir: Path, assignment: str, grade_id: str) -> str:
    """The instructor's solution of a cell, delimiters removed (what a perfect student types)."""
    nb = nbformat.read(course_dir / "source" / assignment / f"{assignment}.ipynb", as_version=4)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            return "\n".join(line for line in cell.source.splitlines()
                             if "BEGIN SOLUTION" not in line and "END SOLUTION" not in line)
    raise KeyError(grade_id)


def trained_weights(model_source: str, path: Path) -> Path:
    """Build the model from a notebook cell's source and save its (initial) weights."""
    namespace: dict = {}
    exec("import keras\nimport numpy as np\n" + model_source, namespace)  # noqa: S102
    namespace["final_model"].save_weights(path)
    return path
