"""The real-data path, end to end: notebooks and the grader on real-format files.

``COURSE_DATA=real COURSE_QUICK=1`` on the fixture world of tests/real_data.py
(Keras's dataset files, TFDS's Oxford-IIIT Pet and CIFAR-10.1, Kaggle's
``training.csv``, QMNIST's IDX files, ImageNet weights; only their download is
replaced): every released assignment with its solution runs top to bottom (the units
run on that data in tests/test_colab_replica.py, on the Colab replica), and ``course-grader grade --data real`` grades honest, blank and broken
submissions of every autograded assignment, with the dataset caches read-only in
the sandbox and the hidden split outside it.
"""

from __future__ import annotations

import io
import os
import shutil
import zipfile

import pytest
import real_data
from solution_runs import COURSE, solution_run

from autograder import collect, pipeline, release
from autograder.config import GradeOptions, Timeouts
from autograder.sandbox import BwrapSandbox, project_root
from autograder.splits import draw_keypoint_holdout

AUTOGRADED = ("a1_cnn_classification", "a2_facial_keypoints", "a3_segmentation")
ASSIGNMENTS = sorted(p.name for p in (COURSE / "release").iterdir() if p.is_dir())


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return real_data.session_world(tmp_path_factory)


@pytest.fixture(scope="module")
def holdout(world, tmp_path_factory):
    """The instructor's draw of held-back faces for this run; the hashes are published
    through COURSE_HELDOUT_DIR so that the student loader leaves them out."""
    folder = tmp_path_factory.mktemp("holdout")
    drawn = draw_keypoint_holdout(world.kaggle_csv, folder / "hidden", n_hidden=60,
                                  heldout_dir=folder / "published", seed=2027)
    return drawn


def real_env(world, holdout) -> dict[str, str]:
    env = world.env()
    env["PYTHONPATH"] = os.pathsep.join([env["PYTHONPATH"], str(project_root())])
    env["COURSE_HELDOUT_DIR"] = str(holdout.heldout_list.parent)
    return env


def real_solution_run(tmp_path_factory, assignment, world, holdout):
    return solution_run(tmp_path_factory, assignment, "real",
                        env_for=lambda folder: real_env(world, holdout))


@pytest.mark.notebook
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_released_assignment_with_its_solution_runs_on_real_format_data(
        assignment, tmp_path_factory, world, holdout):
    run = real_solution_run(tmp_path_factory, assignment, world, holdout)
    assert run.ok, f"{assignment} failed after {run.seconds:.0f} s:\n{run.error}"
    assert run.archive is not None


def blank_archive(assignment) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.write(COURSE / "release" / assignment / f"{assignment}.ipynb", f"{assignment}.ipynb")
    return buffer.getvalue()


def broken_archive(assignment) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr(f"{assignment}.ipynb", "{ a notebook cut off halfway")
    return buffer.getvalue()


@pytest.mark.slow
@pytest.mark.skipif(not BwrapSandbox().available()[0], reason="needs bubblewrap")
@pytest.mark.parametrize("assignment", AUTOGRADED)
def test_the_grader_grades_real_format_submissions(assignment, tmp_path, tmp_path_factory,
                                                   world, holdout, monkeypatch):
    run = real_solution_run(tmp_path_factory, assignment, world, holdout)
    assert run.ok and run.archive, run.error
    course = tmp_path / "course"
    course.mkdir()
    shutil.copy(COURSE / "nbgrader_config.py", course)
    shutil.copytree(COURSE / "source" / assignment, course / "source" / assignment)
    shutil.copytree(COURSE / "grading", course / "grading")
    release.release(course, assignment)
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    for student, data in (("ada", run.archive.read_bytes()), ("cy", blank_archive(assignment)),
                          ("eve", broken_archive(assignment))):
        (uploads / f"{student}_{assignment}_submission.zip").write_bytes(data)
    assert not [r for r in collect.collect(course, assignment, uploads, assignment) if r.error]
    # The grader's own process sees the same world (its loaders read the grading splits
    # and the students' training data for the zero points); the hidden folder is passed
    # as --hidden-dir only, never through the environment.
    monkeypatch.delenv("COURSE_HIDDEN_DIR", raising=False)
    env = real_env(world, holdout)
    with real_data.activated(world, monkeypatch=monkeypatch):
        monkeypatch.setenv("COURSE_HELDOUT_DIR", env["COURSE_HELDOUT_DIR"])
        results = {r.student: r for r in pipeline.grade(GradeOptions(
            course_dir=course, assignment=assignment, workers=2, data_source="real",
            quick=True, progress=False, hidden_dir=holdout.hidden_file.parent,
            sandbox_env=(("PYTHONPATH", env["PYTHONPATH"]),), readable=(world.root,),
            timeouts=Timeouts(test=120, training=300, default=300, predict=300)))}
    assert set(results) == {"ada", "cy", "eve"}
    assert results["eve"].status == "failed" and results["eve"].fault == "submission"
    assert results["ada"].graded and results["cy"].graded, results
    assert results["cy"].score == 0
    ada = results["ada"]
    assert all(q["points"] == q["max_points"] for q in ada.questions), ada.questions
    metric = ada.metrics[0]
    assert metric["value"] is not None and metric["error"] is None, metric
    assert ada.problems == [], ada.problems
