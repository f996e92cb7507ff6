"""Assignments A1 (CNN classification) and A3 (segmentation), without training.

The instructor's solution cells are run with the visible and hidden test cells
of the source notebooks; plausible wrong answers must fail those tests; the
released notebooks must hold no solution code and no hidden tests, and must be
what ``nbgrader generate_assignment`` makes from the sources today.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import nbformat
import numpy as np
import pytest

from course import runtime

ROOT = Path(__file__).resolve().parents[1]
COURSE_DIR = ROOT / "assignments"
A1 = "a1_cnn_classification"
A3 = "a3_segmentation"
HIDDEN_BLOCK = re.compile(r"[ \t]*### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS[ \t]*\n?", re.S)
SOLUTION_BLOCK = re.compile(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", re.S)


def notebook(kind: str, name: str) -> nbformat.NotebookNode:
    return nbformat.read(COURSE_DIR / kind / name / f"{name}.ipynb", as_version=4)


def cells_by_id(name: str) -> dict[str, str]:
    """Source of every nbgrader cell of the source notebook, by grade_id."""
    return {
        cell.metadata["nbgrader"]["grade_id"]: cell.source
        for cell in notebook("source", name).cells
        if "nbgrader" in cell.metadata
    }


def visible_part(test_source: str) -> str:
    """The test cell as released to students (hidden tests removed)."""
    return HIDDEN_BLOCK.sub("", test_source)


class Notebook:
    """A namespace holding a notebook's imports, in which cells are executed."""

    def __init__(self, name: str, imports_id: str):
        self.cells = cells_by_id(name)
        self.namespace: dict = {"__name__": "__main__"}
        self.run(imports_id)

    def run(self, grade_id: str) -> None:
        self.run_source(self.cells[grade_id], grade_id)

    def run_source(self, source: str, label: str = "<cell>") -> None:
        exec(compile(source, label, "exec"), self.namespace)


@pytest.fixture(scope="module", autouse=True)
def _headless():
    import matplotlib

    matplotlib.use("Agg")


def a1() -> Notebook:
    return Notebook(A1, "a1_imports")


def a3() -> Notebook:
    return Notebook(A3, "a3_imports")


# --------------------------------------------------------------------------- solutions pass

A1_QUESTIONS = [
    ("conv_forward", "test_conv_forward"),
    ("max_pool_forward", "test_max_pool_forward"),
    ("conv_shapes", "test_conv_shapes"),
    ("softmax_cross_entropy", "test_softmax_cross_entropy"),
    ("build_model", "test_build_model"),
]
A3_QUESTIONS = [
    ("conv_transpose_forward", "test_conv_transpose_forward"),
    ("iou", "test_iou"),
    ("build_unet", "test_build_unet"),
]


@pytest.mark.parametrize(("solution_id", "test_id"), A1_QUESTIONS)
def test_a1_solution_passes_visible_and_hidden_tests(solution_id, test_id):
    nb = a1()
    assert "### BEGIN HIDDEN TESTS" in nb.cells[test_id] or test_id == "test_build_model"
    nb.run(solution_id)
    nb.run(test_id)


@pytest.mark.parametrize(("solution_id", "test_id"), A3_QUESTIONS)
def test_a3_solution_passes_visible_and_hidden_tests(solution_id, test_id):
    nb = a3()
    assert "### BEGIN HIDDEN TESTS" in nb.cells[test_id]
    nb.run(solution_id)
    nb.run(test_id)


# --------------------------------------------------------------------------- wrong answers fail

