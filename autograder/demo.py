"""The offline grading demo behind `course demo` (and the README's `make demo`).

It plays a whole term in a scratch folder, on synthetic data in quick mode:

1. the instructor releases every autograded assignment (``course-grader release``);
2. three simulated students work on the released notebooks: ``ada`` writes the
   instructor's solutions and trains the model, ``ben`` leaves the first
   exercise unanswered, ``cy`` hands in the blank notebook without weights;
   each hands in the archive the notebook's last cell makes;
3. the instructor collects the uploads, grades them in the sandbox with two
   workers, writes feedback and the LMS CSV (``collect``, ``grade``,
   ``feedback``, ``export``), and ranks the keypoint models (``leaderboard``);
4. the gradebook is printed: one row per student, one column per assignment.
"""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import nbformat

from autograder import cli
from course.notebooks import QUICK_ENV, ROOT, execute

ASSIGNMENTS = ("a1_cnn_classification", "a2_facial_keypoints", "a3_segmentation")
STUDENTS = ("ada", "ben", "cy")


def _nbgrader(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def _solutions(source: nbformat.NotebookNode) -> dict[str, str]:
    """grade_id -> what a perfect student types: the solution, delimiters removed."""
    answers = {}
    for cell in source.cells:
        meta = _nbgrader(cell)
        if meta.get("solution"):
            lines = [line for line in cell.source.splitlines()
                     if "BEGIN SOLUTION" not in line and "END SOLUTION" not in line]
            answers[meta["grade_id"]] = "\n".join(lines)
    return answers


def _answered(released: nbformat.NotebookNode, answers: dict[str, str],
              skip: set[str] = frozenset()) -> nbformat.NotebookNode:
    nb = nbformat.from_dict(released)
    for cell in nb.cells:
        grade_id = _nbgrader(cell).get("grade_id")
        if grade_id in answers and grade_id not in skip:
            cell.source = answers[grade_id]
    return nb


def answered_release(course: Path, assignment: str,
                     skip: set[str] = frozenset()) -> nbformat.NotebookNode:
    """The released notebook with the instructor's answers typed in (but in ``skip``)."""
    name = f"{assignment}.ipynb"
    released = nbformat.read(course / "release" / assignment / name, as_version=4)
    answers = _solutions(nbformat.read(course / "source" / assignment / name, as_version=4))
    return _answered(released, answers, skip)


def _first_autograded_answer(released: nbformat.NotebookNode) -> str:
    return next(_nbgrader(c)["grade_id"] for c in released.cells
                if _nbgrader(c).get("solution") and c.cell_type == "code")


def _archive(path: Path, notebook: Path, files: list[Path]) -> None:
    with zipfile.ZipFile(path, "w") as zf:
        zf.write(notebook, notebook.name)
        for f in files:
            zf.write(f, f.name)


def simulate_students(course: Path, assignment: str, uploads: Path, work: Path) -> None:
    """Write the three students' upload archives for one assignment into ``uploads``."""
    name = f"{assignment}.ipynb"
    released = nbformat.read(course / "release" / assignment / name, as_version=4)
    archive = f"{assignment}_submission.zip"

    ada = work / "ada" / assignment
    ada.mkdir(parents=True)
    nbformat.write(answered_release(course, assignment), ada / name)
    # ada runs her notebook like on Colab: it trains and its last cell bundles the archive.
    run = execute(ada / name, timeout=900, cell_timeout=900, env=QUICK_ENV)
    if not run.ok:
        raise RuntimeError(f"the solution of {assignment} failed to run:\n{run.error}")
    shutil.copy(ada / archive, uploads / f"ada_{archive}")
    weights = [ada / n for n in zipfile.ZipFile(ada / archive).namelist() if n != name]

    ben = work / "ben" / assignment
    ben.mkdir(parents=True)
    skipped = {_first_autograded_answer(released)}
    nbformat.write(answered_release(course, assignment, skipped), ben / name)
    _archive(uploads / f"ben_{archive}", ben / name, weights)

    cy = work / "cy" / assignment
    cy.mkdir(parents=True)
    nbformat.write(released, cy / name)
    _archive(uploads / f"cy_{archive}", cy / name, [])


def gradebook_table(course: Path) -> str:
    from nbgrader.api import Gradebook, MissingEntry

    rows = [f"{'student':<10}" + "".join(f"{a:>24}" for a in ASSIGNMENTS) + f"{'total':>10}"]
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for student in STUDENTS:
            cells, total = [], 0.0
            for assignment in ASSIGNMENTS:
                try:
                    sub = gb.find_submission(assignment, student)
                    cells.append(f"{sub.score:>14.1f} / {sub.max_score:<7.0f}")
                    total += sub.score
                except MissingEntry:
                    cells.append(f"{'not graded':>24}")
            rows.append(f"{student:<10}" + "".join(cells) + f"{total:>10.1f}")
    return "\n".join(rows)


def run(out_dir: Path) -> int:
    out_dir = Path(out_dir).resolve()
    if out_dir.exists():
        shutil.rmtree(out_dir)
    course = out_dir / "course"
    course.mkdir(parents=True)
    shutil.copy(ROOT / "assignments" / "nbgrader_config.py", course)
    for folder in ("source", "grading"):
        shutil.copytree(ROOT / "assignments" / folder, course / folder)

    status = 0
    for assignment in ASSIGNMENTS:
        print(f"\n--- {assignment} ---", flush=True)
        grader = ["--course", str(course)]
        status |= cli.main([*grader, "release", assignment])
        uploads = out_dir / "uploads" / assignment
        uploads.mkdir(parents=True)
        print("students at work (solution notebook trains in quick mode) ...", flush=True)
        simulate_students(course, assignment, uploads, out_dir / "students")
        status |= cli.main([*grader, "collect", assignment, str(uploads)])
        status |= cli.main([*grader, "grade", assignment, "--workers", "2",
                            "--data", "synthetic", "--quick"])
        status |= cli.main([*grader, "feedback", assignment])
        status |= cli.main([*grader, "export", assignment, str(out_dir / f"grades-{assignment}.csv")])
        if assignment == "a2_facial_keypoints":
            status |= cli.main([*grader, "leaderboard", assignment])

    print("\n=== Gradebook (nbgrader) ===")
    print(gradebook_table(course))
    print("Written answers wait for manual grading (`nbgrader formgrader`); "
          f"feedback and CSVs are in {out_dir}")
    return status
