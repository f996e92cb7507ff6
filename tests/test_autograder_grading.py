"""End-to-end grading of the fixture assignment in the bubblewrap sandbox.

One batch of honest submissions (solution, blank, partial) and one batch of
hostile ones (loops, memory and fork bombs, kernel exit, snooping, tampering,
junk) are graded once per module; the tests read the recorded results, the
gradebook, the autograded notebooks and the rendered feedback.
"""

from __future__ import annotations

import csv
import shutil
import sqlite3
from pathlib import Path

import nbformat
import numpy as np
import pytest
from autograder_support import (
    HIDDEN_LOADER,
    answer,
    autograded_notebook,
    fixture_course,
    grade_assignment,
    pack,
    released_notebook,
)

from autograder import export, feedback, gradebook, pipeline, results, shards
from autograder.config import GradeOptions, Timeouts
from autograder.sandbox import BwrapSandbox

pytestmark = pytest.mark.skipif(not BwrapSandbox().available()[0],
                                reason="bubblewrap unavailable (apt-get install -y bubblewrap)")

SQUARE = "def square(x):\n    return x * x"
WRONG_SQUARE = "def square(x):\n    return 0"
MODEL = ("class ToyModel:\n    def predict(self, images):\n"
         "        return np.asarray(images, dtype=float)\n\nfinal_model = ToyModel()")
SWAPPED_MODEL = ("class ToyModel:\n    def predict(self, images):\n"
                 "        return np.asarray(images, dtype=float)[:, [1, 0, 2, 3]]\n\n"
                 "final_model = ToyModel()")
REPO = Path(__file__).resolve().parent.parent  # a git checkout: its history must stay hidden
HOSTILE_TIMEOUTS = Timeouts(test=10, training=10, default=8, predict=15)


def submission(course, square=SQUARE, model=MODEL):
    nb = released_notebook(course, "toy")
    return answer(answer(nb, "square_answer", square), "model_answer", model)


