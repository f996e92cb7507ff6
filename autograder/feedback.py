"""``course-grader feedback``: nbgrader generate_feedback without the hidden tests.

nbgrader's feedback shows the autograded notebook, in which any hidden tests
were restored for grading. Before rendering, :class:`StripHiddenTests` cuts
the hidden region out of every cell and replaces the traceback of a cell
that held one (IPython prints the failing source line). After rendering, the
text of every HTML file is checked against every hidden-test line from the
gradebook and every line of the graded cases (``grading/<assignment>.py``);
a file that still contains one is deleted and reported.
"""

from __future__ import annotations

import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import nbformat
from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
from nbgrader.preprocessors import ClearHiddenTests, GetGrades
from traitlets.config import Config

from autograder import gradebook


class FeedbackLeak(RuntimeError):
    """A rendered feedback file still contains a hidden-test line."""


class StripHiddenTests(ClearHiddenTests):
    """nbgrader's ClearHiddenTests, plus tracebacks of those cells reduced to one line."""

    def preprocess_cell(self, cell, resources, cell_index):
        if self.begin_test_delimeter not in cell.source:
            return cell, resources
        self._remove_hidden_test_region(cell)
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                output.traceback = [
                    f"{output.get('ename', 'Error')}: {output.get('evalue', '')}",
                    "(a test failed; hidden tests are not shown in feedback)",
                ]
        return cell, resources


class _Text(HTMLParser):
    def __init__(self):
        super().__init__()
        self.parts: list[str] = []

    def handle_data(self, data):
        self.parts.append(data)


def html_text(path: Path) -> str:
    parser = _Text()
    parser.feed(path.read_text(errors="replace"))
    return "".join(parser.parts)


def notebook_lines(folder: Path) -> set[str]:
    """Every stripped source line of the notebooks in ``folder``."""
    lines = set()
    for path in sorted(Path(folder).glob("*.ipynb")):
        try:
            cells = nbformat.read(path, as_version=4).cells
        except Exception:  # an unreadable submission contributes no lines
            continue
        for cell in cells:
            lines.update(line.strip() for line in cell.source.splitlines())
    return lines


def case_lines(course_dir: Path, assignment: str) -> list[str]:
    """The significant lines of the assignment's graded cases (``grading/<assignment>.py``):
    a ``}`` or an import is in every program and tells nothing."""
    from autograder.cases import cases_path
    from autograder.publish import significant

    path = cases_path(course_dir, assignment)
    if not path.exists():
        return []
    return [line.strip() for line in path.read_text().splitlines() if significant(line.strip())]


def secret_lines(hidden_lines: list[str], release_dir: Path) -> list[str]:
    """Hidden-test lines that students have not seen: a line such as ``)`` or ``try:``
    that also appears in the released notebooks is no secret (and would match anything)."""
    released = notebook_lines(release_dir)
    return [line for line in hidden_lines if line not in released]


TRACEBACK_GUTTER = re.compile(r"^\s*(?:-*>)?\s*\d+\s+")  # "----> 5 " or "      4 " in a traceback


def leaked_lines(path: Path, hidden_lines: list[str]) -> list[str]:
    """Hidden lines that appear as a whole line of the page (a traceback's gutter ignored).

    Whole lines, not substrings: a hidden ``f(x)`` must not match a public ``y = f(x)``.
    """
    shown = set()
    for line in html_text(path).splitlines():
        shown.add(line.strip())
        shown.add(TRACEBACK_GUTTER.sub("", line).strip())
    return [line for line in hidden_lines if line in shown]


def leaks_in_feedback(path: Path, hidden_lines: list[str], submission_dir: Path) -> list[str]:
    """Hidden lines on a student's page, less those the student typed in their own answers
    (the same loop as a hidden test, say): their code is not a leak."""
    own = notebook_lines(submission_dir)
    return [line for line in leaked_lines(path, hidden_lines) if line not in own]


def generate_feedback(course_dir: Path, assignment: str, db_path: Path | None = None,
                      zip_archive: bool = True) -> dict:
    """Render feedback for every autograded submission; returns {files, leaks, archive}."""
    course_dir = Path(course_dir)
    db = db_path or course_dir / "gradebook.db"
    config = Config()
    config.GenerateFeedback.preprocessors = [StripHiddenTests, GetGrades,
                                             CSSHTMLHeaderPreprocessor]
    config.StripHiddenTests.enforce_metadata = False
    api = gradebook.make_api(course_dir, db, config)
    outcome = api.generate_feedback(assignment, force=True)
    if not outcome["success"]:
        raise RuntimeError("nbgrader generate_feedback failed:\n" + outcome.get("error", ""))
    hidden = secret_lines(gradebook.hidden_test_lines(db, assignment)
                          + case_lines(course_dir, assignment),
                          course_dir / "release" / assignment)
    files, leaks = [], {}
    for html in sorted((course_dir / "feedback").glob(f"*/{assignment}/*.html")):
        submission = course_dir / "submitted" / html.parent.parent.name / assignment
        found = leaks_in_feedback(html, hidden, submission)
        if found:
            leaks[str(html)] = found
            html.unlink()
        else:
            files.append(str(html))
    archive = None
    if zip_archive and files:
        staging = course_dir / "feedback" / f".{assignment}-zip"
        shutil.rmtree(staging, ignore_errors=True)
        for html in files:
            relative = Path(html).relative_to(course_dir / "feedback")
            (staging / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(html, staging / relative)
        archive = shutil.make_archive(str(course_dir / "feedback" / f"{assignment}_feedback"),
                                      "zip", staging)
        shutil.rmtree(staging)
    if leaks:
        raise FeedbackLeak(f"hidden-test lines found (files deleted): {leaks}")
    return {"files": files, "archive": archive}
