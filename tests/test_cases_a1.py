"""The graded cases of A1 (assignments/grading/a1_cnn_classification.py) decide right from wrong.

The instructor's solution earns every question's points; each typical wrong answer earns 0
for its question, with a feedback line that names what is wrong. Most verdicts come from
tests/case_support.evaluate (the grader's judging, in this process); the tests at the end run
the real case runner (``python -m autograder.case_runner``) on the notebook's case-setup and
answer cells, as the grader does, to show that an answer delegating to TensorFlow earns
nothing and that an answer leaning on a helper from another cell fails.

The wrong answers are written here, never in the notebook, the course package or the units.
"""

from __future__ import annotations

import importlib.util

import nbformat
import numpy as np
import pytest
from case_support import (
    case_cells,
    evaluate,
    problems,
    questions,
    replace_answer,
    run_in_case_runner,
    solution_namespace,
)

from autograder.cases import Question
from course.notebooks import ROOT

A1 = "a1_cnn_classification"
SOURCE = ROOT / "assignments" / "source" / A1 / f"{A1}.ipynb"


def _cells() -> dict[str, nbformat.NotebookNode]:
    nb = nbformat.read(SOURCE, as_version=4)
    return {c.metadata["nbgrader"]["grade_id"]: c for c in nb.cells if "nbgrader" in c.metadata}


@pytest.fixture(scope="module")
def a1() -> dict:
    return solution_namespace(SOURCE)


@pytest.fixture(scope="module")
def graded() -> dict[str, Question]:
    return questions(A1)


# --------------------------------------------------------------------------- the solution

def test_every_autograded_test_cell_has_graded_cases(graded):
    tests = {gid for gid, c in _cells().items()
             if c.metadata["nbgrader"]["grade"] and not c.metadata["nbgrader"]["solution"]}
    assert set(graded) == tests - {"model_score"}
    for question in graded.values():
        assert len(question.cases) >= 4, question.grade_id
        expected = "any" if question.function == "build_model" else "numpy"
        assert question.libraries == expected, question.grade_id


@pytest.mark.parametrize("grade_id", [
    "test_conv_forward", "test_max_pool_forward", "test_conv_output_size",
    "test_conv_param_count", "test_conv_backward", "test_max_pool_backward", "test_build_model",
])
def test_solution_earns_every_point(grade_id, a1, graded):
    question = graded[grade_id]
    verdict = evaluate(question, a1[question.function])
    assert verdict.points == verdict.max_points, problems(verdict)


def test_pool_gradient_reference_routes_ties_to_the_first_maximum():
    """The cases' ties are decided by TensorFlow; the notebook promises the first maximum."""
    spec = importlib.util.spec_from_file_location(
        "a1_cases", ROOT / "assignments" / "grading" / f"{A1}.py")
    cases = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cases)
    x = np.array([[2.0, 2.0, 0.0], [2.0, 1.0, 0.0], [0.0, 0.0, 0.0]]).reshape(1, 3, 3, 1)
    dx = cases.reference_pool_gradient(np.ones((1, 2, 2, 1)), x, 2, 1)
    # The window at (0, 0) holds three 2s: its gradient goes to the first, at (0, 0).
    assert np.array_equal(dx[0, :, :, 0], [[1, 1, 0], [1, 1, 0], [0, 0, 0]])
    first_maximum = pool_backward_variant(rule="first")
    rng = np.random.default_rng(3)
    for size, stride in [(2, 2), (3, 1), (3, 2), (2, 3)]:
        ties = rng.integers(0, 2, size=(2, 7, 8, 3)).astype(float)
        rows, cols = (7 - size) // stride + 1, (8 - size) // stride + 1
        dout = rng.normal(size=(2, rows, cols, 3))
        np.testing.assert_allclose(cases.reference_pool_gradient(dout, ties, size, stride),
                                   first_maximum(dout, ties, size, stride), atol=1e-12)


# --------------------------------------------------------------------------- wrong answers

def _window(x, i, j, f, stride):
    return x[:, i * stride: i * stride + f, j * stride: j * stride + f, :]


def conv_variant(*, flip=False, use_stride=True, use_pad=True, pad_all_axes=False,
                 one_bias=False, swap_uv=False):
    def conv_forward(x, w, b, stride=1, pad=0):
        s = stride if use_stride else 1
        p = pad if use_pad else 0
        w = w[::-1, ::-1] if flip else w
        w = w.transpose(1, 0, 2, 3) if swap_uv else w
        padded = np.pad(x, p) if pad_all_axes else np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
        f = w.shape[0]
        rows, cols = (padded.shape[1] - f) // s + 1, (padded.shape[2] - f) // s + 1
        y = np.zeros((padded.shape[0], rows, cols, w.shape[3]))
        for i in range(rows):
            for j in range(cols):
                y[:, i, j] = np.tensordot(_window(padded, i, j, f, s), w, axes=([1, 2, 3], [0, 1, 2]))
        return y + (b[0] if one_bias else b)

    return conv_forward


