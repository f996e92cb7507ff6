"""The graded cases of A3 (assignments/grading/a3_segmentation.py) decide right from wrong.

The instructor's solution earns every question's points; each typical wrong answer earns 0
for its question, with a feedback line that names what is wrong; answers that delegate to
Keras (``Conv2DTranspose``, ``MeanIoU``, ``IoU``) earn nothing in the real case runner.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from case_support import (
    case_cells,
    evaluate,
    problems,
    questions,
    run_in_case_runner,
    solution_namespace,
)

from autograder.cases import Question
from course.notebooks import ROOT

A3 = "a3_segmentation"
SOURCE = ROOT / "assignments" / "source" / A3 / f"{A3}.ipynb"


@pytest.fixture(scope="module")
def a3() -> dict:
    return solution_namespace(SOURCE)


@pytest.fixture(scope="module")
def graded() -> dict[str, Question]:
    return questions(A3)


def test_questions_match_the_notebook(graded):
    assert set(graded) == {"test_conv_transpose_forward", "test_iou_per_class", "test_mean_iou",
                           "test_build_unet"}
    assert graded["test_build_unet"].libraries == "any"
    assert all(graded[q].libraries == "numpy" for q in graded if q != "test_build_unet")


@pytest.mark.parametrize("grade_id", ["test_conv_transpose_forward", "test_iou_per_class",
                                      "test_mean_iou", "test_build_unet"])
def test_solution_earns_every_point(grade_id, a3, graded):
    question = graded[grade_id]
    verdict = evaluate(question, a3[question.function])
    assert verdict.points == verdict.max_points, problems(verdict)


# --------------------------------------------------------------------------- wrong answers

def tconv_variant(*, use_stride=True, flip=False, same_from_first_row=False,
                  same_offset_rounds_up=False, swap_channels=False, valid_is_full=False):
    def conv_transpose_forward(x, w, stride, padding):
        s = stride if use_stride else 1
        w = w[::-1, ::-1] if flip else w
        w = np.swapaxes(w, 2, 3) if swap_channels else w
        n, h, wd, _ = x.shape
        f, k = w.shape[0], w.shape[2]
        full = np.zeros((n, (h - 1) * s + f, (wd - 1) * s + f, k))
        for i in range(h):
            for j in range(wd):
                full[:, i * s: i * s + f, j * s: j * s + f] += np.einsum("nc,uvkc->nuvk",
                                                                         x[:, i, j], w)
        overhang = max(f - s, 0)
        if padding == "valid":
            if valid_is_full:
                return full
            rows, cols, start = h * s + overhang, wd * s + overhang, 0
        else:
            rows, cols = h * s, wd * s
            start = 0 if same_from_first_row else (
                -(-overhang // 2) if same_offset_rounds_up else overhang // 2)
        out = np.zeros((n, rows, cols, k))
        kept = full[:, start: start + rows, start: start + cols]
        out[:, : kept.shape[1], : kept.shape[2]] = kept
        return out

    return conv_transpose_forward


def iou_variant(*, union="right", absent=np.nan, nan_if_not_true=False, per_image=False,
                classes=None, dice=False, uint8_pairs=False):
    def iou_per_class(y_true, y_pred, num_classes):
        k = classes if classes is not None else num_classes
        if classes == "data":
            k = int(max(np.max(y_true), np.max(y_pred))) + 1
        if per_image and np.ndim(y_true) == 3:
            with warnings.catch_warnings():  # a class absent from every image: NaN, as meant
                warnings.simplefilter("ignore", RuntimeWarning)
                return np.nanmean([iou_per_class(t, p, num_classes) for t, p in
                                   zip(y_true, y_pred, strict=True)], axis=0)
        truth, guess = np.asarray(y_true).ravel(), np.asarray(y_pred).ravel()
        if uint8_pairs:  # the bincount trick, without widening uint8 first
            pairs = truth * k + guess
            counts = np.bincount(pairs.astype(np.int64), minlength=k * k)[: k * k].reshape(k, k)
            inter = np.diag(counts).astype(float)
            size_true, size_pred = counts.sum(axis=1), counts.sum(axis=0)
        else:
            inter = np.array([np.sum((truth == c) & (guess == c)) for c in range(k)], float)
            size_true = np.array([np.sum(truth == c) for c in range(k)])
            size_pred = np.array([np.sum(guess == c) for c in range(k)])
        total = size_true + size_pred - (0 if union == "double" else inter)
        out = np.full(k, absent, dtype=float)
        for c in range(k):
            if nan_if_not_true and size_true[c] == 0:
                out[c] = np.nan
            elif total[c] > 0:
                out[c] = 2 * inter[c] / (size_true[c] + size_pred[c]) if dice else inter[c] / total[c]
        return out

    return iou_per_class


def mean_iou_variant(a3: dict, kind: str):
    iou_per_class = a3["iou_per_class"]

    def mean_iou(y_true, y_pred, num_classes):
        if kind == "nan not skipped":
            return float(np.mean(iou_per_class(y_true, y_pred, num_classes)))
        if kind == "nan as zero":
            return float(np.mean(np.nan_to_num(iou_per_class(y_true, y_pred, num_classes))))
        if kind == "pixel accuracy":
            return float(np.mean(np.asarray(y_true) == np.asarray(y_pred)))
        if kind == "mean over images" and np.ndim(y_true) == 3:
            return float(np.mean([np.nanmean(iou_per_class(t, p, num_classes))
                                  for t, p in zip(y_true, y_pred, strict=True)]))
        return float(np.nanmean(iou_per_class(y_true, y_pred, num_classes)))

    return mean_iou


def unet_variant(a3: dict, kind: str):
    keras, layers = a3["keras"], a3["layers"]

    def build_unet(input_shape, num_classes):
        inputs = keras.Input(shape=input_shape)
        x, skips = inputs, []
        levels = 2 if kind == "two poolings" else 3
        for filters in (4, 8, 16)[:levels]:
            x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
            skips.append(x)
            x = layers.MaxPooling2D(2)(x)
        if kind == "fixed size":
            side = input_shape[0] // 8 if input_shape[0] else 8
            x = layers.Flatten()(x)
            x = layers.Reshape((side, side, 16))(layers.Dense(side * side * 16)(x))
        for filters, skip in zip((16, 8, 4)[-levels:], reversed(skips), strict=True):
            x = layers.Conv2DTranspose(filters, 2, strides=2, padding="same")(x)
            if kind != "no skips":
                x = layers.Concatenate()([x, skip])
        activation = None if kind == "no softmax" else "softmax"
        return keras.Model(inputs, layers.Conv2D(num_classes, 1, activation=activation)(x))

    return build_unet


WRONG = {
    "test_conv_transpose_forward": {
        "forgets the stride": (lambda a3: tconv_variant(use_stride=False), "returned shape"),
        "flips the kernel": (lambda a3: tconv_variant(flip=True), "wrong values"),
        "'same' cropped from the first row": (lambda a3: tconv_variant(same_from_first_row=True),
                                              "wrong values"),
        "'same' offset rounded up": (lambda a3: tconv_variant(same_offset_rounds_up=True),
                                     "wrong values"),
        "kernel channel axes swapped": (lambda a3: tconv_variant(swap_channels=True), "raised"),
        "'valid' returns the uncropped output": (lambda a3: tconv_variant(valid_is_full=True),
                                                 "returned shape"),
    },
    "test_iou_per_class": {
        "union counts the intersection twice": (lambda a3: iou_variant(union="double"),
                                                "expected"),
        "an absent class scores 0, not NaN": (lambda a3: iou_variant(absent=0.0),
                                              "expected NaN"),
        "a class only predicted scores NaN": (lambda a3: iou_variant(nan_if_not_true=True),
                                              "got NaN"),
        "IoU per image, averaged over the batch": (lambda a3: iou_variant(per_image=True),
                                                   "expected"),
        "three classes hard-coded": (lambda a3: iou_variant(classes=3), "returned shape"),
        "classes counted from the data": (lambda a3: iou_variant(classes="data"),
                                          "returned shape"),
        "Dice instead of IoU": (lambda a3: iou_variant(dice=True), "expected"),
        "uint8 overflow in the label pairs": (lambda a3: iou_variant(uint8_pairs=True),
                                              "expected"),
    },
    "test_mean_iou": {
        "NaN not skipped": (lambda a3: mean_iou_variant(a3, "nan not skipped"), "NaN"),
        "NaN counted as 0": (lambda a3: mean_iou_variant(a3, "nan as zero"), "wrong values"),
        "pixel accuracy instead": (lambda a3: mean_iou_variant(a3, "pixel accuracy"),
                                   "wrong values"),
        "mean of the per-image means": (lambda a3: mean_iou_variant(a3, "mean over images"),
                                        "wrong values"),
    },
    "test_build_unet": {
        "no skip connections": (lambda a3: unet_variant(a3, "no skips"), "Concatenate"),
        "no softmax at the end": (lambda a3: unet_variant(a3, "no softmax"), "probabilities"),
        "a dense bottleneck tied to one size": (lambda a3: unet_variant(a3, "fixed size"),
                                                "raised"),
        "only two poolings": (lambda a3: unet_variant(a3, "two poolings"), "Pooling2D"),
    },
}
MISTAKES = [(grade_id, mistake) for grade_id, table in WRONG.items() for mistake in table]


@pytest.mark.parametrize(("grade_id", "mistake"), MISTAKES)
def test_typical_wrong_answer_earns_nothing(grade_id, mistake, a3, graded):
    make, message = WRONG[grade_id][mistake]
    verdict = evaluate(graded[grade_id], make(a3))
    assert verdict.points == 0, f"{mistake} kept {verdict.points} points"
    assert message in problems(verdict), problems(verdict)


def test_only_odd_overhangs_catch_the_rounded_up_same_offset(graded):
    """'same' keeps rows from floor(overhang / 2): rounding up only shows for odd overhangs,
    so the cases must hold one (F - S = 1)."""
    verdict = evaluate(graded["test_conv_transpose_forward"],
                       tconv_variant(same_offset_rounds_up=True))
    assert any("odd overhang" in c.name for c in verdict.cases if not c.passed)


# --------------------------------------------------------------------------- the real case runner

@pytest.mark.parametrize("grade_id", ["test_conv_transpose_forward", "test_iou_per_class",
                                      "test_mean_iou"])
def test_solution_passes_in_the_case_runner_without_keras(grade_id, graded, tmp_path):
    verdict, report = run_in_case_runner(case_cells(SOURCE), graded[grade_id], tmp_path)
    assert verdict.points == verdict.max_points, (problems(verdict), report)
    assert all(cell["status"] == "ok" for cell in report["cells"]), report


KERAS_IOU = '''
def iou_per_class(y_true, y_pred, num_classes):
    scores = []
    for c in range(num_classes):
        metric = keras.metrics.IoU(num_classes=num_classes, target_class_ids=[c])
        metric.update_state(y_true, y_pred)
        scores.append(float(metric.result()))
    return np.array(scores)


def mean_iou(y_true, y_pred, num_classes):
    metric = keras.metrics.MeanIoU(num_classes=num_classes)
    metric.update_state(y_true, y_pred)
    return float(metric.result())
'''
KERAS_TCONV = '''
def conv_transpose_forward(x, w, stride, padding):
    layer = keras.layers.Conv2DTranspose(w.shape[2], w.shape[0], strides=stride,
                                         padding=padding, use_bias=False)
    layer.build(x.shape)
    layer.set_weights([w])
    return keras.ops.convert_to_numpy(layer(x))
'''
DELEGATING = {
    "test_conv_transpose_forward": ("conv_transpose_forward", KERAS_TCONV),
    "test_iou_per_class": ("iou", KERAS_IOU),
    "test_mean_iou": ("iou", KERAS_IOU),
}


@pytest.mark.parametrize("grade_id", sorted(DELEGATING))
def test_answer_that_delegates_to_keras_earns_nothing(grade_id, graded, tmp_path):
    label, source = DELEGATING[grade_id]
    cells = [{**c, "source": source} if c["label"] == label else c for c in case_cells(SOURCE)]
    verdict, _ = run_in_case_runner(cells, graded[grade_id], tmp_path)
    assert verdict.forbidden and verdict.points == 0, problems(verdict)


@pytest.mark.slow
def test_build_unet_solution_passes_in_the_case_runner(graded, tmp_path):
    verdict, report = run_in_case_runner(case_cells(SOURCE), graded["test_build_unet"], tmp_path)
    assert verdict.points == verdict.max_points, (problems(verdict), report)


def test_the_delegating_answers_would_be_right_with_keras(a3, graded):
    """With Keras allowed, the delegating answers pass: the runner's zero above is for using
    Keras, not for a wrong number. (Keras's IoU of a class absent from both maps is 0, not
    NaN, so its iou_per_class would fail anyway.)"""
    namespace = {"np": np, "keras": a3["keras"]}
    exec(KERAS_IOU + KERAS_TCONV, namespace)  # noqa: S102
    for grade_id, function in [("test_mean_iou", "mean_iou"),
                               ("test_conv_transpose_forward", "conv_transpose_forward")]:
        verdict = evaluate(graded[grade_id], namespace[function])
        assert verdict.points == verdict.max_points, problems(verdict)


def test_full_transposed_convolution_is_the_input_gradient_of_a1s_convolution(a3):
    """What the notebook says: Keras's transposed convolution, before its crop, is A1's
    conv_backward dx for stride S and no padding, with x as dout and the same kernel array."""
    conv_backward = solution_namespace(
        ROOT / "assignments" / "source" / "a1_cnn_classification"
        / "a1_cnn_classification.ipynb")["conv_backward"]
    rng = np.random.default_rng(5)
    for f, stride in [(3, 2), (2, 2), (4, 1), (1, 3)]:
        x = rng.normal(size=(2, 3, 4, 3))
        kernel = rng.normal(size=(f, f, 2, 3))  # Keras layout (F, F, K_out, C_in)
        full_shape = (2, (3 - 1) * stride + f, (4 - 1) * stride + f, 2)
        dx, _, _ = conv_backward(x, np.zeros(full_shape), kernel, stride=stride, pad=0)
        valid = a3["conv_transpose_forward"](x, kernel, stride, "valid")
        rows, cols = min(dx.shape[1], valid.shape[1]), min(dx.shape[2], valid.shape[2])
        np.testing.assert_allclose(valid[:, :rows, :cols], dx[:, :rows, :cols], atol=1e-12)
