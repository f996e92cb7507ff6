"""Assignments A1 (CNN classification) and A3 (segmentation): the notebooks, without training.

The graded cases that decide the points are tested in tests/test_cases_a1.py and
tests/test_cases_a3.py. Here: the instructor's solution passes the visible test cells, the
typical wrong answers fail them (or, for the few listed, only the graded cases), the notebooks
state what the grader does (points, tiers and their derivation, the grading splits, the late
policy, self-contained answers), and the released notebooks hold no solution.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import nbformat
import numpy as np
import pytest
import test_cases_a1 as cases_a1
import test_cases_a3 as cases_a3
from case_support import evaluate, questions, solution_namespace

from autograder.config import parse_grading_toml, parse_submission_policy
from autograder.setup import CASE_SETUP_TAG
from course import notebooks

ROOT = Path(__file__).resolve().parents[1]
COURSE_DIR = ROOT / "assignments"
A1 = "a1_cnn_classification"
A3 = "a3_segmentation"
HIDDEN_BLOCK = re.compile(r"[ \t]*### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS[ \t]*\n?", re.S)
SOLUTION_BLOCK = re.compile(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", re.S)


def notebook_path(kind: str, name: str) -> Path:
    return COURSE_DIR / kind / name / f"{name}.ipynb"


def notebook(kind: str, name: str) -> nbformat.NotebookNode:
    return nbformat.read(notebook_path(kind, name), as_version=4)


def cells_by_id(nb: nbformat.NotebookNode) -> dict[str, nbformat.NotebookNode]:
    return {c.metadata["nbgrader"]["grade_id"]: c for c in nb.cells if "nbgrader" in c.metadata}


def grading_toml(name: str) -> Path:
    return COURSE_DIR / "grading" / f"{name}.toml"


@pytest.fixture(scope="module", autouse=True)
def _headless():
    import matplotlib

    matplotlib.use("Agg")


# --------------------------------------------------------------------------- visible tests

def _pairs(name: str) -> list[tuple[str, str]]:
    """(answer cell, test cell) for every autograded test cell decided by graded cases."""
    graded = questions(name)
    cells = cells_by_id(notebook("source", name))
    answer_of = {}
    for grade_id, cell in cells.items():
        if cell.metadata["nbgrader"]["solution"] and cell.cell_type == "code":
            for function in re.findall(r"^def (\w+)\(", cell.source, re.M):
                answer_of[function] = grade_id
    return [(answer_of[q.function], grade_id) for grade_id, q in graded.items()]


def _namespace(name: str) -> dict:
    return solution_namespace(notebook_path("source", name))


@pytest.mark.parametrize(("name", "answer_id", "test_id"),
                         [(A1, *p) for p in _pairs(A1)] + [(A3, *p) for p in _pairs(A3)])
def test_solution_passes_the_visible_tests(name, answer_id, test_id):
    namespace = _namespace(name)
    exec(cells_by_id(notebook("source", name))[test_id].source, namespace)  # noqa: S102


# Mistakes that the visible tests do not show; the graded cases catch them.
CAUGHT_ONLY_BY_GRADED_CASES = {
    ("test_max_pool_forward", "maximum over the channels too"),
    ("test_conv_output_size", "only checks that the stride divides"),
    ("test_conv_transpose_forward", "'same' cropped from the first row"),
    ("test_conv_transpose_forward", "'valid' returns the uncropped output"),
    ("test_iou_per_class", "IoU per image, averaged over the batch"),
    ("test_iou_per_class", "uint8 overflow in the label pairs"),
    ("test_mean_iou", "mean of the per-image means"),
}
WRONG = ([(A1, gid, mistake) for gid, table in cases_a1.WRONG.items() for mistake in table]
         + [(A3, gid, mistake) for gid, table in cases_a3.WRONG.items() for mistake in table])


def _with_wrong_answer(name: str, grade_id: str, mistake: str) -> dict:
    namespace = _namespace(name)
    if name == A1:
        wrong = cases_a1.WRONG[grade_id][mistake][0]
    else:
        wrong = cases_a3.WRONG[grade_id][mistake][0](namespace)
    namespace[questions(name)[grade_id].function] = wrong
    return namespace


@pytest.mark.parametrize(("name", "grade_id", "mistake"), WRONG)
def test_wrong_answer_fails_the_visible_tests_or_the_graded_cases(name, grade_id, mistake):
    namespace = _with_wrong_answer(name, grade_id, mistake)
    source = cells_by_id(notebook("source", name))[grade_id].source
    if (grade_id, mistake) in CAUGHT_ONLY_BY_GRADED_CASES:
        exec(source, namespace)  # noqa: S102  (passes what the student can see ...)
        function = namespace[questions(name)[grade_id].function]
        assert evaluate(questions(name)[grade_id], function).points == 0  # ... not the grader
    else:
        with pytest.raises(Exception):  # noqa: B017, PT011 - an assertion or the error it hits
            exec(source, namespace)  # noqa: S102


# --------------------------------------------------------------------------- what the grader runs

@pytest.mark.parametrize("name", [A1, A3])
def test_no_hidden_tests_are_left(name):
    text = notebook_path("source", name).read_text()
    assert "BEGIN HIDDEN TESTS" not in text and "END HIDDEN TESTS" not in text


@pytest.mark.parametrize("name", [A1, A3])
def test_imports_are_the_only_case_setup_cell(name):
    tagged = [c for c in notebook("source", name).cells
              if CASE_SETUP_TAG in c.metadata.get("tags", [])]
    assert [c.metadata["nbgrader"]["grade_id"] for c in tagged] == [
        "a1_imports" if name == A1 else "a3_imports"]
    assert all(c.metadata["nbgrader"]["locked"] and c.cell_type == "code" for c in tagged)
    assert "import numpy as np" in tagged[0].source


@pytest.mark.parametrize("name", [A1, A3])
def test_every_autograded_cell_is_decided_outside_the_kernel(name):
    cells = cells_by_id(notebook("source", name))
    tests = {gid for gid, c in cells.items()
             if c.metadata["nbgrader"]["grade"] and not c.metadata["nbgrader"]["solution"]}
    metrics = {q.grade_id for q in parse_grading_toml(grading_toml(name))}
    assert metrics == {"model_score"}
    assert set(questions(name)) | metrics == tests


@pytest.mark.parametrize("name", [A1, A3])
def test_the_notebook_says_answers_must_be_self_contained_and_numpy_only(name):
    intro = notebook("source", name).cells[0].source
    assert "Everything an answer needs must be\n  inside its own answer cell" in intro
    assert "NumPy only" in intro and "earns no points" in intro
    assert "all of its graded cases" in intro  # an all-or-nothing question, as graded
    assert not any(q.partial_credit for q in questions(name).values())


def test_a3_evaluates_with_the_students_own_iou():
    nb = notebook("source", A3)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "metrics." not in code and "from course import data, grading, plots, runtime" in code
    plain = [c.source for c in nb.cells if "nbgrader" not in c.metadata]
    assert any("iou_per_class(m_test, test_masks, NUM_CLASSES)" in s for s in plain)
    assert any("mean_iou(m_test, test_masks, NUM_CLASSES)" in s for s in plain)
    assert any("mean_iou(truth, guess, NUM_CLASSES)" in s for s in plain)


# --------------------------------------------------------------------------- points and tiers

def _table_points(intro: str) -> dict[str, int]:
    rows = re.findall(r"^\| [\d.]+ \| (.+?) \| (\d+) \|$", intro, re.M)
    return {what: int(points) for what, points in rows}


@pytest.mark.parametrize("name", [A1, A3])
def test_points_table_matches_the_cells(name):
    nb = notebook("source", name)
    cells = cells_by_id(nb)
    table = _table_points(nb.cells[0].source)
    assert sum(table.values()) == 100
    assert sum(c.metadata["nbgrader"].get("points", 0) for c in cells.values()
               if c.metadata["nbgrader"]["grade"]) == 100
    for grade_id, question in questions(name).items():
        row = next(points for what, points in table.items()
                   if what.startswith(f"`{question.function}`"))
        assert row == cells[grade_id].metadata["nbgrader"]["points"], grade_id
    model_row = next(points for what, points in table.items() if "trained model" in what)
    assert model_row == cells["model_score"].metadata["nbgrader"]["points"]
    written = sum(c.metadata["nbgrader"]["points"] for c in cells.values()
                  if c.metadata["nbgrader"]["grade"] and c.cell_type == "markdown")
    assert written == next(points for what, points in table.items()
                           if "written" in what)


def _tiers(name: str, source: str) -> list[list[float]]:
    (metric,) = tomllib.loads(grading_toml(name).read_text())["metric"]
    assert metric["grade_id"] == "model_score" and metric["model"] == "final_model"
    return metric[source]["tiers"]


QMNIST_LENET5_ERRORS = {"mnist_test": 0.82, "qmnist_new_50k": 1.08}  # %, Yadav & Bottou 2019
MNIST_TARGETS = (0.990, 0.985, 0.980)


def test_a1_real_tiers_are_the_mnist_targets_carried_to_qmnist():
    ratio = QMNIST_LENET5_ERRORS["qmnist_new_50k"] / QMNIST_LENET5_ERRORS["mnist_test"]
    tiers = _tiers(A1, "real")
    assert [fraction for _, fraction in tiers] == [1.0, 0.8, 0.6]
    for (threshold, _), target in zip(tiers, MNIST_TARGETS, strict=True):
        assert threshold == round(1 - ratio * (1 - target), 3)
    toml = grading_toml(A1).read_text()
    assert "0.82 %" in toml and "1.08 %" in toml and "1.317" in toml


def test_a1_tiers_printed_for_students_match_the_grader():
    text = cells_by_id(notebook("source", A1))["score_intro"].source
    for (threshold, fraction), target in zip(_tiers(A1, "real"), MNIST_TARGETS, strict=True):
        assert (f"| ≥ {threshold * 100:.1f} % | {target * 100:.1f} % | {fraction * 100:.0f} % |"
                in text)
    assert "0.82 %" in text and "1.08 %" in text and "1.32" in text
    assert "QMNIST's 50 000 test digits that are not in MNIST" in text
    assert "you never see" not in text and "public" in text


def test_a3_tiers_printed_for_students_match_the_grader():
    text = cells_by_id(notebook("source", A3))["score_intro"].source
    tiers = _tiers(A3, "real")
    assert tiers == [[0.75, 1.0], [0.70, 0.8], [0.65, 0.6]]
    for threshold, fraction in tiers:
        assert f"| ≥ {threshold:.2f} | {fraction * 100:.0f} % |" in text
    assert "3 669 photos" in text and "`test` split" in text
    data_text = cells_by_id(notebook("source", A3))["data_intro"].source
    assert "only the `train`\nsplit" in data_text and "3 680" in data_text


@pytest.mark.parametrize(("name", "dataset"), [(A1, "mnist"), (A3, "oxford_pets")])
def test_synthetic_tiers_sit_above_the_measured_zero_point(name, dataset):
    from autograder import splits
    from autograder.scoring import zero_point

    (question,) = parse_grading_toml(grading_toml(name))
    split = splits.load_grading_split(dataset, source="synthetic", limit=question.limit_quick)
    targets = splits.training_targets(dataset, source="synthetic", limit=question.limit_quick)
    zero = zero_point(question, targets, np.asarray(split.labels), question.tiers["synthetic"])
    # The grader refuses a zero point at or above the last tier; keep a real span below it.
    assert question.tiers["synthetic"].tiers[-1][0] - zero.value >= 0.05


# --------------------------------------------------------------------------- the late policy

@pytest.mark.parametrize("name", [A1, A3])
def test_late_policy_cell_states_the_graders_policy(name):
    policy = parse_submission_policy(grading_toml(name))
    assert policy.due is not None and 0 < policy.late_penalty_per_day < 1
    cell = cells_by_id(notebook("source", name))["late_policy"]
    assert cell.cell_type == "markdown" and cell.metadata["nbgrader"]["locked"]
    assert policy.describe() in cell.source


def test_late_policy_check_notices_a_changed_due_date(tmp_path):
    toml = tmp_path / "a1.toml"
    toml.write_text(grading_toml(A1).read_text().replace("2027-02-21", "2027-02-28"))
    cell = cells_by_id(notebook("source", A1))["late_policy"]
    assert parse_submission_policy(toml).describe() not in cell.source


# --------------------------------------------------------------------------- model score cells

def _model_score_namespace(namespace, final_model, images) -> None:
    namespace.update(final_model=final_model, x_test=images, test_accuracy=0.5)


def test_a1_model_score_public_checks():
    namespace = _namespace(A1)
    source = cells_by_id(notebook("source", A1))["model_score"].source
    images = np.zeros((20, 28, 28), np.uint8)
    _model_score_namespace(namespace, namespace["build_model"](), images)
    exec(source, namespace)  # noqa: S102
    keras = namespace["keras"]
    nine_classes = keras.Sequential(
        [keras.Input((28, 28)), keras.layers.Flatten(), keras.layers.Dense(9, activation="softmax")]
    )
    _model_score_namespace(namespace, nine_classes, images)
    with pytest.raises(AssertionError):
        exec(source, namespace)  # noqa: S102
    del namespace["final_model"]
    with pytest.raises(AssertionError):
        exec(source, namespace)  # noqa: S102


def test_a3_model_score_public_checks():
    namespace = _namespace(A3)
    namespace["NUM_CLASSES"] = 3
    source = cells_by_id(notebook("source", A3))["model_score"].source
    images = np.zeros((4, 64, 64, 3), np.float32)
    _model_score_namespace(namespace, namespace["build_unet"]((None, None, 3), 3), images)
    exec(source, namespace)  # noqa: S102
    # A dense bottleneck ties the model to 64x64: it cannot segment the grader's 128x128 images
    # (Keras raises its own error inside predict, which fails the cell like an assertion).
    keras, layers = namespace["keras"], namespace["layers"]
    inputs = keras.Input((64, 64, 3))
    x = layers.Flatten()(layers.AveragePooling2D(8)(inputs))
    x = layers.Reshape((8, 8, 3))(layers.Dense(8 * 8 * 3)(x))
    fixed_size = keras.Model(inputs, layers.Softmax()(layers.UpSampling2D(8)(x)))
    _model_score_namespace(namespace, fixed_size, images)
    with pytest.raises(Exception, match="128|768|192|shape|Incompatible"):
        exec(source, namespace)  # noqa: S102


# --------------------------------------------------------------------------- notebook layout

@pytest.mark.parametrize("name", [A1, A3])
def test_layout_follows_the_contract(name):
    path = notebook_path("source", name)
    assert notebooks.problems(path) == []
    nb = notebook("source", name)
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    training = [c for c in code_cells if "training" in c.metadata.get("tags", [])]
    assert len(training) == 1 and "grading.fit_or_restore(" in training[0].source
    assert "final_model = " in training[0].source
    assert code_cells[-1].source.startswith(f'grading.bundle_submission("{name}", "{name}.ipynb"')
    grade_ids = [c.metadata["nbgrader"]["grade_id"] for c in nb.cells if "nbgrader" in c.metadata]
    assert len(grade_ids) == len(set(grade_ids))
    assert "TODO" not in path.read_text()


@pytest.mark.parametrize("name", [A1, A3])
def test_weights_file_matches_the_grading_config(name):
    training = next(c.source for c in notebook("source", name).cells
                    if "training" in c.metadata.get("tags", []))
    (question,) = parse_grading_toml(grading_toml(name))
    assert f'WEIGHTS = "{question.weights}"' in training


def test_a1_leaves_the_architecture_to_the_student():
    cells = cells_by_id(notebook("source", A1))
    intro = cells["build_model_intro"].source
    assert "architecture is yours" in intro and "99 %" in intro and "(28, 28)" in intro
    for hint in ("3 \\times 3", "dropout", "two blocks", "MaxPooling", "Dense"):
        assert hint not in intro, hint


# --------------------------------------------------------------------------- releases

RELEASED = [A1, A3, "project_report"]


def release_problems(name: str, release_nb: nbformat.NotebookNode) -> list[str]:
    """Solution code, hidden tests or edited cells found in a released notebook."""
    source = cells_by_id(notebook("source", name))
    release = cells_by_id(release_nb)
    if source.keys() != release.keys():
        return [f"cells differ: {sorted(source.keys() ^ release.keys())}"]
    found = []
    for grade_id, cell in source.items():
        meta = cell.metadata["nbgrader"]
        released = release[grade_id].source
        for marker in ("HIDDEN TESTS", "BEGIN SOLUTION", "END SOLUTION"):
            if marker in released:
                found.append(f"{grade_id}: {marker} marker")
        if meta["solution"]:
            regions = SOLUTION_BLOCK.findall(cell.source) or [cell.source]
            leaked = [line.strip() for region in regions for line in region.splitlines()
                      if len(line.strip()) > 12 and not line.strip().startswith("#")
                      and line.strip() in released]
            if leaked:
                found.append(f"{grade_id}: solution lines released: {leaked[:3]}")
            if "YOUR CODE HERE" not in released and released != "YOUR ANSWER HERE":
                found.append(f"{grade_id}: no answer stub")
        elif meta["grade"]:
            if released.rstrip() != HIDDEN_BLOCK.sub("", cell.source).rstrip():
                found.append(f"{grade_id}: test cell differs from the visible tests")
        elif released != cell.source:
            found.append(f"{grade_id}: locked cell differs from the source")
    return found


@pytest.mark.parametrize("name", RELEASED)
def test_release_holds_no_solutions(name):
    assert release_problems(name, notebook("release", name)) == []


@pytest.mark.parametrize("name", RELEASED)
def test_release_check_notices_leaked_solutions(name):
    problems = release_problems(name, notebook("source", name))
    assert any("solution lines released" in p for p in problems)
    assert any("SOLUTION marker" in p for p in problems)


def solution_lines(name: str) -> list[str]:
    """Every stripped line of 20+ characters inside the solution regions of a notebook."""
    lines = []
    for cell in notebook("source", name).cells:
        if cell.metadata.get("nbgrader", {}).get("solution"):
            for region in SOLUTION_BLOCK.findall(cell.source) or [cell.source]:
                lines += [line.strip() for line in region.splitlines() if len(line.strip()) >= 20]
    return lines


def _published_text() -> str:
    texts = []
    for base in ("course", "units"):
        for path in sorted((ROOT / base).rglob("*")):
            if path.suffix == ".ipynb":
                texts += [c.source for c in nbformat.read(path, as_version=4).cells]
            elif path.suffix in (".py", ".md", ".txt", ".json", ".toml") and path.is_file():
                texts.append(path.read_text(errors="ignore"))
    return "\n".join(texts)


@pytest.mark.parametrize("name", RELEASED)
def test_no_solution_line_is_published_in_the_course_package_or_the_units(name):
    published = _published_text()
    lines = solution_lines(name)
    assert lines
    assert [line for line in lines if line in published] == []
