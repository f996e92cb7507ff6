"""End-to-end grading of the fixture assignment through the real ``course-grader`` path.

The fixture ``toy`` has two graded cells: ``square_test`` (2 points, decided by
the graded cases of grading/toy.py, run in a fresh sandboxed process) and
``model_score`` (4 points, the hidden-set accuracy of ``final_model``). One batch
of honest submissions and one batch of attacks are graded once per module;
the tests read the results, the gradebook, the autograded notebooks and the
rendered feedback. Every attack that gets ``square`` wrong must earn no more of
its points than the blank notebook: 0.
"""

from __future__ import annotations

import csv
import os
import secrets
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest
from autograder_support import (
    SPLITS,
    answer,
    autograded_notebook,
    fixture_course,
    grade_assignment,
    pack,
    released_notebook,
)

from autograder import export, feedback, gradebook, pipeline, records, sandbox, shards
from autograder.config import GradeOptions, Timeouts
from autograder.sandbox import BwrapSandbox
from autograder.setup import GraderMisconfigured

pytestmark = [
    pytest.mark.skipif(not BwrapSandbox().available()[0],
                       reason="bubblewrap unavailable (apt-get install -y bubblewrap)"),
    # the module-scoped gradings below run once, on one worker (--dist loadgroup)
    pytest.mark.xdist_group("grading-fixtures"),
]

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


def square_points(result: records.SubmissionResult) -> float:
    return next(q["points"] for q in result.questions if q["grade_id"] == "square_test")


@pytest.fixture(scope="session")  # once per worker: xdist interleaves modules
def honest(tmp_path_factory):
    course = fixture_course(tmp_path_factory.mktemp("honest"))
    from autograder.release import release

    release(course, "toy")
    graded = grade_assignment(course, "toy", {
        "solution": pack(submission(course)),
        "blank": pack(released_notebook(course, "toy")),
        "partial": pack(submission(course, square=WRONG_SQUARE, model=SWAPPED_MODEL)),
        "delegator": pack(submission(course, square=(
            "def square(x):\n    import tensorflow as tf\n"
            "    return tf.math.square(x).numpy()"))),
    }, workers=2)
    return course, graded


def test_solution_gets_full_marks(honest):
    result = honest[1]["solution"]
    assert result.status == "graded" and result.score == result.max_score == 6.0
    assert result.metrics[0]["value"] == pytest.approx(1.0)
    assert result.questions[0]["passed"] == 4
    assert result.backend == "bwrap" and "allow-list" in result.isolation


def test_blank_gets_zero_without_crashing(honest):
    result = honest[1]["blank"]
    assert result.status == "graded" and result.score == 0.0
    assert "NotImplementedError" in result.questions[0]["cases"][0]["problem"]
    assert any("predict:model_score" in p for p in result.problems)


def test_partial_gets_partial_marks(honest):
    result = honest[1]["partial"]
    metric = result.metrics[0]
    assert 0.4 < metric["value"] < 0.6 and 0 < metric["points"] < 4
    assert square_points(result) == 0.0
    assert result.score == pytest.approx(metric["points"])


def test_delegating_to_a_forbidden_library_earns_nothing_and_says_why(honest):
    course, graded = honest
    result = graded["delegator"]
    question = result.questions[0]
    assert question["forbidden"] and question["points"] == 0.0
    assert "not available" in question["cases"][0]["problem"]
    assert result.score == 4.0  # the model question is not affected
    text = outputs_text(autograded_notebook(course, "toy", "delegator"), "square_test")
    assert "does not allow (write it with NumPy)" in text


def test_gradebook_holds_the_trusted_points_and_notes(honest):
    course, graded = honest
    scores = gradebook.submission_scores(course / "gradebook.db", "toy")
    assert scores["partial"]["grades"]["model_score"] == pytest.approx(
        graded["partial"].metrics[0]["points"])
    assert scores["solution"]["grades"]["square_test"] == 2.0
    text = outputs_text(autograded_notebook(course, "toy", "partial"), "model_score")
    assert "[grader] model_score: accuracy = 0.4550 on 200 examples" in text
    assert "0 points at" in text  # the measured zero point is stated
    square = outputs_text(autograded_notebook(course, "toy", "partial"), "square_test")
    assert "0 of 4 graded cases passed" in square and "a negative number" in square


