"""The real assignments through the real grading path (release, collect, sandboxed grade).

For each autograded assignment four students hand in archives: ``ada`` the
archive her solution run made on the Colab replica (notebook and weights trained
in quick mode), ``ben`` the same with the first exercise left blank, ``cy`` the
blank release without weights, and ``dan`` the solution with one NumPy exercise
delegated to the library the exercise forbids. The solution earns every
autograded point, the blank release zero, the blank exercise and the delegated one
lose exactly their question's points, and the feedback holds no private line.
"""

from __future__ import annotations

import io
import shutil
import zipfile

import nbformat
import pytest
from autograder_support import answer
from nbgrader.api import Gradebook
from solution_runs import COURSE, replica_solution_run

from autograder import collect, feedback, pipeline, release
from autograder.cases import load_questions
from autograder.config import GradeOptions
from autograder.demo import answered_release
from autograder.sandbox import BwrapSandbox

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not BwrapSandbox().available()[0], reason="bubblewrap sandbox unavailable"),
]
AUTOGRADED = ("a1_cnn_classification", "a2_facial_keypoints", "a3_segmentation")
# One NumPy answer per assignment written as a call to the library the exercise is
# checked against: it must earn nothing for its question, and only for it.
DELEGATED = {
    "a1_cnn_classification": ("conv_forward", '''def conv_forward(x, w, b, stride=1, pad=0):
    import tensorflow as tf
    padded = tf.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
    return (tf.nn.conv2d(padded, w, stride, "VALID") + b).numpy()'''),
    "a3_segmentation": ("iou_per_class", '''def iou_per_class(y_true, y_pred, num_classes):
    import keras
    import numpy as np
    return np.array([float(keras.metrics.IoU(num_classes, [c])(y_true, y_pred))
                     for c in range(num_classes)])'''),
}


def course_copy(tmp_path, assignment):
    course = tmp_path / "course"
    course.mkdir()
    shutil.copy(COURSE / "nbgrader_config.py", course)
    shutil.copytree(COURSE / "source" / assignment, course / "source" / assignment)
    shutil.copytree(COURSE / "grading", course / "grading")
    release.release(course, assignment)
    return course


def with_notebook(archive: bytes, nb, name: str) -> bytes:
    """The same archive (weights and all) with another notebook inside."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(archive)) as src, zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            data = nbformat.writes(nb).encode() if item.filename.endswith(".ipynb") \
                else src.read(item)
            dst.writestr(item.filename if not item.filename.endswith(".ipynb") else name, data)
    return out.getvalue()


def first_autograded_answer(assignment) -> str:
    questions = {q.function: q for q in load_questions(COURSE, assignment)}
    nb = nbformat.read(COURSE / "release" / assignment / f"{assignment}.ipynb", as_version=4)
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution") and cell.cell_type == "code" and any(
                f"def {name}(" in cell.source for name in questions):
            return meta["grade_id"]
    raise LookupError(f"{assignment} has no answer cell decided by graded cases")


@pytest.fixture
def graded(request, tmp_path, tmp_path_factory):
    assignment = request.param
    run = replica_solution_run(tmp_path_factory, assignment)
    assert run.ok and run.archive, run.error
    course = course_copy(tmp_path, assignment)
    name = f"{assignment}.ipynb"
    archive = run.archive.read_bytes()
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    blank_first = first_autograded_answer(assignment)
    submissions = {
        "ada": archive,
        "ben": with_notebook(archive, answered_release(COURSE, assignment, {blank_first}), name),
    }
    blank = io.BytesIO()
    with zipfile.ZipFile(blank, "w") as zf:
        zf.write(COURSE / "release" / assignment / name, name)
    submissions["cy"] = blank.getvalue()
    if assignment in DELEGATED:
        function, source = DELEGATED[assignment]
        cell_id = next(c.metadata["nbgrader"]["grade_id"] for c in answered_release(
            COURSE, assignment).cells if f"def {function}(" in c.source)
        submissions["dan"] = with_notebook(
            archive, answer(answered_release(COURSE, assignment), cell_id, source), name)
    for student, data in submissions.items():
        (uploads / f"{student}_{assignment}_submission.zip").write_bytes(data)
    report = collect.collect(course, assignment, uploads, assignment)
    assert not [r for r in report if r.error], report
    results = pipeline.grade(GradeOptions(course_dir=course, assignment=assignment, workers=2,
                                          data_source="synthetic", quick=True, progress=False))
    return course, assignment, {r.student: r for r in results}


def grades(course, assignment, student):
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        notebook = gb.find_submission(assignment, student).notebooks[0]
        return {g.name: (g.score, g.max_score, g.needs_manual_grade) for g in notebook.grades}


@pytest.mark.parametrize("graded", AUTOGRADED, indirect=True)
def test_solution_full_marks_blank_zero_and_a_blank_exercise_loses_its_points(graded):
    course, assignment, results = graded
    assert all(r.status == "graded" for r in results.values()), results
    solution = grades(course, assignment, "ada")
    autograded = {k: v for k, v in solution.items() if not v[2]}
    assert "model_score" in autograded
    lost = {k: v for k, v in autograded.items() if v[0] != v[1]}
    assert lost == {}, f"the instructor solution lost points: {lost}"
    assert sum(v[0] for v in grades(course, assignment, "cy").values()) == 0
    ben = grades(course, assignment, "ben")
    dropped = {k for k in autograded if ben[k][0] != autograded[k][0]}
    assert len(dropped) == 1 and all(ben[k][0] == 0 for k in dropped), dropped
    done = feedback.generate_feedback(course, assignment)
    assert len(done["files"]) == len(results)


@pytest.mark.parametrize("graded", [a for a in AUTOGRADED if a in DELEGATED], indirect=True)
def test_a_delegating_answer_earns_nothing_for_its_question_only(graded):
    course, assignment, results = graded
    question = next(q for q in results["dan"].questions
                    if q["function"] == DELEGATED[assignment][0])
    assert question["forbidden"] and question["points"] == 0
    others = {q["grade_id"]: q["points"] for q in results["dan"].questions
              if q is not question}
    assert others == {q["grade_id"]: q["points"] for q in results["ada"].questions
                      if q["grade_id"] in others}