WRONG_A1 = {
    "conv_forward ignores the stride": (
        "test_conv_forward",
        """
def conv_forward(x, w, b, stride=1, pad=0):
    x = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    f = w.shape[0]
    rows, cols = x.shape[1] - f + 1, x.shape[2] - f + 1
    out = np.empty((x.shape[0], rows, cols, w.shape[3]))
    for i in range(rows):
        for j in range(cols):
            out[:, i, j] = np.tensordot(x[:, i:i + f, j:j + f], w, axes=([1, 2, 3], [0, 1, 2]))
    return out + b
""",
    ),
    "conv_forward flips the kernel (true convolution)": (
        "test_conv_forward",
        """
_reference = conv_forward
def conv_forward(x, w, b, stride=1, pad=0):
    return _reference(x, w[::-1, ::-1], b, stride, pad)
""",
    ),
    "conv_forward ignores the padding": (
        "test_conv_forward",
        """
_reference = conv_forward
def conv_forward(x, w, b, stride=1, pad=0):
    return _reference(x, w, b, stride, 0)
""",
    ),
    "max pooling starts its maximum at 0": (
        "test_max_pool_forward",
        """
_reference = max_pool_forward
def max_pool_forward(x, size=2, stride=2):
    return np.maximum(_reference(x, size, stride), 0.0)
""",
    ),
    "average pooling instead of max pooling": (
        "test_max_pool_forward",
        """
def max_pool_forward(x, size=2, stride=2):
    rows, cols = (x.shape[1] - size) // stride + 1, (x.shape[2] - size) // stride + 1
    return np.stack([np.stack([x[:, i * stride:i * stride + size, j * stride:j * stride + size].mean(axis=(1, 2))
                               for j in range(cols)], axis=1) for i in range(rows)], axis=1)
""",
    ),
    "output size off by one (no + 1)": (
        "test_conv_shapes",
        """
_reference = conv_output_size
def conv_output_size(w, f, p, s):
    return _reference(w, f, p, s) - 1
""",
    ),
    "output size floors instead of raising": (
        "test_conv_shapes",
        """
def conv_output_size(w, f, p, s):
    return (w - f + 2 * p) // s + 1
""",
    ),
    "parameter count forgets the biases": (
        "test_conv_shapes",
        """
def conv_param_count(f, d_in, k):
    return f * f * d_in * k
""",
    ),
    "softmax gradient without the division by N": (
        "test_softmax_cross_entropy",
        """
_reference = softmax_cross_entropy
def softmax_cross_entropy(logits, y):
    loss, dlogits = _reference(logits, y)
    return loss, dlogits * logits.shape[0]
""",
    ),
    "softmax gradient without the one-hot subtraction": (
        "test_softmax_cross_entropy",
        """
_reference = softmax_cross_entropy
def softmax_cross_entropy(logits, y):
    loss, dlogits = _reference(logits, y)
    dlogits = dlogits.copy()
    dlogits[np.arange(len(y)), y] += 1.0 / len(y)
    return loss, dlogits
""",
    ),
    "softmax without the max shift overflows": (
        "test_softmax_cross_entropy",
        """
def softmax_cross_entropy(logits, y):
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        n = len(y)
        loss = -np.log(probs[np.arange(n), y]).mean()
        grad = probs.copy()
        grad[np.arange(n), y] -= 1.0
    return float(loss), grad / n
""",
    ),
    "a dense network, no convolution": (
        "test_build_model",
        """
def build_model():
    model = keras.Sequential([keras.Input((28, 28)), layers.Rescaling(1 / 255), layers.Flatten(),
                              layers.Dense(64, activation="relu"), layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model
""",
    ),
    "a CNN that outputs logits, not probabilities": (
        "test_build_model",
        """
def build_model():
    model = keras.Sequential([keras.Input((28, 28)), layers.Reshape((28, 28, 1)),
                              layers.Conv2D(4, 3), layers.Flatten(), layers.Dense(10)])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model
""",
    ),
    "a CNN that expects (28, 28, 1) float images": (
        "test_build_model",
        """
def build_model():
    model = keras.Sequential([keras.Input((28, 28, 1)), layers.Conv2D(4, 3), layers.Flatten(),
                              layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model
""",
    ),
}

WRONG_A3 = {
    "transposed convolution that forgets the stride": (
        "test_conv_transpose_forward",
        """
_reference = conv_transpose_forward
def conv_transpose_forward(x, w, stride, padding):
    return _reference(x, w, 1, padding)
""",
    ),
    "transposed convolution that flips the kernel": (
        "test_conv_transpose_forward",
        """
_reference = conv_transpose_forward
def conv_transpose_forward(x, w, stride, padding):
    return _reference(x, w[::-1, ::-1], stride, padding)
""",
    ),
    "transposed convolution that crops 'same' from the first row": (
        "test_conv_transpose_forward",
        """
_reference = conv_transpose_forward
def conv_transpose_forward(x, w, stride, padding):
    if padding != "same":
        return _reference(x, w, stride, padding)
    full = _reference(x, w, stride, "valid")
    return full[:, :x.shape[1] * stride, :x.shape[2] * stride]
""",
    ),
    "IoU whose union double-counts the intersection": (
        "test_iou",
        """
def iou_per_class(y_true, y_pred, num_classes):
    out = np.full(num_classes, np.nan)
    for c in range(num_classes):
        total = (y_true == c).sum() + (y_pred == c).sum()
        if total:
            out[c] = ((y_true == c) & (y_pred == c)).sum() / total
    return out
""",
    ),
    "IoU of an absent class counted as 0": (
        "test_iou",
        """
_reference = iou_per_class
def iou_per_class(y_true, y_pred, num_classes):
    return np.nan_to_num(_reference(y_true, y_pred, num_classes), nan=0.0)
""",
    ),
    "mean IoU that does not skip NaN": (
        "test_iou",
        """
def mean_iou(y_true, y_pred, num_classes):
    return float(np.mean(iou_per_class(y_true, y_pred, num_classes)))
""",
    ),
    "encoder-decoder without skip connections": (
        "test_build_unet",
        """
def build_unet(input_shape, num_classes):
    inputs = keras.Input(shape=input_shape)
    x = inputs
    for filters in (8, 16, 32):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = layers.MaxPooling2D(2)(x)
    for filters in (32, 16, 8):
        x = layers.Conv2DTranspose(filters, 2, strides=2, padding="same", activation="relu")(x)
    return keras.Model(inputs, layers.Conv2D(num_classes, 1, activation="softmax")(x))
""",
    ),
    "U-Net without the final softmax": (
        "test_build_unet",
        """
_reference = build_unet
def build_unet(input_shape, num_classes):
    model = _reference(input_shape, num_classes)
    model.layers[-1].activation = keras.activations.linear
    return model
""",
    ),
}