def test_feedback_has_no_hidden_test_or_case_line(honest):
    course, _ = honest
    done = feedback.generate_feedback(course, "toy")
    hidden = gradebook.hidden_test_lines(course / "gradebook.db", "toy")
    cases = feedback.case_lines(course, "toy")
    assert 'assert square(-4) == 16, "hidden: negative numbers"' in hidden
    assert any("args=(-4,)" in line for line in cases)
    assert len(done["files"]) == 4 and done["archive"].endswith(".zip")
    secret = feedback.secret_lines(hidden + cases, course / "release" / "toy")
    assert "import numpy as np" not in secret  # students have that line in the release
    for html in done["files"]:
        text = feedback.html_text(Path(html))
        assert "assert square(3) == 9" in text  # public tests stay visible
        assert not feedback.leaked_lines(Path(html), secret)


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
    hidden = ["for left, right in FLIP_PAIRS:", "assert square(-4) == 16"]
    page = tmp_path / "page.html"
    page.write_text("<pre>for left, right in FLIP_PAIRS:\nassert square(-4) == 16</pre>")
    folder = tmp_path / "submitted"
    folder.mkdir()
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("for left, right in FLIP_PAIRS:\n    pass")]
    nbformat.write(nb, folder / "a2.ipynb")
    assert feedback.leaks_in_feedback(page, hidden, folder) == ["assert square(-4) == 16"]
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
    assert table["blank"]["score"] == "0.0" and table["solution"]["overrides"] == ""
    written = export.write_gradescope(course, "toy", tmp_path / "gs")
    assert len(written) == 4


def test_a_formgrader_edit_of_a_grader_score_is_listed_not_silent(honest, tmp_path):
    course, _ = honest
    copy = tmp_path / "course"
    shutil.copytree(course, copy)
    from nbgrader.api import Gradebook

    with Gradebook(gradebook.db_url(copy / "gradebook.db")) as gb:  # what formgrader does
        gb.find_grade("model_score", "toy", "toy", "partial").manual_score = 4.0
        gb.db.commit()
    (changed,) = export.overrides(copy, "toy")
    assert changed.student == "partial" and changed.manual_score == 4.0
    assert changed.grader_score == pytest.approx(honest[1]["partial"].metrics[0]["points"])
    rows = {r["student"]: r for r in export.rows(copy, "toy")}
    assert rows["partial"]["overrides"].startswith("model_score: ")


def test_leaderboard_orders_by_accuracy(honest):
    course, _ = honest
    ranked = export.leaderboard(course, "toy")
    assert [e["student"] for e in ranked][:2] == ["delegator", "solution"]
    assert [e["student"] for e in ranked][2:] == ["partial", "blank"]
    assert ranked[-1]["rank"] == ""


def options(course, **extra):
    settings = dict(course_dir=course, assignment="toy", backend="bwrap", splits=SPLITS,
                    data_source="synthetic", progress=False, timeouts=HOSTILE_TIMEOUTS)
    settings.update(extra)
    return GradeOptions(**settings)


def test_rerun_skips_unchanged_and_force_regrades(honest):
    course, _ = honest
    chosen = ("solution", "blank")
    again = pipeline.grade(options(course, students=chosen))
    assert all(r.skipped for r in again)
    # A changed file means a regrade even without --force.
    (course / "submitted" / "blank" / "toy" / "notes.txt").write_text("late edit")
    changed = {r.student: r for r in pipeline.grade(options(course, students=chosen))}
    assert changed["solution"].skipped and not changed["blank"].skipped
    forced = pipeline.grade(options(course, students=chosen, force=True))
    assert not any(r.skipped for r in forced)
    assert {r.student: r.score for r in forced} == {"solution": 6.0, "blank": 0.0}


# --------------------------------------------------------------------------- attacks

