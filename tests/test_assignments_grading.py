"""The real assignments through the real grading path (release, collect, sandboxed grade).

For each autograded assignment students hand in archives: ``ada`` the archive her
solution run made on the Colab replica (notebook and weights trained in quick
mode), ``dan`` the solution with one NumPy exercise delegated to the library the
exercise forbids, and for A1 also ``cy``, the blank release without weights, and the
forgeries. The solution earns every autograded point, the blank release zero (on every
assignment in tests/test_real_path.py), the delegated exercise loses exactly its
question's points (a blank or wrong one is judged by the same cases), and the feedback
holds no private line.
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
from autograder.config import GradeOptions, Timeouts
from autograder.demo import answered_release
from autograder.sandbox import BwrapSandbox

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not BwrapSandbox().available()[0], reason="bubblewrap sandbox unavailable"),
]
AUTOGRADED = ("a1_cnn_classification", "a2_facial_keypoints", "a3_segmentation")
# One NumPy answer per assignment written as a call to the library the exercise is
# checked against (the cell's other functions kept honest): it must earn nothing for its
# question, and for the questions whose functions call it (A3's mean_iou averages the
# student's iou_per_class), and only for them.
DELEGATED = {
    "a1_cnn_classification": ("conv_forward", (), '''def conv_forward(x, w, b, stride=1, pad=0):
    import tensorflow as tf
    padded = tf.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
    return (tf.nn.conv2d(padded, w, stride, "VALID") + b).numpy()'''),
    "a2_facial_keypoints": ("flip_horizontal", (), '''def flip_horizontal(images, keypoints):
    import tensorflow as tf
    partner = np.arange(len(KEYPOINT_NAMES))
    for left, right in FLIP_PAIRS:
        partner[[left, right]] = right, left
    mirrored = np.array(keypoints, dtype=np.float32)[:, np.stack([2 * partner, 2 * partner + 1], 1).ravel()]
    mirrored[:, 0::2] = images.shape[2] - 1 - mirrored[:, 0::2]
    return tf.image.flip_left_right(images).numpy(), mirrored'''),
    "a3_segmentation": ("iou_per_class", ("mean_iou",), '''def iou_per_class(y_true, y_pred, num_classes):
    import keras
    import numpy as np
    return np.array([float(keras.metrics.IoU(num_classes, [c])(y_true, y_pred))
                     for c in range(num_classes)])


def mean_iou(y_true, y_pred, num_classes):
    return float(np.nanmean(iou_per_class(y_true, y_pred, num_classes)))'''),
}


# The forgeries of the grading issue, re-measured on A1's released notebook handed in
# without weights: each earned 50/100 or 20/100 when nbgrader judged test cells by their
# outputs in the student's kernel; each must now earn what the blank notebook earns.
FORGERIES = {
    "swallow": "get_ipython().set_custom_exc((BaseException,), lambda *a, **k: None)",
    "quiet": "ip = get_ipython()\nip.showtraceback = lambda *a, **k: None",
    "loop": "while True:\n    pass",
}
DELEGATED_POOL = '''def max_pool_forward(x, size=2, stride=2):
    import tensorflow as tf
    return tf.nn.max_pool2d(x, size, stride, "VALID").numpy()'''


def forged_submissions(assignment) -> dict[str, bytes]:
    release_nb = COURSE / "release" / assignment / f"{assignment}.ipynb"
    first = first_autograded_answer(assignment)
    out = {}
    for student, source in FORGERIES.items():
        nb = answer(nbformat.read(release_nb, as_version=4), first, source)
        out[student] = with_notebook(empty_archive(assignment), nb, f"{assignment}.ipynb")
    nb = nbformat.read(release_nb, as_version=4)
    for function, source in ((DELEGATED[assignment][0], DELEGATED[assignment][2]),
                             ("max_pool_forward", DELEGATED_POOL)):
        cell = next(c for c in nb.cells if f"def {function}(" in c.source)
        cell.source = source
    out["tfcalls"] = with_notebook(empty_archive(assignment), nb, f"{assignment}.ipynb")
    return out


def empty_archive(assignment) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.write(COURSE / "release" / assignment / f"{assignment}.ipynb", f"{assignment}.ipynb")
    return buffer.getvalue()


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


def per_assignment(assignments):
    """Parameters for ``graded``: each assignment's tests share one grading run, on one
    xdist worker (``--dist loadgroup``)."""
    return [pytest.param(a, id=a, marks=pytest.mark.xdist_group(f"grading-{a}"))
            for a in assignments]


@pytest.fixture(scope="session")
def grading_runs(tmp_path_factory, colab_session):
    """assignment -> its grading run, made once per worker session. A parametrized
    module-scoped fixture would not do: under xdist a worker interleaves modules and
    parameters, and pytest keeps one parameter's value at a time."""
    done = {}

    def run(assignment):
        if assignment not in done:
            done[assignment] = grade_the_class(assignment, tmp_path_factory, colab_session)
        return done[assignment]

    return run