def _fails(nb: Notebook, solution_id: str, test_id: str, wrong_source: str, *, visible_only=False):
    nb.run(solution_id)  # the wrong answers may wrap the reference to change one thing
    nb.run_source(wrong_source, "wrong answer")
    test_source = nb.cells[test_id]
    with pytest.raises(AssertionError):
        nb.run_source(visible_part(test_source) if visible_only else test_source, test_id)


def _solution_for(test_id: str, questions) -> str:
    return next(solution for solution, test in questions if test == test_id)


@pytest.mark.parametrize("mistake", sorted(WRONG_A1))
def test_a1_wrong_answer_fails_its_tests(mistake):
    test_id, source = WRONG_A1[mistake]
    _fails(a1(), _solution_for(test_id, A1_QUESTIONS), test_id, source)


@pytest.mark.parametrize("mistake", sorted(WRONG_A3))
def test_a3_wrong_answer_fails_its_tests(mistake):
    test_id, source = WRONG_A3[mistake]
    _fails(a3(), _solution_for(test_id, A3_QUESTIONS), test_id, source)


def test_hidden_tests_catch_a_mistake_the_visible_ones_miss():
    """The 'same' crop only differs from cropping at row 0 when F - S >= 2."""
    test_id, source = WRONG_A3["transposed convolution that crops 'same' from the first row"]
    nb = a3()
    nb.run("conv_transpose_forward")
    nb.run_source(source)
    nb.run_source(visible_part(nb.cells[test_id]))  # passes what students can see
    with pytest.raises(AssertionError):
        nb.run(test_id)


def _model_score_namespace(nb: Notebook, final_model, images) -> None:
    nb.namespace.update(final_model=final_model, x_test=images, test_accuracy=0.5, test_miou=0.5)


def test_a1_model_score_public_checks():
    nb = a1()
    nb.run("build_model")
    images = np.zeros((20, 28, 28), np.uint8)
    _model_score_namespace(nb, nb.namespace["build_model"](), images)
    nb.run("model_score")
    keras = nb.namespace["keras"]
    nine_classes = keras.Sequential(
        [keras.Input((28, 28)), keras.layers.Flatten(), keras.layers.Dense(9, activation="softmax")]
    )
    _model_score_namespace(nb, nine_classes, images)
    with pytest.raises(AssertionError):
        nb.run("model_score")
    del nb.namespace["final_model"]
    with pytest.raises(AssertionError):
        nb.run("model_score")


def test_a3_model_score_public_checks():
    nb = a3()
    nb.run("build_unet")
    nb.namespace["NUM_CLASSES"] = 3
    images = np.zeros((4, 64, 64, 3), np.float32)
    _model_score_namespace(nb, nb.namespace["build_unet"]((None, None, 3), 3), images)
    nb.run("model_score")
    # A dense bottleneck ties the model to 64x64: it cannot segment the grader's 128x128 images
    # (Keras raises its own error inside predict, which fails the cell like an assertion).
    keras, layers = nb.namespace["keras"], nb.namespace["layers"]
    inputs = keras.Input((64, 64, 3))
    x = layers.Flatten()(layers.AveragePooling2D(8)(inputs))
    x = layers.Reshape((8, 8, 3))(layers.Dense(8 * 8 * 3)(x))
    fixed_size = keras.Model(inputs, layers.Softmax()(layers.UpSampling2D(8)(x)))
    _model_score_namespace(nb, fixed_size, images)
    nb.run_source("_ = final_model.predict(x_test, verbose=0)")  # fine at its own size
    with pytest.raises(Exception, match="128|768|192|shape|Incompatible"):
        nb.run("model_score")