SWALLOW_ERRORS = ("get_ipython().set_custom_exc((BaseException,), lambda *a, **k: None)\n"
                  + WRONG_SQUARE)
QUIET_TRACEBACKS = ("ip = get_ipython()\nip.showtraceback = lambda *a, **k: None\n"
                    "ip.showsyntaxerror = lambda *a, **k: None\n" + WRONG_SQUARE)
PATCHED_NUMPY = ("import numpy, numpy.testing\n"
                 "numpy.allclose = lambda *a, **k: True\nnumpy.isclose = lambda *a, **k: True\n"
                 "numpy.array_equal = lambda *a, **k: True\n"
                 "numpy.testing.assert_allclose = lambda *a, **k: None\n" + WRONG_SQUARE)
# Inside the case process: answer every request with 9 (the visible test's value) and make
# every cell of the notebook run report success.
PATCHED_RUNNER = (
    "import sys\n"
    "try:\n"
    "    import autograder.case_runner as runner, autograder.wire as wire\n"
    "    runner.CaseRunner.call = lambda self, request: {'id': request.get('id'),\n"
    "        'status': 'ok', 'value': wire.encode(9.0)}\n"
    "except ImportError:\n"
    "    pass\n"
    "import course.grading\n"
    "course.grading.tier_fraction = lambda *a, **k: 1.0\n" + WRONG_SQUARE)
FORGED_FILES = (
    "import json, os, glob\n"
    "for path in glob.glob('.grader/*') + glob.glob('*.ipynb'):\n"
    "    try:\n"
    "        os.chmod(path, 0o666)\n"
    "    except OSError:\n"
    "        pass\n"
    "open('.grader/run.json', 'w').write(json.dumps({'cells': []}))\n"
    "open('.grader/verdicts.json', 'w').write(json.dumps({'square_test': 2}))\n"
    "open('case-output.log', 'w').write('all cases passed')\n" + WRONG_SQUARE)
BACKGROUND_REWRITER = (
    "import os, time, json\n"
    "if os.fork() == 0:\n"
    "    os.setsid()\n"
    "    for _ in range(600):\n"
    "        try:\n"
    "            with open('.grader/run.json', 'w') as f:\n"
    "                json.dump({'cells': []}, f)\n"
    "            with open('/tmp/still-alive', 'w') as f:\n"
    "                f.write(str(time.time()))\n"
    "        except OSError:\n"
    "            pass\n"
    "        time.sleep(0.05)\n"
    "    os._exit(0)\n" + WRONG_SQUARE)


def snoop_source(paths: list[Path]) -> str:
    listed = ", ".join(repr(str(p)) for p in paths)
    return (
        "import os, socket, sqlite3\n"
        f"for p in [{listed}]:\n"
        "    print('EXISTS' if os.path.exists(p) else 'absent', p)\n"
        "print('top level:', sorted(os.listdir('/')))\n"
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
    )


@pytest.fixture(scope="session")  # once per worker: xdist interleaves modules
def planted(tmp_path_factory):
    """Another course's gradebook and solutions under /srv and a file in a randomly named
    top-level folder of the host, as a student's cell would look for them."""
    if os.geteuid() != 0:
        base = tmp_path_factory.mktemp("srv")
        roots = [base]
    else:
        base = Path("/srv") / f"course-{secrets.token_hex(4)}"
        roots = [base, Path("/") / f"top-{secrets.token_hex(4)}"]
    other = base / "other-course"
    (other / "source" / "ps1").mkdir(parents=True)
    (other / "gradebook.db").write_bytes(b"SQLite format 3\0")
    (other / "source" / "ps1" / "solution.ipynb").write_text("{}")
    files = [other / "gradebook.db", other / "source" / "ps1" / "solution.ipynb"]
    if len(roots) > 1:
        roots[1].mkdir()
        (roots[1] / "secret.txt").write_text("x")
        files.append(roots[1] / "secret.txt")
    yield files
    for root in roots:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")  # once per worker: xdist interleaves modules
