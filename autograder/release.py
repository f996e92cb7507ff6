"""``course-grader release``: nbgrader generate_assignment, then Colab checks.

nbgrader writes ``release/<assignment>/`` and records the instructor's cells
(with hidden tests and checksums) in the gradebook. The released notebooks
are then checked to open on Colab as they are: nbformat 4, no outputs, a
python3 kernelspec, and the course's setup cell as the first code cell.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

from autograder import gradebook
from autograder.config import grading_toml_path, parse_submission_policy


class ReleaseError(RuntimeError):
    """nbgrader could not generate the student version."""


def colab_problems(path: Path) -> list[str]:
    from course.notebooks import setup_cell

    nb = nbformat.read(path, as_version=4)
    problems = []
    if nb.metadata.get("kernelspec", {}).get("name") != "python3":
        problems.append("kernelspec is not python3")
    if any(c.get("outputs") for c in nb.cells if c.cell_type == "code"):
        problems.append("has outputs")
    code = [c for c in nb.cells if c.cell_type == "code"]
    if not code or code[0].source.strip() != setup_cell(nb).strip():
        problems.append("first code cell is not the course's setup cell "
                        "(run `python -m course.notebooks sync`)")
    return problems


def release(course_dir: Path, assignment: str, db_path: Path | None = None) -> dict[str, list]:
    """Generate the student version; returns {released notebook: Colab problems}.

    The due date of the grading TOML's ``[submission]`` table goes into the
    gradebook too, where nbgrader's late penalties read it.
    """
    api = gradebook.make_api(course_dir, db_path)
    outcome = api.generate_assignment(assignment, force=True, create=True)
    if not outcome["success"]:
        raise ReleaseError(f"nbgrader generate_assignment {assignment} failed:\n"
                           + outcome.get("log", "") + outcome.get("error", ""))
    policy = parse_submission_policy(grading_toml_path(course_dir, assignment))
    if policy.due is not None:
        gradebook.set_due_date(db_path or Path(course_dir) / "gradebook.db", assignment,
                               policy.due)
    folder = Path(course_dir) / "release" / assignment
    return {str(path): colab_problems(path) for path in sorted(folder.glob("*.ipynb"))}