# --------------------------------------------------------------------------- notebook layout


@pytest.mark.parametrize("name", [A1, A3])
def test_layout_follows_the_contract(name):
    nb = notebook("source", name)
    first_markdown = next(c for c in nb.cells if c.cell_type == "markdown")
    assert first_markdown.source.startswith("# ")
    badge = (
        "https://colab.research.google.com/github/dl-vision-course/dl-vision-course/blob/main/"
        f"assignments/release/{name}/{name}.ipynb"
    )
    assert badge in first_markdown.source
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    assert code_cells[0].source == runtime.BOOTSTRAP_CELL
    assert all(not c.outputs and c.execution_count is None for c in code_cells)
    training = [c for c in code_cells if "training" in c.metadata.get("tags", [])]
    assert len(training) == 1 and "grading.fit_or_restore(" in training[0].source
    assert "final_model = " in training[0].source
    assert code_cells[-1].source.startswith(f'grading.bundle_submission("{name}", "{name}.ipynb"')
    grade_ids = [c.metadata["nbgrader"]["grade_id"] for c in nb.cells if "nbgrader" in c.metadata]
    assert len(grade_ids) == len(set(grade_ids))
    points = sum(
        c.metadata["nbgrader"].get("points", 0)
        for c in nb.cells
        if c.metadata.get("nbgrader", {}).get("grade")
    )
    assert points == 100


def _real_tiers(name: str) -> dict:
    config = tomllib.loads((COURSE_DIR / "grading" / f"{name}.toml").read_text())
    (metric,) = config["metric"]
    assert metric["grade_id"] == "model_score" and metric["model"] == "final_model"
    return metric


def test_a1_tiers_printed_for_students_match_the_grader():
    metric = _real_tiers(A1)
    text = cells_by_id(A1)["score_intro"]
    for threshold, fraction in metric["real"]["tiers"]:
        assert f"| ≥ {threshold * 100:.1f} % | {fraction * 100:.0f} % |" in text
    assert f"to 0 at {metric['real']['zero_at'] * 100:.0f} %" in text


def test_a3_tiers_printed_for_students_match_the_grader():
    metric = _real_tiers(A3)
    text = cells_by_id(A3)["score_intro"]
    for threshold, fraction in metric["real"]["tiers"]:
        assert f"| ≥ {threshold:.2f} | {fraction * 100:.0f} % |" in text
    assert f"to 0 at {metric['real']['zero_at']:.2f}" in text


@pytest.mark.parametrize("name", [A1, A3])
def test_weights_file_matches_the_grading_config(name):
    training = next(
        c.source for c in notebook("source", name).cells if "training" in c.metadata.get("tags", [])
    )
    assert f'WEIGHTS = "{_real_tiers(name)["weights"]}"' in training


# --------------------------------------------------------------------------- releases

RELEASED = [A1, A3, "project_report"]


def _cells_by_grade_id(nb: nbformat.NotebookNode) -> dict:
    return {c.metadata["nbgrader"]["grade_id"]: c for c in nb.cells if "nbgrader" in c.metadata}


def release_problems(name: str, release_nb: nbformat.NotebookNode) -> list[str]:
    """Solution code, hidden tests or edited cells found in a released notebook."""
    source = _cells_by_grade_id(notebook("source", name))
    release = _cells_by_grade_id(release_nb)
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
            leaked = [
                line.strip()
                for region in regions
                for line in region.splitlines()
                if len(line.strip()) > 12
                and not line.strip().startswith("#")
                and line.strip() in released
            ]
            if leaked:
                found.append(f"{grade_id}: solution lines released: {leaked[:3]}")
            if "YOUR CODE HERE" not in released and released != "YOUR ANSWER HERE":
                found.append(f"{grade_id}: no answer stub")
        elif meta["grade"]:
            # Test cells reach students exactly as written, minus the hidden block.
            if released.rstrip() != visible_part(cell.source).rstrip():
                found.append(f"{grade_id}: test cell differs from the visible tests")
        elif released != cell.source:
            found.append(f"{grade_id}: locked cell differs from the source")
    return found


@pytest.mark.parametrize("name", RELEASED)
def test_release_holds_no_solutions_and_no_hidden_tests(name):
    assert release_problems(name, notebook("release", name)) == []


@pytest.mark.parametrize("name", RELEASED)
def test_release_check_notices_leaked_solutions_and_hidden_tests(name):
    problems = release_problems(name, notebook("source", name))
    assert any("solution lines released" in p for p in problems)
    if name != "project_report":
        assert any("HIDDEN TESTS marker" in p for p in problems)
