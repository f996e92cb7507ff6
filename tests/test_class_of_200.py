"""A whole class: 200 uploads through ``collect``, ``grade`` (bwrap), ``export`` and ``similarity``.

The fixture assignment ``lab`` needs no TensorFlow. 180 students hand in a right
answer with their own trained weights; the other 20 are broken in the ways a
real class is: corrupt archives, notebooks that are not JSON, archives without
the weights, duplicated cells, work handed in late (the LMS export says when),
and one answer copied from another student with its variables renamed.
"""

from __future__ import annotations

import csv
import io
import time
import zipfile

import nbformat
import numpy as np
import pytest
from autograder_support import SPLITS, answer, fixture_course, released_notebook

from autograder import cli, records
from autograder.release import release
from autograder.sandbox import BwrapSandbox

pytestmark = [pytest.mark.slow,
              # one worker grades the class once for all the tests below (--dist loadgroup)
              pytest.mark.xdist_group("class-of-200"),
              pytest.mark.skipif(not BwrapSandbox().available()[0], reason="needs bubblewrap")]

CENTRES = 3 * np.array([[1, 0], [0, 1], [-1, 0], [0, -1]], dtype=float)
LONG_MEANS = '''def column_means(x):
    total = np.zeros(x.shape[1])
    count = 0
    for row in x:
        total = total + row
        count = count + 1
    return total / count'''
LONG_MEANS_RENAMED = '''def column_means(x):
    acc = np.zeros(x.shape[1])
    n = 0
    for r in x:
        acc = acc + r
        n = n + 1
    return acc / n'''
PREDICT = "        return -((x[:, None, :] - self.centres[None]) ** 2).sum(axis=-1)"
BROKEN = {"corrupt": range(0, 4), "not_json": range(4, 8), "no_weights": range(8, 12),
          "duplicated": range(12, 15), "late": range(15, 18), "copy": range(18, 20)}


def weights_file(rng) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, CENTRES + rng.normal(scale=0.05, size=CENTRES.shape))
    return buffer.getvalue()


def model_source(course) -> str:
    source = next(c.source for c in released_notebook(course, "lab").cells
                  if c.metadata.get("nbgrader", {}).get("grade_id") == "model_answer")
    return source.replace("        # YOUR CODE HERE\n        raise NotImplementedError()", PREDICT)


def archive(nb, files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("lab.ipynb", nb if isinstance(nb, bytes) else nbformat.writes(nb))
        for name, data in files.items():
            zf.writestr(name, data)
    return buffer.getvalue()


@pytest.fixture(scope="session")  # once per worker: xdist interleaves modules
def term(tmp_path_factory):
    root = tmp_path_factory.mktemp("class")
    course = fixture_course(root)
    release(course, "lab")
    model = model_source(course)
    rng = np.random.default_rng(200)
    inbox = root / "canvas-download"
    inbox.mkdir()
    times = ["login_id,submitted_at"]
    for i in range(200):
        student = f"s{i:03d}"
        nb = answer(released_notebook(course, "lab"), "model_answer", model)
        nb = answer(nb, "means_answer", f"def column_means(x):\n    # {student}\n"
                                        "    return x.mean(axis=0)")
        files = {"lab_model.npy": weights_file(rng)}
        when = "2027-02-14T20:00:00Z"
        if i in BROKEN["no_weights"]:
            files = {}
        if i in BROKEN["duplicated"]:
            nb.cells.insert(4, nbformat.from_dict(dict(nb.cells[3])))
        if i in BROKEN["late"]:
            when = "2027-02-16T08:00:00Z"  # 32 h late: two started days
        if i in BROKEN["copy"]:
            nb = answer(nb, "means_answer", LONG_MEANS if i == 18 else LONG_MEANS_RENAMED)
        data = archive(nb, files)
        if i in BROKEN["corrupt"]:
            data = data[: len(data) // 3]
        if i in BROKEN["not_json"]:
            data = archive(b"{ not a notebook", files)
        (inbox / f"{student}_{1000 + i}_{5000 + i}_lab_submission.zip").write_bytes(data)
        times.append(f"{student},{when}")
    (root / "times.csv").write_text("\n".join(times) + "\n")
    started = time.perf_counter()
    base = ["--course", str(course)]
    collected = cli.main([*base, "collect", "lab", str(inbox), "--times", str(root / "times.csv")])
    graded = cli.main([*base, "grade", "lab", "--backend", "bwrap", "--workers", "2",
                       "--data", "synthetic", "--splits", SPLITS, "--no-progress",
                       "--timeout-test", "20", "--timeout-default", "20",
                       "--timeout-training", "20", "--timeout-predict", "20"])
    exported = cli.main([*base, "export", "lab", str(root / "grades.csv")])
    seconds = time.perf_counter() - started
    similar = cli.main([*base, "similarity", "lab", "--csv", str(root / "similar.csv")])
    print(f"\nclass of 200: collect + grade + export in {seconds:.0f} s")
    return course, root, (collected, graded, exported, similar), seconds


def test_every_one_of_200_students_has_a_record(term):
    course, _, codes, _ = term
    collected, graded, exported, similar = codes
    assert collected == 1  # four archives could not be read: reported, collection went on
    assert graded == 0 and exported == 0 and similar == 0  # no failure is the grader's
    results = records.load_results(course, "lab")
    assert len(results) == 200
    failed = {s: r for s, r in results.items() if not r.graded}
    assert set(failed) == {f"s{i:03d}" for i in (*BROKEN["corrupt"], *BROKEN["not_json"])}
    for student in (f"s{i:03d}" for i in BROKEN["corrupt"]):
        assert "bad archive" in failed[student].reason
    for student in (f"s{i:03d}" for i in BROKEN["not_json"]):
        assert failed[student].reason.startswith("invalid notebook")
    assert all(r.fault == "submission" for r in failed.values())


def test_grades_penalties_and_problems_are_in_the_gradebook_csv(term):
    _, root, _, _ = term
    with open(root / "grades.csv") as handle:
        rows = {r["student"]: r for r in csv.DictReader(handle)}
    assert len(rows) == 200
    assert rows["s100"]["score"] == "6.0"
    for i in BROKEN["no_weights"]:
        assert rows[f"s{i:03d}"]["score"] == "2.0"  # the exercise, not the model
        assert "missing weights" in rows[f"s{i:03d}"]["problems"]
    for i in BROKEN["duplicated"]:
        assert rows[f"s{i:03d}"]["score"] == "6.0"
        assert "appears 2 times" in rows[f"s{i:03d}"]["structure_issues"]
    for i in BROKEN["late"]:
        row = rows[f"s{i:03d}"]
        assert float(row["late_penalty"]) == pytest.approx(6.0 * 0.1 * 2)
        assert float(row["score"]) == pytest.approx(6.0 * 0.8)
        assert row["submitted_at"].startswith("2027-02-16T08:00")
    assert rows["s050"]["late_penalty"] in ("0.0", "0")


def test_the_similarity_report_finds_the_copy_and_nothing_else(term):
    _, root, _, _ = term
    with open(root / "similar.csv") as handle:
        findings = list(csv.DictReader(handle))
    assert [(f["evidence"], f["students"]) for f in findings] == [
        ("near-identical answer", "s018, s019")]