def pool_variant(*, from_zero=False, average=False, stride_is_size=False, across_channels=False):
    def max_pool_forward(x, size=2, stride=2):
        s = size if stride_is_size else stride
        rows, cols = (x.shape[1] - size) // s + 1, (x.shape[2] - size) // s + 1
        y = np.zeros((x.shape[0], rows, cols, x.shape[3]))
        for i in range(rows):
            for j in range(cols):
                patch = _window(x, i, j, size, s)
                if average:
                    y[:, i, j] = patch.mean(axis=(1, 2))
                elif across_channels:
                    y[:, i, j] = patch.max(axis=(1, 2, 3))[:, None]
                else:
                    y[:, i, j] = patch.max(axis=(1, 2))
        return np.maximum(y, 0.0) if from_zero else y

    return max_pool_forward


def backward_variant(*, flip=False, crop=True, db_axes=(0, 1, 2), db_mean=False,
                     dw_stride=True, accumulate=True, dw_batch_mean=False):
    def conv_backward(dout, x, w, stride=1, pad=0):
        padded = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
        f = w.shape[0]
        filters = w[::-1, ::-1] if flip else w
        d_padded, dw = np.zeros(padded.shape), np.zeros(w.shape)
        for i in range(dout.shape[1]):
            for j in range(dout.shape[2]):
                g = dout[:, i, j, :]
                window = _window(padded, i, j, f, stride if dw_stride else 1)
                dw += np.tensordot(window, g, axes=([0], [0]))
                rows = slice(i * stride, i * stride + f)
                cols = slice(j * stride, j * stride + f)
                share = np.tensordot(g, filters, axes=([1], [3]))
                if accumulate:
                    d_padded[:, rows, cols, :] += share
                else:
                    d_padded[:, rows, cols, :] = share
        if dw_batch_mean:
            dw = dw / x.shape[0]
        db = dout.mean(axis=db_axes) if db_mean else dout.sum(axis=db_axes)
        dx = d_padded[:, pad: pad + x.shape[1], pad: pad + x.shape[2], :] if crop else d_padded
        return dx, dw, db

    return conv_backward


def pool_backward_variant(*, rule="first", accumulate=True):
    def max_pool_backward(dout, x, size=2, stride=2):
        dx = np.zeros(x.shape)
        for i in range(dout.shape[1]):
            for j in range(dout.shape[2]):
                rows = slice(i * stride, i * stride + size)
                cols = slice(j * stride, j * stride + size)
                patch = x[:, rows, cols, :]
                g = dout[:, i, j, :][:, None, None, :]
                if rule == "every max":
                    share = (patch == patch.max(axis=(1, 2), keepdims=True)) * g
                elif rule == "whole window":
                    share = np.ones_like(patch) * g
                elif rule == "average":
                    share = np.ones_like(patch) * g / size**2
                else:
                    flat = patch.reshape(patch.shape[0], -1, patch.shape[3])
                    if rule == "last max":
                        index = flat.shape[1] - 1 - flat[:, ::-1].argmax(axis=1)
                    else:
                        index = flat.argmax(axis=1)
                    mask = np.zeros_like(flat)
                    np.put_along_axis(mask, index[:, None, :], 1.0, axis=1)
                    share = mask.reshape(patch.shape) * g
                if accumulate:
                    dx[:, rows, cols, :] += share
                else:
                    dx[:, rows, cols, :] = np.where(share != 0, share, dx[:, rows, cols, :])
        return dx

    return max_pool_backward


def _output_size(*, plus_one=True, check_tiling=True, check_fit=True, true_division=False,
                 use_pad=True):
    def conv_output_size(w, f, p, s):
        span = w - f + 2 * (p if use_pad else 0)
        if (check_tiling and span % s) or (check_fit and span < 0):
            raise ValueError("does not tile")
        width = span / s if true_division else span // s
        return width + 1 if plus_one else width

    return conv_output_size