def hostile(tmp_path_factory, planted):
    root = tmp_path_factory.mktemp("hostile")
    course = fixture_course(root)
    hidden_dir = root / "hidden-data"
    hidden_dir.mkdir()
    labels_file = hidden_dir / "toy_labels.npy"
    np.save(labels_file, np.arange(10))
    from autograder.release import release

    release(course, "toy")
    db = course / "gradebook.db"
    looked_for = [labels_file, db, course / "source", REPO / ".git", REPO / "assignments",
                  REPO / "tests", Path.home() / ".bashrc", *planted]
    gradebook_write = (
        f"import sqlite3\ncon = sqlite3.connect({str(db)!r})\n"
        "try:\n    con.execute('update grade set manual_score = 100')\n    con.commit()\n"
        "except sqlite3.Error as err:\n    print('gradebook write failed:', err)\n")
    tampered = submission(course, square=WRONG_SQUARE)
    for cell in tampered.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "square_test":
            cell.source = "pass  # all good"
    restructured = submission(course)
    restructured.cells = [c for c in restructured.cells
                          if c.metadata.get("nbgrader", {}).get("grade_id") != "square_test"]
    restructured.cells.insert(3, nbformat.from_dict(dict(restructured.cells[2])))
    archives = {
        "loop": pack(submission(course, square=WRONG_SQUARE + "\n\nwhile True:\n    pass")),
        "slow-right": pack(submission(course, square=SQUARE + "\n\nwhile True:\n    pass")),
        "exiter": pack(submission(course, square="import os\nos._exit(3)")),
        "membomb": pack(submission(course, model="blocks = [bytearray(2**27) for _ in range(10**4)]\n"
                                   + MODEL)),
        "forker": pack(submission(course, square=SQUARE + (
            "\nimport os, time\nchildren = 0\nfor _ in range(300):\n    try:\n"
            "        pid = os.fork()\n    except OSError:\n        print('fork refused')\n"
            "        break\n    if pid == 0:\n        time.sleep(120)\n        os._exit(0)\n"
            "    children += 1\nprint('children', children)"))),
        "snoop": pack(submission(course, square=SQUARE + "\n" + snoop_source(looked_for)
                                 + gradebook_write)),
        "swallower": pack(submission(course, square=SWALLOW_ERRORS)),
        "quiet": pack(submission(course, square=QUIET_TRACEBACKS)),
        "numpy-patcher": pack(submission(course, square=PATCHED_NUMPY)),
        "runner-patcher": pack(submission(course, square=PATCHED_RUNNER)),
        "forger": pack(submission(course, square=FORGED_FILES)),
        "background": pack(submission(course, square=BACKGROUND_REWRITER)),
        "metric-patcher": pack(submission(course, model=SWAPPED_MODEL + (
            "\nimport builtins, sys, types, numpy\n"
            "numpy.argmax = lambda *a, **k: 0\nnumpy.mean = lambda *a, **k: 1.0\n"
            "fake = types.ModuleType('course.metrics')\nfake.accuracy = lambda *a, **k: 1.0\n"
            "sys.modules['course.metrics'] = fake\n"
            "builtins.AssertionError = type('Quiet', (Exception,), {})"))),
        "tamperer": pack(tampered),
        "restructurer": pack(restructured),
        "garbage": pack(b"{this is not json"),
        # A module in the work dir that the kernel imports before anything else: no kernel
        # ever starts (as when a loaded machine kills a kernel during its start).
        "kernel-breaker": pack(submission(course), {"ipykernel_launcher.py": b"raise SystemExit(3)\n"}),
        "shouter": pack(submission(course, square=SQUARE + (
            "\nimport sys\nfor _ in range(100):\n    sys.stdout.write('x' * 10**6)"))),
    }
    graded = grade_assignment(course, "toy", archives, workers=2, timeouts=HOSTILE_TIMEOUTS,
                              hidden_dir=hidden_dir)
    return course, graded


WRONG_ANSWER_ATTACKS = ["loop", "exiter", "swallower", "quiet", "numpy-patcher",
                        "runner-patcher", "forger", "background", "tamperer"]