def outputs_text(nb: dict, grade_id: str) -> str:
    for cell in nb["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == grade_id:
            parts = []
            for out in cell.get("outputs", []):
                parts.append("".join(out.get("text", "")) + out.get("ename", "")
                             + str(out.get("evalue", "")))
            return "\n".join(parts)
    raise KeyError(grade_id)


@pytest.fixture(scope="module")
def honest(tmp_path_factory):
    course = fixture_course(tmp_path_factory.mktemp("honest"))
    from autograder.release import release

    release(course, "toy")
    blank = released_notebook(course, "toy")
    graded = grade_assignment(course, "toy", {
        "solution": pack(submission(course)),
        "blank": pack(blank),
        "partial": pack(submission(course, square=WRONG_SQUARE, model=SWAPPED_MODEL)),
    }, workers=2)
    return course, graded


def test_solution_gets_full_marks(honest):
    _, graded = honest
    result = graded["solution"]
    assert result["status"] == "graded"
    assert result["score"] == result["max_score"] == 6.0
    assert result["metrics"][0]["value"] == pytest.approx(1.0)
    assert result["backend"] == "bwrap" and "no network" in result["isolation"]


def test_blank_gets_zero_without_crashing(honest):
    result = honest[1]["blank"]
    assert result["status"] == "graded"
    assert result["score"] == 0.0
    assert result["metrics"][0]["error"] == "model_score-predictions.npy was not written"
    assert any("predict:model_score" in p for p in result["problems"])


def test_partial_gets_partial_marks(honest):
    result = honest[1]["partial"]
    # square is wrong (hidden tests fail); the swapped model is right on 2 of 4 classes.
    metric = result["metrics"][0]
    assert 0.4 < metric["value"] < 0.6
    assert 0 < metric["points"] < 4
    assert result["score"] == pytest.approx(metric["points"])


def test_gradebook_holds_metric_points_and_comment_is_in_notebook(honest):
    course, graded = honest
    scores = gradebook.submission_scores(course / "gradebook.db", "toy")
    assert scores["partial"]["grades"]["model_score"] == pytest.approx(
        graded["partial"]["metrics"][0]["points"])
    text = outputs_text(autograded_notebook(course, "toy", "partial"), "model_score")
    assert "[grader] model_score: accuracy = 0.4550 on 200 hidden synthetic examples" in text


def test_feedback_has_no_hidden_test_line(honest):
    course, _ = honest
    done = feedback.generate_feedback(course, "toy")
    hidden = gradebook.hidden_test_lines(course / "gradebook.db", "toy")
    assert 'assert square(-4) == 16, "hidden: negative numbers"' in hidden
    assert len(done["files"]) == 3 and done["archive"].endswith(".zip")
    for html in done["files"]:
        text = feedback.html_text(Path(html))
        assert "assert square(3) == 9" in text  # public tests stay visible
        assert not feedback.leaked_lines(Path(html), hidden)


def test_leak_check_catches_a_hidden_line(honest, tmp_path):
    course, _ = honest
    hidden = gradebook.hidden_test_lines(course / "gradebook.db", "toy")
    page = tmp_path / "page.html"
    page.write_text('<pre><span class="k">assert</span> square(-4) == 16, '
                    '&quot;hidden: negative numbers&quot;</pre>')
    assert feedback.leaked_lines(page, hidden) == [hidden[0]]
    page.write_text('<pre>----&gt; 3 assert square(0.5) == 0.25\n      2 x = 1</pre>')
    assert feedback.leaked_lines(page, hidden) == ["assert square(0.5) == 0.25"]
    page.write_text("<pre>if assert square(0.5) == 0.25 or not</pre>")  # not a whole line
    assert feedback.leaked_lines(page, hidden) == []


def test_a_hidden_line_the_student_typed_is_not_a_leak(tmp_path):
    import nbformat

    hidden = ["for left, right in FLIP_PAIRS:", "assert square(-4) == 16"]
    page = tmp_path / "page.html"
    page.write_text("<pre>for left, right in FLIP_PAIRS:\nassert square(-4) == 16</pre>")
    submission = tmp_path / "submitted"
    submission.mkdir()
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("for left, right in FLIP_PAIRS:\n    pass")]
    nbformat.write(nb, submission / "a2.ipynb")
    assert feedback.leaks_in_feedback(page, hidden, submission) == ["assert square(-4) == 16"]
    assert feedback.leaks_in_feedback(page, hidden, tmp_path / "absent") == hidden


def test_lines_students_already_see_are_no_secret(honest):
    course, _ = honest
    hidden = ['assert square(3) == 9, "square(3) should be 9"', "assert square(-4) == 16", ")"]
    assert feedback.secret_lines(hidden, course / "release" / "toy") == [
        "assert square(-4) == 16", ")"]


def test_export_csv_and_gradescope(honest, tmp_path):
    course, _ = honest
    rows = export.rows(course, "toy")
    export.write_csv(rows, tmp_path / "grades.csv")
    with open(tmp_path / "grades.csv") as handle:
        table = {r["student"]: r for r in csv.DictReader(handle)}
    assert table["solution"]["score"] == "6.0" and table["solution"]["percent"] == "100.0"
    assert table["blank"]["score"] == "0.0"
    written = export.write_gradescope(course, "toy", tmp_path / "gs")
    assert len(written) == 3


def test_leaderboard_orders_by_accuracy(honest):
    course, _ = honest
    ranked = export.leaderboard(course, "toy")
    assert [e["student"] for e in ranked] == ["solution", "partial", "blank"]
    assert ranked[-1]["rank"] == ""