def _model(kind):
    def build_model():
        import keras
        from keras import layers

        if kind == "dense":
            body = [layers.Rescaling(1 / 255), layers.Flatten(), layers.Dense(32, activation="relu"),
                    layers.Dense(10, activation="softmax")]
            model = keras.Sequential([keras.Input((28, 28)), *body])
        elif kind == "logits":
            model = keras.Sequential([keras.Input((28, 28)), layers.Reshape((28, 28, 1)),
                                      layers.Conv2D(4, 3), layers.Flatten(), layers.Dense(10)])
        elif kind == "channel axis":
            model = keras.Sequential([keras.Input((28, 28, 1)), layers.Conv2D(4, 3),
                                      layers.Flatten(), layers.Dense(10, activation="softmax")])
        else:
            model = keras.Sequential([keras.Input((28, 28)), layers.Reshape((28, 28, 1)),
                                      layers.Conv2D(4, 3), layers.Flatten(),
                                      layers.Dense(10, activation="softmax")])
        if kind != "not compiled":
            model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                          metrics=["accuracy"])
        return model

    return build_model


# grade id -> {mistake: (wrong function, a fragment of the feedback it must get)}
WRONG = {
    "test_conv_forward": {
        "flipped filter (true convolution)": (conv_variant(flip=True), "wrong values"),
        "ignores the stride": (conv_variant(use_stride=False), "returned shape"),
        "ignores the padding": (conv_variant(use_pad=False), "returned shape"),
        "pads the batch and channel axes too": (conv_variant(pad_all_axes=True), "raised"),
        "one bias for every filter": (conv_variant(one_bias=True), "wrong values"),
        "filter rows and columns swapped": (conv_variant(swap_uv=True), "wrong values"),
    },
    "test_max_pool_forward": {
        "maximum started at 0": (pool_variant(from_zero=True), "wrong values"),
        "average pooling": (pool_variant(average=True), "wrong values"),
        "stride taken equal to the window size": (pool_variant(stride_is_size=True),
                                                  "returned shape"),
        "maximum over the channels too": (pool_variant(across_channels=True), "wrong values"),
    },
    "test_conv_output_size": {
        "forgets the + 1": (_output_size(plus_one=False), "expected"),
        "floors instead of raising": (_output_size(check_tiling=False), "instead of raising"),
        "returns a float": (_output_size(true_division=True), "expected an int"),
        "only checks that the stride divides": (_output_size(check_fit=False),
                                                "instead of raising"),
        "ignores the padding": (_output_size(use_pad=False), "expected"),
    },
    "test_conv_param_count": {
        "forgets the biases": (lambda f, d_in, k: f * f * d_in * k, "expected"),
        "forgets the input channels": (lambda f, d_in, k: f * f * k + k, "expected"),
        "one bias for the layer": (lambda f, d_in, k: f * f * d_in * k + 1, "expected"),
    },
    "test_conv_backward": {
        "flipped filter in dx": (backward_variant(flip=True), "dx: wrong values"),
        "padding not cut off dx": (backward_variant(crop=False), "dx: returned shape"),
        "db summed over the wrong axes": (backward_variant(db_axes=(1, 2)), "db: returned shape"),
        "db averaged instead of summed": (backward_variant(db_mean=True), "db: wrong values"),
        "dw ignores the stride": (backward_variant(dw_stride=False), "dw: wrong values"),
        "overlapping windows overwrite dx": (backward_variant(accumulate=False),
                                             "dx: wrong values"),
        "dw averaged over the batch": (backward_variant(dw_batch_mean=True), "dw: wrong values"),
    },
    "test_max_pool_backward": {
        "gradient to every tied maximum": (pool_backward_variant(rule="every max"),
                                           "wrong values"),
        "gradient summed into the whole window": (pool_backward_variant(rule="whole window"),
                                                  "wrong values"),
        "gradient averaged over the window": (pool_backward_variant(rule="average"),
                                              "wrong values"),
        "overlapping windows overwrite dx": (pool_backward_variant(accumulate=False),
                                             "wrong values"),
        "gradient to the last tied maximum": (pool_backward_variant(rule="last max"),
                                              "wrong values"),
    },
    "test_build_model": {
        "a dense network, no convolution": (_model("dense"), "no Conv2D layer"),
        "outputs logits, not probabilities": (_model("logits"), "must return probabilities"),
        "expects (28, 28, 1) images": (_model("channel axis"), "input shape must be"),
        "not compiled": (_model("not compiled"), "compile the model"),
    },
}
MISTAKES = [(grade_id, mistake) for grade_id, table in WRONG.items() for mistake in table]