@pytest.mark.slow
def test_every_hostile_submission_ends_with_grade_or_reason(hostile):
    _, graded = hostile
    assert len(graded) == 18
    for student, result in graded.items():
        assert result.status in ("graded", "failed"), student
        if result.status == "failed":
            assert result.reason and result.fault == "submission", student


@pytest.mark.slow
@pytest.mark.parametrize("attack", WRONG_ANSWER_ATTACKS)
def test_attacks_with_a_wrong_answer_earn_no_more_than_blank(hostile, attack):
    result = hostile[1][attack]
    assert result.status == "graded"
    assert square_points(result) == 0.0  # the blank notebook's points on this question


@pytest.mark.slow
def test_an_endless_loop_costs_its_cell_and_later_cells_run_for_real(hostile):
    course, graded = hostile
    loop = graded["loop"]
    assert "square_answer: timeout (kernel replaced)" in loop.problems
    events = {e["label"]: e["status"] for e in loop.cells}
    assert events["model_answer"] == "ok" and events["model_score"] == "ok"
    text = outputs_text(autograded_notebook(course, "toy", "loop"), "model_score")
    assert "[grader] model_score: accuracy = 1.0000" in text
    assert loop.score == 4.0
    # A right answer followed by a loop keeps its points: the cases process stops the loop.
    assert square_points(graded["slow-right"]) == 2.0


@pytest.mark.slow
def test_kernel_exit_is_recorded_and_grading_goes_on(hostile):
    result = hostile[1]["exiter"]
    assert "square_answer: kernel died (replaced)" in result.problems
    assert {e["label"]: e["status"] for e in result.cells}["model_answer"] == "ok"
    assert result.score == 4.0


@pytest.mark.slow
def test_memory_bomb_is_stopped(hostile):
    result = hostile[1]["membomb"]
    assert "model_answer: memory limit" in result.problems
    assert result.score == 2.0


@pytest.mark.slow
def test_a_kernel_that_never_starts_is_graded_with_the_reason(hostile):
    result = hostile[1]["kernel-breaker"]
    assert result.status == "graded", result
    assert "kernel start: kernel died (replaced)" in result.problems
    assert not any(m["value"] is not None for m in result.metrics)  # no model ever ran


@pytest.mark.slow
def test_fork_storm_is_capped(hostile):
    course, graded = hostile
    text = outputs_text(autograded_notebook(course, "toy", "forker"), "square_answer")
    assert "fork refused" in text
    assert graded["forker"].score == 6.0


@pytest.mark.slow
def test_the_host_beyond_the_allow_list_is_invisible(hostile):
    course, graded = hostile
    text = outputs_text(autograded_notebook(course, "toy", "snoop"), "square_answer")
    assert "EXISTS" not in text and text.count("absent") >= 10
    assert "network blocked" in text and "NETWORK OPEN" not in text
    assert "shadow denied" in text and "uid 0" not in text
    top = text.split("top level:")[1].splitlines()[0]
    assert "srv" not in top and "top-" not in top and "home" not in top
    with sqlite3.connect(course / "gradebook.db") as con:
        assert con.execute("select max(manual_score) from grade").fetchone()[0] is None
    assert graded["snoop"].score == 6.0


@pytest.mark.slow
def test_nothing_in_the_kernel_changes_a_metric(hostile):
    result = hostile[1]["metric-patcher"]
    assert 0.4 < result.metrics[0]["value"] < 0.6  # the true accuracy of the swapped model


@pytest.mark.slow
def test_a_background_process_dies_with_the_notebook_run(hostile):
    result = hostile[1]["background"]
    # The runner stops every other process of the run before it writes its own records.
    assert result.status == "graded"
    assert any(e["label"] == "model_score" for e in result.cells)


@pytest.mark.slow
def test_edited_locked_test_is_restored_and_reported(hostile):
    result = hostile[1]["tamperer"]
    assert "locked cell 'square_test' was edited; the original was restored" in \
        result.structure_issues
    assert result.score == 4.0