def test_rerun_skips_unchanged_and_force_regrades(honest):
    course, _ = honest
    options = dict(course_dir=course, assignment="toy", backend="bwrap",
                   hidden_loader=HIDDEN_LOADER, data_source="synthetic", progress=False,
                   timeouts=HOSTILE_TIMEOUTS, students=("solution", "blank"))
    again = pipeline.grade(GradeOptions(**options))
    assert all(r.get("skipped") for r in again)
    # A changed file means a regrade even without --force.
    (course / "submitted" / "blank" / "toy" / "notes.txt").write_text("late edit")
    changed = {r["student"]: r for r in pipeline.grade(GradeOptions(**options))}
    assert changed["solution"].get("skipped") and not changed["blank"].get("skipped")
    forced = pipeline.grade(GradeOptions(**options, force=True))
    assert not any(r.get("skipped") for r in forced)
    assert {r["student"]: r["score"] for r in forced} == {"solution": 6.0, "blank": 0.0}


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    course = fixture_course(root)
    hidden_dir = root / "hidden-data"
    hidden_dir.mkdir()
    labels_file = hidden_dir / "toy_labels.npy"
    np.save(labels_file, np.arange(10))
    from autograder.release import release

    release(course, "toy")
    db = course / "gradebook.db"
    snoop = (
        "import os, socket, sqlite3\n"
        f"for p in [{str(labels_file)!r}, {str(db)!r}, {str(course / 'source')!r},\n"
        f"          {str(REPO / '.git')!r}, {str(REPO / 'assignments')!r}]:\n"
        "    print('EXISTS' if os.path.exists(p) else 'absent', p)\n"
        "try:\n"
        "    open('/etc/shadow').read()\n"
        "    print('SHADOW READABLE')\n"
        "except OSError as err:\n"
        "    print('shadow denied:', err)\n"
        "print('uid', os.getuid())\n"
        "try:\n"
        "    socket.create_connection(('1.1.1.1', 53), timeout=3)\n"
        "    print('NETWORK OPEN')\n"
        "except OSError as err:\n"
        "    print('network blocked:', err)\n"
        f"con = sqlite3.connect({str(db)!r})\n"
        "try:\n"
        "    con.execute('update grade set manual_score = 100')\n"
        "    con.commit()\n"
        "except sqlite3.Error as err:\n"
        "    print('gradebook write failed:', err)\n"
    )
    tampered = submission(course, square=WRONG_SQUARE)
    for cell in tampered.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "square_test":
            cell.source = "pass  # all good"
    restructured = submission(course)
    restructured.cells = [c for c in restructured.cells
                          if c.metadata.get("nbgrader", {}).get("grade_id") != "square_test"]
    restructured.cells.insert(3, nbformat.from_dict(dict(restructured.cells[2])))
    archives = {
        "loop": pack(submission(course, square=SQUARE + "\n\nwhile True:\n    pass")),
        "membomb": pack(submission(course, model="blocks = [bytearray(2**27) for _ in range(10**4)]\n"
                                   + MODEL)),
        "exiter": pack(submission(course, square="import os\nos._exit(3)")),
        "forker": pack(submission(course, square=SQUARE + (
            "\nimport os, time\nchildren = 0\nfor _ in range(300):\n    try:\n"
            "        pid = os.fork()\n    except OSError:\n        print('fork refused')\n"
            "        break\n    if pid == 0:\n        time.sleep(120)\n        os._exit(0)\n"
            "    children += 1\nprint('children', children)"))),
        "snoop": pack(submission(course, square=SQUARE + "\n" + snoop)),
        "patcher": pack(submission(course, model=SWAPPED_MODEL + (
            "\nimport builtins, sys, types, numpy\n"
            "numpy.argmax = lambda *a, **k: 0\nnumpy.mean = lambda *a, **k: 1.0\n"
            "fake = types.ModuleType('course.metrics')\nfake.accuracy = lambda *a, **k: 1.0\n"
            "sys.modules['course.metrics'] = fake\n"
            "builtins.AssertionError = type('Quiet', (Exception,), {})"))),
        "tamperer": pack(tampered),
        "restructurer": pack(restructured),
        "garbage": pack(b"{this is not json"),
        "shouter": pack(submission(course, square=SQUARE + (
            "\nimport sys\nfor _ in range(100):\n    sys.stdout.write('x' * 10**6)"))),
    }
    graded = grade_assignment(course, "toy", archives, workers=2, timeouts=HOSTILE_TIMEOUTS,
                              hidden_dir=hidden_dir)
    return course, graded