@pytest.mark.parametrize(("grade_id", "mistake"), MISTAKES)
def test_typical_wrong_answer_earns_nothing(grade_id, mistake, graded):
    wrong, message = WRONG[grade_id][mistake]
    verdict = evaluate(graded[grade_id], wrong)
    assert verdict.points == 0, f"{mistake} kept {verdict.points} points"
    assert message in problems(verdict), problems(verdict)


def test_ties_are_what_separates_every_max_from_the_argmax(graded):
    """Routing to every tied maximum is only wrong where a window holds a tie: the tie cases
    must be the ones that catch it."""
    verdict = evaluate(graded["test_max_pool_backward"], pool_backward_variant(rule="every max"))
    failed = [c.name for c in verdict.cases if not c.passed]
    assert failed and all(name.startswith("ties:") for name in failed), failed


def test_uncropped_dx_fails_only_where_there_is_padding(graded):
    verdict = evaluate(graded["test_conv_backward"], backward_variant(crop=False))
    failed = {c.name for c in verdict.cases if not c.passed}
    assert failed == {c.name for c in graded["test_conv_backward"].cases
                      if c.kwargs["pad"] > 0 and c.name.startswith("dx")}


# --------------------------------------------------------------------------- the real case runner

NUMPY_QUESTIONS = ["test_conv_forward", "test_max_pool_forward", "test_conv_output_size",
                   "test_conv_param_count", "test_conv_backward", "test_max_pool_backward"]


@pytest.mark.parametrize("grade_id", NUMPY_QUESTIONS)
def test_solution_passes_in_the_case_runner_without_tensorflow(grade_id, graded, tmp_path):
    verdict, report = run_in_case_runner(case_cells(SOURCE), graded[grade_id], tmp_path)
    assert verdict.points == verdict.max_points, (problems(verdict), report)
    assert all(cell["status"] == "ok" for cell in report["cells"]), report


DELEGATING = {
    "test_conv_forward": ("conv_forward", '''
import tensorflow as tf

def conv_forward(x, w, b, stride=1, pad=0):
    padding = [[0, 0], [pad, pad], [pad, pad], [0, 0]]
    return tf.nn.conv2d(x, w, strides=stride, padding=padding).numpy() + b
'''),
    "test_max_pool_forward": ("max_pool_forward", '''
def max_pool_forward(x, size=2, stride=2):
    return tf.nn.max_pool2d(x, size, stride, "VALID").numpy()
'''),
    "test_conv_backward": ("conv_backward", '''
def conv_backward(dout, x, w, stride=1, pad=0):
    x, w = tf.constant(x), tf.constant(w)
    b = tf.zeros(w.shape[-1], dtype=w.dtype)
    with tf.GradientTape() as tape:
        tape.watch([x, w, b])
        y = tf.nn.conv2d(x, w, stride, [[0, 0], [pad, pad], [pad, pad], [0, 0]]) + b
    return tuple(g.numpy() for g in tape.gradient(y, [x, w, b], output_gradients=dout))
'''),
    "test_max_pool_backward": ("max_pool_backward", '''
from scipy import ndimage

def max_pool_backward(dout, x, size=2, stride=2):
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.nn.max_pool2d(x, size, stride, "VALID")
    return tape.gradient(y, x, output_gradients=dout).numpy()
'''),
}


@pytest.mark.parametrize("grade_id", sorted(DELEGATING))
def test_answer_that_delegates_to_tensorflow_earns_nothing(grade_id, graded, tmp_path):
    label, source = DELEGATING[grade_id]
    cells = replace_answer(case_cells(SOURCE), label, source)
    verdict, _ = run_in_case_runner(cells, graded[grade_id], tmp_path)
    assert verdict.forbidden and verdict.points == 0, problems(verdict)
    assert "does not allow" in verdict.note()


def test_answer_that_needs_a_helper_from_another_cell_fails(graded, tmp_path):
    """The case process runs only answer and case-setup cells: a helper defined elsewhere is
    missing there, which is why the notebook says answers must be self-contained."""
    cells = replace_answer(case_cells(SOURCE), "max_pool_forward", '''
def max_pool_forward(x, size=2, stride=2):
    return pool_with_my_helper(x, size, stride)
''')
    verdict, _ = run_in_case_runner(cells, graded["test_max_pool_forward"], tmp_path)
    assert verdict.points == 0 and "NameError" in problems(verdict)


@pytest.mark.slow
def test_build_model_solution_passes_in_the_case_runner(graded, tmp_path):
    verdict, report = run_in_case_runner(case_cells(SOURCE), graded["test_build_model"], tmp_path)
    assert verdict.points == verdict.max_points, (problems(verdict), report)