@pytest.mark.slow
def test_deleted_and_duplicated_cells_are_reported_and_graded(hostile):
    result = hostile[1]["restructurer"]
    issues = " ".join(result.structure_issues)
    assert "'square_test' was deleted" in issues
    assert "'square_answer' appears 2 times" in issues
    assert result.status == "graded" and result.score == 6.0


@pytest.mark.slow
def test_invalid_json_is_a_recorded_failure(hostile):
    result = hostile[1]["garbage"]
    assert result.status == "failed" and result.reason.startswith("invalid notebook")


@pytest.mark.slow
def test_huge_output_is_truncated(hostile):
    course, graded = hostile
    folder = course / "autograded" / "shouter" / "toy"
    assert next(folder.glob("*.ipynb")).stat().st_size < 2_000_000
    assert graded["shouter"].status == "graded"


@pytest.mark.slow
def test_a_broken_file_is_not_retried_until_it_changes(hostile):
    course, _ = hostile
    (again,) = pipeline.grade(options(course, students=("garbage",)))
    assert again.skipped and again.fault == "submission"
    nbformat.write(submission(course), course / "submitted" / "garbage" / "toy" / "toy.ipynb")
    (regraded,) = pipeline.grade(options(course, students=("garbage",)))
    assert regraded.status == "graded" and regraded.score == 6.0


# --------------------------------------------------------------------------- shards, Keras

def test_sharded_grading_merges_to_the_same_grades(honest, tmp_path):
    course, graded = honest
    sharded = tmp_path / "course"
    shutil.copytree(course, sharded, ignore=shutil.ignore_patterns("grader_results",
                                                                   "autograded", "feedback"))
    shards.clear_submissions(sharded / "gradebook.db", "toy")
    for index in range(3):
        pipeline.grade(options(sharded, shard=(index, 3), gradebook=sharded / f"shard-{index}.db"))
    merged = shards.merge(sharded / "gradebook.db",
                          [sharded / f"shard-{i}.db" for i in range(3)])
    assert merged == {"toy": ["blank", "delegator", "partial", "solution"]}
    scores = gradebook.submission_scores(sharded / "gradebook.db", "toy")
    assert {s: v["score"] for s, v in scores.items()} == {s: r.score for s, r in graded.items()}
    with pytest.raises(ValueError, match="in both"):
        shards.merge(sharded / "gradebook.db", [sharded / "shard-0.db", sharded / "shard-0.db"])
    assert records.load_results(sharded, "toy").keys() == {"blank", "delegator", "partial",
                                                           "solution"}


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

    from autograder.scoring import load_module
    from course.metrics import keypoint_rmse

    splits = load_module(SPLITS)
    namespace: dict = {"keras": keras, "np": np}
    exec(source, namespace)  # noqa: S102
    namespace["final_model"].load_weights(weights)
    split = splits.load_grading_split("kp")
    expected = keypoint_rmse(split.labels, namespace["final_model"].predict(split.images,
                                                                             verbose=0))
    metric = graded["trained"].metrics[0]
    assert metric["value"] == pytest.approx(expected, rel=1e-4)
    assert graded["trained"].problems == []
    assert "kp_training: missing weights" in graded["forgetful"].problems


# --------------------------------------------------------------------------- misconfiguration

def test_missing_tiers_for_the_data_source_stop_before_grading(honest):
    from autograder.release import release

    course, _ = honest
    release(course, "kp")  # its grading file has synthetic tiers only
    with pytest.raises(GraderMisconfigured, match=r"no \[metric.real\] tiers"):
        pipeline.grade(options(course, assignment="kp", data_source="real"))


def test_a_test_cell_without_cases_stops_the_grader_once(honest, tmp_path):
    course, _ = honest
    copy = tmp_path / "course"
    shutil.copytree(course, copy, ignore=shutil.ignore_patterns("grader_results"))
    (copy / "grading" / "toy.py").unlink()
    with pytest.raises(GraderMisconfigured, match=r"\['square_test'\] have no graded cases"):
        pipeline.grade(options(copy))
    assert not (copy / "grader_results").exists()  # nothing recorded as graded