@pytest.mark.slow
def test_every_hostile_submission_ends_with_grade_or_reason(hostile):
    _, graded = hostile
    assert len(graded) == 10
    for student, result in graded.items():
        assert result["status"] in ("graded", "failed"), student
        if result["status"] == "failed":
            assert result["reason"], student


@pytest.mark.slow
def test_infinite_loop_costs_only_its_cell(hostile):
    result = hostile[1]["loop"]
    assert "square_answer: timeout (interrupted)" in result["problems"]
    assert result["score"] == 6.0  # square was defined before the loop


@pytest.mark.slow
def test_memory_bomb_is_stopped(hostile):
    result = hostile[1]["membomb"]
    assert "model_answer: memory limit" in result["problems"]
    assert result["score"] == 2.0


@pytest.mark.slow
def test_kernel_exit_is_recorded_and_grading_goes_on(hostile):
    course, graded = hostile
    assert "square_answer: kernel died (restarted)" in graded["exiter"]["problems"]
    assert graded["exiter"]["score"] == 0.0
    events = {e["label"]: e["status"] for e in graded["exiter"]["cells"]}
    assert events["model_answer"] == "ok"  # a fresh kernel ran the next cells


@pytest.mark.slow
def test_fork_storm_is_capped(hostile):
    course, graded = hostile
    text = outputs_text(autograded_notebook(course, "toy", "forker"), "square_answer")
    assert "fork refused" in text
    assert graded["forker"]["score"] == 6.0


@pytest.mark.slow
def test_instructor_files_network_and_gradebook_are_out_of_reach(hostile):
    course, graded = hostile
    text = outputs_text(autograded_notebook(course, "toy", "snoop"), "square_answer")
    assert text.count("absent") == 5 and "EXISTS" not in text
    assert "network blocked" in text and "NETWORK OPEN" not in text
    assert "shadow denied" in text and "uid 0" not in text
    with sqlite3.connect(course / "gradebook.db") as con:
        assert con.execute("select max(manual_score) from grade").fetchone()[0] <= 4.0
    assert graded["snoop"]["score"] == 6.0


@pytest.mark.slow
def test_monkeypatching_inside_the_kernel_does_not_change_the_metric(hostile):
    result = hostile[1]["patcher"]
    assert 0.4 < result["metrics"][0]["value"] < 0.6  # the true accuracy of the swapped model


@pytest.mark.slow
def test_edited_locked_test_is_restored_and_reported(hostile):
    result = hostile[1]["tamperer"]
    assert "locked cell 'square_test' was edited; the original was restored" in \
        result["structure_issues"]
    assert result["score"] == 4.0  # the restored test fails the wrong square


@pytest.mark.slow
def test_deleted_and_duplicated_cells_are_reported_and_graded(hostile):
    result = hostile[1]["restructurer"]
    issues = " ".join(result["structure_issues"])
    assert "'square_test' was deleted" in issues
    assert "'square_answer' appears 2 times" in issues
    assert result["status"] == "graded" and result["score"] == 6.0


@pytest.mark.slow
def test_invalid_json_is_a_recorded_failure(hostile):
    result = hostile[1]["garbage"]
    assert result["status"] == "failed" and result["reason"].startswith("invalid notebook")


@pytest.mark.slow
def test_huge_output_is_truncated(hostile):
    course, graded = hostile
    folder = course / "autograded" / "shouter" / "toy"
    assert next(folder.glob("*.ipynb")).stat().st_size < 2_000_000
    assert graded["shouter"]["status"] == "graded"