@pytest.fixture
def graded(request, grading_runs):
    return grading_runs(request.param)


def grade_the_class(assignment, tmp_path_factory, colab_session):
    tmp_path = tmp_path_factory.mktemp(f"graded-{assignment}")
    run = replica_solution_run(tmp_path_factory, assignment, colab_session)
    assert run.ok and run.archive, run.error
    course = course_copy(tmp_path, assignment)
    name = f"{assignment}.ipynb"
    archive = run.archive.read_bytes()
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    submissions = {"ada": archive}
    if assignment == "a1_cnn_classification":
        # The blank release is graded on every assignment in tests/test_real_path.py; here
        # only for A1, where the forgeries must earn what it earns.
        submissions["cy"] = empty_archive(assignment)
        submissions.update(forged_submissions(assignment))
    if assignment in DELEGATED:
        function, _, source = DELEGATED[assignment]
        cell_id = next(c.metadata["nbgrader"]["grade_id"] for c in answered_release(
            COURSE, assignment).cells if f"def {function}(" in c.source)
        submissions["dan"] = with_notebook(
            archive, answer(answered_release(COURSE, assignment), cell_id, source), name)
    for student, data in submissions.items():
        (uploads / f"{student}_{assignment}_submission.zip").write_bytes(data)
    report = collect.collect(course, assignment, uploads, assignment)
    assert not [r for r in report if r.error], report
    results = pipeline.grade(GradeOptions(
        course_dir=course, assignment=assignment, workers=2, data_source="synthetic",
        quick=True, progress=False,
        # 30 s is five times what the slowest non-training cell takes at idle; the endless
        # loop burns a core for as long in the notebook run and in the case process.
        timeouts=Timeouts(test=30, training=600, default=30, predict=300)))
    return course, assignment, {r.student: r for r in results}


def grades(course, assignment, student):
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        notebook = gb.find_submission(assignment, student).notebooks[0]
        return {g.name: (g.score, g.max_score, g.needs_manual_grade) for g in notebook.grades}


@pytest.mark.parametrize("graded", per_assignment(AUTOGRADED), indirect=True)
def test_solution_full_marks_and_blank_zero(graded):
    course, assignment, results = graded
    assert all(r.status == "graded" for r in results.values()), results
    solution = grades(course, assignment, "ada")
    autograded = {k: v for k, v in solution.items() if not v[2]}
    assert "model_score" in autograded
    lost = {k: v for k, v in autograded.items() if v[0] != v[1]}
    assert lost == {}, f"the instructor solution lost points: {lost}"
    if "cy" in results:
        assert sum(v[0] for v in grades(course, assignment, "cy").values()) == 0
    done = feedback.generate_feedback(course, assignment)
    assert len(done["files"]) == len(results)


@pytest.mark.parametrize("graded", per_assignment(a for a in AUTOGRADED if a in DELEGATED),
                         indirect=True)
def test_a_delegating_answer_earns_nothing_for_its_question_only(graded):
    course, assignment, results = graded
    function, dependents, _ = DELEGATED[assignment]
    affected = {function, *dependents}
    for question in results["dan"].questions:
        if question["function"] in affected:
            assert question["forbidden"] and question["points"] == 0, question
    others = {q["grade_id"]: q["points"] for q in results["dan"].questions
              if q["function"] not in affected}
    assert others == {q["grade_id"]: q["points"] for q in results["ada"].questions
                      if q["grade_id"] in others}


@pytest.mark.parametrize("graded", per_assignment(["a1_cnn_classification"]), indirect=True)
def test_forging_the_verdicts_earns_no_more_than_the_blank_notebook(graded):
    _, _, results = graded
    blank = results["cy"].score
    table = {student: results[student].score for student in (*FORGERIES, "tfcalls")}
    print(f"\nA1, no weights: blank {blank}; " + ", ".join(f"{k} {v}" for k, v in table.items()))
    assert blank == 0 and all(score == blank for score in table.values()), table
    loop = results["loop"]
    assert any("timeout" in p for p in loop.problems)
    # The case sessions (one per library profile) give the endless cell its limit once.
    assert sum(p.startswith("cases: cell conv_forward") for p in loop.problems) == 1, loop.problems
    assert all(e["status"] != "not_run" for e in loop.cells)  # later cells really ran
    forbidden = {q["function"] for q in results["tfcalls"].questions if q["forbidden"]}
    assert forbidden == {"conv_forward", "max_pool_forward"}
