"""The real assignments through the real grading path (release, collect, sandboxed grade).

For each autograded assignment three simulated students hand in archives
(see ``autograder.demo``): the instructor's solutions with weights trained in
quick mode earn every autograded point, the blank release earns zero without
crashing the grader, and a submission with the first exercise left blank
earns something in between.
"""

import shutil

import pytest
from nbgrader.api import Gradebook

from autograder import collect, demo, feedback, pipeline, release
from autograder.config import GradeOptions
from autograder.sandbox import BwrapSandbox
from course.notebooks import ROOT

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not BwrapSandbox().available()[0], reason="bubblewrap sandbox unavailable"),
]


@pytest.fixture
def graded(request, tmp_path):
    assignment = request.param
    course = tmp_path / "course"
    course.mkdir()
    shutil.copy(ROOT / "assignments" / "nbgrader_config.py", course)
    shutil.copytree(ROOT / "assignments" / "source" / assignment, course / "source" / assignment)
    shutil.copytree(ROOT / "assignments" / "grading", course / "grading")
    release.release(course, assignment)
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    demo.simulate_students(course, assignment, uploads, tmp_path / "students")
    report = collect.collect(course, assignment, uploads, assignment)
    assert not [r for r in report if r.error], report
    results = pipeline.grade(GradeOptions(course_dir=course, assignment=assignment, workers=2,
                                          data_source="synthetic", quick=True, progress=False))
    return course, assignment, {r["student"]: r for r in results}


def _grades(course, assignment, student):
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        notebook = gb.find_submission(assignment, student).notebooks[0]
        return [(g.name, g.score, g.max_score, g.needs_manual_grade, g.cell_type)
                for g in notebook.grades]


@pytest.mark.parametrize("graded", demo.ASSIGNMENTS, indirect=True)
def test_solution_full_marks_blank_zero_partial_between(graded):
    course, assignment, results = graded
    assert {s: r["status"] for s, r in results.items()} == {s: "graded" for s in demo.STUDENTS}

    solution = _grades(course, assignment, "ada")
    autograded = [g for g in solution if not g[3]]
    assert any(name == "model_score" for name, *_ in autograded)
    lost = [(name, score, top) for name, score, top, *_ in autograded if score != top]
    assert lost == [], f"the instructor solution lost points: {lost}"

    blank = _grades(course, assignment, "cy")
    assert sum(score for _, score, *_ in blank) == 0, blank

    partial = sum(score for _, score, *_ in _grades(course, assignment, "ben"))
    assert 0 < partial < sum(score for _, score, *_ in solution)

    # Feedback for all three renders without a single hidden-test line.
    done = feedback.generate_feedback(course, assignment)
    assert len(done["files"]) == len(demo.STUDENTS)