def test_an_unreadable_dataset_cache_stops_the_grader_with_the_fix(honest, tmp_path,
                                                                   monkeypatch):
    if os.geteuid() != 0:
        pytest.skip("a 0700 folder is readable to its owner: needs the root-started sandbox")
    course, _ = honest
    copy = tmp_path / "course"
    shutil.copytree(course, copy, ignore=shutil.ignore_patterns("grader_results"))
    cache = tmp_path / "private-cache"
    cache.mkdir(mode=0o700)
    (cache / "data.npz").write_bytes(b"x")
    monkeypatch.setenv("COURSE_CACHE", str(cache))
    with pytest.raises(GraderMisconfigured, match="cannot read the dataset cache.*chmod -R a\\+rX"):
        pipeline.grade(options(copy, force=True))
    assert not (copy / "grader_results").exists()


def test_a_grader_in_a_virtual_environment_under_tmp_grades(honest, tmp_path):
    """The sandbox replaces /tmp; the grader's own environment there must still be mounted."""
    course, _ = honest
    copy = tmp_path / "course"
    shutil.copytree(course, copy, ignore=shutil.ignore_patterns("grader_results"))
    venv = Path("/tmp") / f"grader-venv-{secrets.token_hex(4)}"
    try:
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
        site = next(venv.glob("lib/python3*/site-packages"))
        import site as host_site

        (site / "host.pth").write_text("\n".join(host_site.getsitepackages()) + "\n")
        run = subprocess.run(
            [str(venv / "bin" / "python"), "-m", "autograder.cli", "--course", str(copy),
             "grade", "toy", "--backend", "bwrap", "--data", "synthetic", "--splits", SPLITS,
             "--student", "solution", "--force", "--no-progress"],
            capture_output=True, text=True, timeout=300,
            env={**os.environ, "PYTHONPATH": str(REPO)})
        assert run.returncode == 0, run.stdout + run.stderr
        assert "1/1 graded" in run.stdout
        result = records.load_result(copy, "toy", "solution")
        assert result.score == 6.0
    finally:
        shutil.rmtree(venv, ignore_errors=True)


def test_the_user_backend_refuses_to_grade_where_student_code_could_read_solutions(honest):
    if not sandbox.UserSandbox().available()[0]:
        pytest.skip("the user backend needs root and a network namespace")
    course, _ = honest
    interpreter = Path(os.path.realpath(sys.executable))
    if not all(folder.stat().st_mode & 0o001 for folder in interpreter.parents):
        # An interpreter under a folder of mode 0700 (pyenv under /root): the unprivileged
        # uid cannot even start Python, and the grader must say that, once.
        with pytest.raises(GraderMisconfigured, match="could not start the grader's Python"):
            pipeline.grade(options(course, backend="user", force=True))
        return
    # This checkout is world-readable, and the user backend shows the host's files as they
    # are: its sources (solutions, cases) would be readable by student code.
    with pytest.raises(GraderMisconfigured, match="could read the grader's private files.*"
                                                   "chmod -R go-rwx"):
        pipeline.grade(options(course, backend="user", force=True))


def test_a_sandbox_finds_matplotlibs_font_list_instead_of_building_it(honest):
    """Each sandbox home is fresh; matplotlib (imported by Keras) reads the grader's copy of
    its font list there instead of scanning the fonts again in every run."""
    from autograder.setup import GradingSetup

    course, _ = honest
    setup = GradingSetup(options(course))
    try:
        work = setup.scratch / "probe"
        work.mkdir(mode=0o777)
        work.chmod(0o777)
        probe = ("import logging, sys\nlogging.basicConfig(level=logging.INFO, stream=sys.stdout)\n"
                 "import matplotlib, matplotlib.font_manager\nprint('CACHE', matplotlib.get_cachedir())")
        run = sandbox.run_sandboxed(setup.backend, setup.spec(work, None, sandbox.ROOT_MODE_UID_BASE),
                                    [sys.executable, "-c", probe], 120)
    finally:
        setup.close()
    assert run.returncode == 0, run.stderr_tail
    assert f"CACHE {work / '.matplotlib'}" in run.stderr_tail
    assert "generated new fontManager" not in run.stderr_tail
