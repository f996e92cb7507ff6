"""The project report: a specification, a rubric graded by hand, and a bundle that re-runs.

The report draws its figures from the logs of the student's own training code. The slow
tests fill in a released report as a student would (code, logs, answers), run it, unpack the
archive its last cell writes with the grader's own unpacking into a fresh folder and run it
again there: the figures must be redrawn from the archive alone. Another slow test hands the
filled-in report to ``nbgrader autograde`` in a scratch course directory and reads the
gradebook: every cell waits for a grader, none is scored automatically.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder.collect import extract_submission
from autograder.config import parse_submission_policy
from course import notebooks

ROOT = Path(__file__).resolve().parents[1]
COURSE_DIR = ROOT / "assignments"
NAME = "project_report"
SECTIONS = ["motivation", "data", "method", "experiments", "results", "conclusions", "references"]
EXAMPLE_LOGS = ["example_dense_log.csv", "example_cnn_log.csv"]


def source_notebook() -> nbformat.NotebookNode:
    return nbformat.read(COURSE_DIR / "source" / NAME / f"{NAME}.ipynb", as_version=4)


def released_notebook() -> nbformat.NotebookNode:
    return nbformat.read(COURSE_DIR / "release" / NAME / f"{NAME}.ipynb", as_version=4)


def by_id(nb) -> dict[str, nbformat.NotebookNode]:
    return {c.get("id"): c for c in nb.cells}


def graded_cells(nb) -> dict[str, dict]:
    return {
        c.metadata["nbgrader"]["grade_id"]: c.metadata["nbgrader"]
        for c in nb.cells
        if c.metadata.get("nbgrader", {}).get("grade")
    }


# --------------------------------------------------------------------------- rubric

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


# --------------------------------------------------------------------------- the specification

def test_the_specification_covers_scope_data_compute_milestones_pairs_and_hand_in():
    spec = by_id(source_notebook())["project_spec"]
    assert spec.metadata["nbgrader"]["locked"]
    for heading in ("**Scope.**", "**Data.**", "**Compute budget.**", "**Milestones.**",
                    "**Alone or in pairs.**", "**What to hand in.**"):
        assert heading in spec.source, heading
    for fact in ("T4 GPU (16 GB", "at most 12 hours", "`course.runtime.checkpoint_dir`",
                 "at most 2 hours", "10 GPU-hours", "`.py` files", "exactly one notebook",
                 "one folder", "50 MB"):
        assert fact in spec.source, fact


def test_late_policy_cell_states_the_graders_policy():
    policy = parse_submission_policy(COURSE_DIR / "grading" / f"{NAME}.toml")
    assert policy.due is not None
    cell = by_id(source_notebook())["late_policy"]
    assert cell.metadata["nbgrader"]["locked"] and policy.describe() in cell.source


def test_layout_follows_the_contract():
    path = COURSE_DIR / "source" / NAME / f"{NAME}.ipynb"
    assert notebooks.problems(path) == []
    nb = source_notebook()
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    assert code_cells[-1].source.startswith(
        f'grading.bundle_submission("{NAME}", "{NAME}.ipynb", PROJECT_FILES)')
    assert code_cells[-1].metadata["nbgrader"]["locked"]
    assert by_id(nb)["report_helpers"].metadata["nbgrader"]["locked"]


# --------------------------------------------------------------------------- read_log, project_file

@pytest.fixture
def helpers(tmp_path, monkeypatch):
    """The report's locked helper cell, run in ``tmp_path`` as the notebook's folder."""
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(by_id(source_notebook())["report_helpers"].source, namespace)  # noqa: S102
    return namespace


def test_read_log_reads_csvlogger_files_and_json_histories(helpers, tmp_path):
    with open(tmp_path / "run.csv", "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["epoch", "accuracy", "loss", "val_accuracy", "val_loss"])
        writer.writerows([[0, 0.5, 1.2, 0.4, 1.3], [1, 0.7, 0.8, 0.6, 0.9]])
    (tmp_path / "run.json").write_text(json.dumps({"loss": [1.0, 0.5], "val_loss": [1.1, 0.7]}))
    assert helpers["read_log"]("run.csv") == {"accuracy": [0.5, 0.7], "loss": [1.2, 0.8],
                                              "val_accuracy": [0.4, 0.6], "val_loss": [1.3, 0.9]}
    assert helpers["read_log"]("run.json") == {"loss": [1.0, 0.5], "val_loss": [1.1, 0.7]}
    helpers["read_log"]("run.csv")
    assert helpers["PROJECT_FILES"] == ["run.csv", "run.json"]


def test_project_file_refuses_folders_and_missing_files(helpers, tmp_path):
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "run.csv").write_text("epoch,loss\n0,1.0\n")
    with pytest.raises(ValueError, match="one folder"):
        helpers["project_file"]("logs/run.csv")
    with pytest.raises(FileNotFoundError, match="Files panel"):
        helpers["project_file"]("absent.csv")
    assert helpers["PROJECT_FILES"] == []


def test_the_example_logs_have_what_the_example_figures_read(helpers):
    for name in EXAMPLE_LOGS:
        shutil.copy(COURSE_DIR / "source" / NAME / name, name)
        log = helpers["read_log"](name)
        assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(log)
        assert len({len(values) for values in log.values()}) == 1


@pytest.mark.slow
def test_example_train_writes_the_logs_the_template_reads(tmp_path):
    shutil.copy(COURSE_DIR / "source" / NAME / "example_train.py", tmp_path)
    env = {**os.environ, **notebooks.QUICK_ENV, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "example_train.py"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    for name in EXAMPLE_LOGS:
        written = (tmp_path / name).read_text().splitlines()
        committed = (COURSE_DIR / "source" / NAME / name).read_text().splitlines()
        assert written[0] == committed[0] and len(written) == len(committed)


# --------------------------------------------------------------------------- a student's hand-in

FIGURES = '''baseline = read_log("baseline_log.csv")
final = read_log("final_history.json")
figure = plots.training_curves(baseline, metrics=["loss"])
figure.suptitle("baseline")
display(figure)
plots.curves({"baseline": baseline["val_loss"], "final": final["val_loss"]},
             ylabel="validation loss", title="experiments")'''
FIGURES_READ_BEHIND_READ_LOG = FIGURES.replace(
    'final = read_log("final_history.json")',
    'final = json.loads(open("final_history.json").read())')


def filled_in_report(folder: Path, figures: str = FIGURES) -> Path:
    """What a student hands in: the released report with every answer written, their code,
    and the logs it wrote, all in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    nb = released_notebook()
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.get("id") == "project_files":
            cell.source = cell.source.replace('CODE_FILES = ["example_train.py"]',
                                              'CODE_FILES = ["train.py"]')
            assert 'CODE_FILES = ["train.py"]' in cell.source
        elif meta.get("solution") and cell.cell_type == "markdown":
            cell.source = (f"My answer for {meta['grade_id']}: a paragraph with a table.\n\n"
                           "| a | b |\n|---|---|\n| 1 | 2 |")
        elif meta.get("solution"):
            cell.source = figures
    nbformat.write(nb, folder / f"{NAME}.ipynb")
    (folder / "train.py").write_text('"""Trains the baseline and the final model."""\n')
    with open(folder / "baseline_log.csv", "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["epoch", "loss", "val_loss"])
        writer.writerows([[0, 1.0, 1.1], [1, 0.6, 0.8], [2, 0.4, 0.7]])
    (folder / "final_history.json").write_text(json.dumps({"loss": [0.9, 0.4, 0.2],
                                                           "val_loss": [1.0, 0.6, 0.5]}))
    return folder / f"{NAME}.ipynb"


# Jupyter's own backend, so figures become outputs (conftest.py sets Agg for the test process).
KERNEL_ENV = {**notebooks.QUICK_ENV, "MPLBACKEND": "module://matplotlib_inline.backend_inline"}


def _run(path: Path):
    return notebooks.execute(path, timeout=600, cell_timeout=300, env=KERNEL_ENV)


def _figures(executed: nbformat.NotebookNode) -> int:
    cell = by_id(executed)["experiment_plots"]
    return sum("image/png" in output.get("data", {}) for output in cell.outputs)


def _rerun_from_archive(student: Path, grader: Path):
    """Run the report where the student wrote it, then where the grader unpacks its archive."""
    first = _run(student / f"{NAME}.ipynb")
    assert first.ok, first.error
    assert _figures(first.notebook) == 2
    stored = extract_submission(student / f"{NAME}_submission.zip", grader, f"{NAME}.ipynb",
                                submitted_at=None)
    return stored, _run(grader / f"{NAME}.ipynb")


@pytest.mark.slow
def test_report_redraws_its_figures_from_its_archive(tmp_path):
    filled_in_report(tmp_path / "student")
    stored, rerun = _rerun_from_archive(tmp_path / "student", tmp_path / "grader")
    assert stored == sorted([f"{NAME}.ipynb", "train.py", "baseline_log.csv",
                             "final_history.json"])
    assert rerun.ok, rerun.error
    assert _figures(rerun.notebook) == 2


@pytest.mark.slow
def test_a_log_read_behind_read_logs_back_is_missing_from_the_archive(tmp_path):
    """Why the report reads logs with read_log: a file opened directly is not bundled, and the
    grader's re-run cannot draw the figure."""
    filled_in_report(tmp_path / "student", FIGURES_READ_BEHIND_READ_LOG)
    stored, rerun = _rerun_from_archive(tmp_path / "student", tmp_path / "grader")
    assert "final_history.json" not in stored
    assert not rerun.ok and "final_history.json" in rerun.error


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
        **KERNEL_ENV,
    }

    def nbgrader(*args):
        result = subprocess.run(
            [str(venv_bin / "nbgrader"), *args], cwd=course, env=env, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return result

    nbgrader("generate_assignment", NAME, "--force")
    filled_in_report(course / "submitted" / "alice" / NAME)
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
        assert _figures(autograded) == 2