def test_sharded_grading_merges_to_the_same_grades(honest, tmp_path):
    course, graded = honest
    sharded = tmp_path / "course"
    shutil.copytree(course, sharded, ignore=shutil.ignore_patterns("grader_results",
                                                                   "autograded", "feedback"))
    with sqlite3.connect(sharded / "gradebook.db") as con:  # start from an empty gradebook
        assert con.execute("select count(*) from submitted_assignment").fetchone()[0] == 3
    shards.clear_submissions(sharded / "gradebook.db", "toy")
    for index in range(3):
        pipeline.grade(GradeOptions(
            course_dir=sharded, assignment="toy", backend="bwrap", shard=(index, 3),
            gradebook=sharded / f"shard-{index}.db", hidden_loader=HIDDEN_LOADER,
            data_source="synthetic", progress=False, timeouts=HOSTILE_TIMEOUTS))
    merged = shards.merge(sharded / "gradebook.db",
                          [sharded / f"shard-{i}.db" for i in range(3)])
    assert merged == {"toy": ["blank", "partial", "solution"]}
    scores = gradebook.submission_scores(sharded / "gradebook.db", "toy")
    assert {s: v["score"] for s, v in scores.items()} == {
        s: r["score"] for s, r in graded.items()}
    with pytest.raises(ValueError, match="in both"):
        shards.merge(sharded / "gradebook.db", [sharded / "shard-0.db", sharded / "shard-0.db"])
    assert results.load_results(sharded, "toy").keys() == {"blank", "partial", "solution"}


@pytest.mark.slow
def test_keras_submission_is_scored_from_restored_weights(tmp_path):
    from autograder_support import solution_source, trained_weights

    from autograder.config import Limits
    from autograder.release import release

    course = fixture_course(tmp_path)
    release(course, "kp")
    source = solution_source(course, "kp", "kp_model")
    nb = answer(released_notebook(course, "kp"), "kp_model", source)
    weights = trained_weights(source, tmp_path / "kp_model.weights.h5")
    graded = grade_assignment(
        course, "kp", {"trained": pack(nb, {weights.name: weights.read_bytes()}),
                       "forgetful": pack(nb)},
        timeouts=Timeouts(test=60, training=120, default=120, predict=120),
        limits=Limits(memory_bytes=6 * 2**30, cpu_seconds=600, max_processes=256))
    # The trusted side's RMSE equals the RMSE of those exact weights computed here.
    import keras

    from autograder.scoring import load_callable
    from course.metrics import keypoint_rmse

    load_hidden = load_callable(HIDDEN_LOADER)
    namespace: dict = {"keras": keras, "np": np}
    exec(source, namespace)  # noqa: S102
    namespace["final_model"].load_weights(weights)
    images, labels = load_hidden("kp")
    expected = keypoint_rmse(labels, namespace["final_model"].predict(images, verbose=0))
    metric = graded["trained"]["metrics"][0]
    assert metric["value"] == pytest.approx(expected, rel=1e-4)
    assert graded["trained"]["problems"] == []
    assert "kp_training: missing weights" in graded["forgetful"]["problems"]


@pytest.mark.slow
def test_a_broken_file_is_not_retried_until_it_changes(hostile):
    course, _ = hostile
    options = dict(course_dir=course, assignment="toy", backend="bwrap",
                   hidden_loader=HIDDEN_LOADER, data_source="synthetic", progress=False,
                   students=("garbage",))
    (again,) = pipeline.grade(GradeOptions(**options))
    assert again.get("skipped") and again["final"]
    fixed = submission(course)
    nbformat.write(fixed, course / "submitted" / "garbage" / "toy" / "toy.ipynb")
    (regraded,) = pipeline.grade(GradeOptions(**options, timeouts=HOSTILE_TIMEOUTS))
    assert regraded["status"] == "graded" and regraded["score"] == 6.0


def test_missing_tiers_for_the_data_source_stop_before_grading(honest):
    from autograder.release import release

    course, _ = honest
    release(course, "kp")  # its grading file has synthetic tiers only
    with pytest.raises(ValueError, match=r"no \[metric.real\] tiers"):
        pipeline.grade(GradeOptions(course_dir=course, assignment="kp", backend="bwrap",
                                    data_source="real", hidden_loader=HIDDEN_LOADER,
                                    progress=False))
