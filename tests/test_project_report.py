"""The project report template: manually graded only, and gradeable through nbgrader.

The slow test works in a scratch copy of the course directory, so the repository's
gradebook is never written: it generates the release, hands in a filled-in copy,
runs ``nbgrader autograde`` and reads the gradebook through nbgrader's API.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from course import runtime

ROOT = Path(__file__).resolve().parents[1]
COURSE_DIR = ROOT / "assignments"
NAME = "project_report"
SECTIONS = ["motivation", "data", "method", "experiments", "results", "conclusions", "references"]


def source_notebook() -> nbformat.NotebookNode:
    return nbformat.read(COURSE_DIR / "source" / NAME / f"{NAME}.ipynb", as_version=4)


def graded_cells(nb) -> dict[str, dict]:
    return {
        c.metadata["nbgrader"]["grade_id"]: c.metadata["nbgrader"]
        for c in nb.cells
        if c.metadata.get("nbgrader", {}).get("grade")
    }


def rubric_problems(nb) -> list[str]:
    """Disagreements between headings, rubric tables and the points nbgrader will use."""
    cells = {c.metadata["nbgrader"]["grade_id"]: c for c in nb.cells if "nbgrader" in c.metadata}
    graded = graded_cells(nb)
    found = []
    for instructions_id, answer_id in [(f"{s}_instructions", f"{s}_answer") for s in SECTIONS] + [
        ("experiment_plots_instructions", "experiment_plots")
    ]:
        text = cells[instructions_id].source
        heading = int(re.search(r"\((\d+) points\)", text).group(1))
        criteria = sum(int(points) for points in re.findall(r"^\|[^|\n]+\| (\d+) \|$", text, re.M))
        points = graded[answer_id]["points"]
        if not heading == criteria == points:
            found.append(f"{answer_id}: heading {heading}, rubric rows {criteria}, cell {points}")
    total = sum(meta["points"] for meta in graded.values())
    if total != 100:
        found.append(f"points add up to {total}, not 100")
    return found


def test_every_graded_cell_is_graded_by_hand():
    graded = graded_cells(source_notebook())
    assert set(graded) == {f"{s}_answer" for s in SECTIONS} | {"experiment_plots"}
    for grade_id, meta in graded.items():
        # solution + grade = "manually graded answer"; no test cell, nothing autograded.
        assert meta["solution"] and not meta["locked"], grade_id
        assert meta["points"] > 0, grade_id


def test_rubric_points_agree_with_the_cells():
    assert rubric_problems(source_notebook()) == []


def test_rubric_check_notices_a_mismatch():
    nb = source_notebook()
    answer = next(
        c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "data_answer"
    )
    answer.metadata["nbgrader"]["points"] = 12
    problems = rubric_problems(nb)
    assert any(p.startswith("data_answer") for p in problems)
    assert any("not 100" in p for p in problems)


def test_layout_follows_the_contract():
    nb = source_notebook()
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    assert (
        "https://colab.research.google.com/github/dl-vision-course/dl-vision-course/blob/main/"
        f"assignments/release/{NAME}/{NAME}.ipynb" in nb.cells[0].source
    )
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    assert code_cells[0].source == runtime.BOOTSTRAP_CELL
    assert all(not c.outputs and c.execution_count is None for c in code_cells)
    assert code_cells[-1].source.startswith(f'grading.bundle_submission("{NAME}"')


def _fill_in(release: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A student's hand-in: every answer cell written, the figure cell replaced by working code."""
    for cell in release.cells:
        meta = cell.metadata.get("nbgrader", {})
        if not meta.get("solution"):
            continue
        if cell.cell_type == "markdown":
            cell.source = f"My answer for {meta['grade_id']}: a paragraph with a table.\n\n| a | b |\n|---|---|\n| 1 | 2 |"
        else:
            cell.source = (
                "import matplotlib.pyplot as plt\n\n"
                "figure = plots.curves({'loss': [1.0, 0.5, 0.3]}, title='baseline')\nplt.close(figure)"
            )
    return release


@pytest.mark.slow
def test_filled_in_report_goes_through_nbgrader_manual_grading(tmp_path):
    from nbgrader.api import Gradebook

    course = tmp_path / "course"
    (course / "source").mkdir(parents=True)
    shutil.copy(COURSE_DIR / "nbgrader_config.py", course)
    shutil.copytree(COURSE_DIR / "source" / NAME, course / "source" / NAME)
    venv_bin = Path(sys.executable).parent
    env = {
        **os.environ,
        # nbgrader runs `alembic` from PATH; the kernel needs the course package.
        "PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        "COURSE_DATA": "synthetic",
        "COURSE_QUICK": "1",
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }

    def nbgrader(*args):
        result = subprocess.run(
            [str(venv_bin / "nbgrader"), *args], cwd=course, env=env, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return result

    nbgrader("generate_assignment", NAME, "--force")
    release = nbformat.read(course / "release" / NAME / f"{NAME}.ipynb", as_version=4)
    submitted = course / "submitted" / "alice" / NAME
    submitted.mkdir(parents=True)
    nbformat.write(_fill_in(release), submitted / f"{NAME}.ipynb")
    nbgrader("autograde", NAME, "--student", "alice")

    expected = {
        grade_id: meta["points"] for grade_id, meta in graded_cells(source_notebook()).items()
    }
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        notebook = gradebook.find_submission_notebook(NAME, NAME, "alice")
        grades = {grade.name: grade for grade in notebook.grades}
        assert {name: grade.max_score for name, grade in grades.items()} == expected
        assert all(grade.needs_manual_grade for grade in grades.values())
        assert all(grade.auto_score is None for grade in grades.values())
        assert notebook.needs_manual_grade
        assert notebook.max_score == 100
        assert gradebook.find_notebook(NAME, NAME).max_score == 100
        # The filled-in answers reached the gradebook's copy, ready for the grader.
        autograded = nbformat.read(
            course / "autograded" / "alice" / NAME / f"{NAME}.ipynb", as_version=4
        )
        answers = [c for c in autograded.cells if c.metadata.get("nbgrader", {}).get("solution")]
        assert all("YOUR ANSWER HERE" not in c.source for c in answers)
        errors = [
            o
            for c in autograded.cells
            if c.cell_type == "code"
            for o in c.outputs
            if o.output_type == "error"
        ]
        assert errors == []
