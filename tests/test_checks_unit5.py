"""The Unit 5 self-checks accept right answers and explain typical wrong ones."""

import re

import nbformat
import numpy as np
import pytest

from course.checks import CheckFailed
from course.checks import unit5 as check
from course.notebooks import ROOT

NOTEBOOK = ROOT / "units" / "05_image_segmentation.ipynb"


def notebook_cells(kind):
    return [c.source for c in nbformat.read(NOTEBOOK, as_version=4).cells if c.cell_type == kind]


def test_exercises_are_numbered_in_order_and_match_their_checks():
    headings = [m for source in notebook_cells("markdown")
                for m in re.findall(r"^### (Exercise 5\.\d) ", source, flags=re.M)]
    assert headings == ["Exercise 5.1", "Exercise 5.2", "Exercise 5.3"]
    titles = [check.conv_transpose.title, check.receptive_field.title, check.dice.title]
    assert [t.split(" —")[0] for t in titles] == headings


def test_the_notebook_uses_no_segmentation_metric_of_the_student_package():
    """IoU and Dice come from Keras and the student's own function, not from course.metrics."""
    code = "\n".join(notebook_cells("code"))
    removed = re.findall(r"metrics\.(iou_per_class|mean_iou_metric|mean_iou|dice_per_class|mean_dice)\b",
                         code)
    assert removed == []
    assert "_solution" not in code  # later cells reuse the student's functions instead
    for use in ("check.conv_transpose.use(conv_transpose)",
                "check.receptive_field.use(receptive_field)", "check.dice.use(dice_per_class)"):
        assert use in code
    assert "keras.metrics.MeanIoU" in code and "keras.metrics.IoU" in code

# --------------------------------------------------------------------------- 5.1 conv_transpose


def conv_transpose_by_dilation(x, kernel, stride):
    """A different correct route: insert stride-1 zeros, pad by F-1, correlate with the flipped kernel."""
    x = np.asarray(x, float)
    kh, kw = kernel.shape
    spread = np.zeros(((x.shape[0] - 1) * stride + 1, (x.shape[1] - 1) * stride + 1))
    spread[::stride, ::stride] = x
    padded = np.pad(spread, ((kh - 1, kh - 1), (kw - 1, kw - 1)))
    flipped = kernel[::-1, ::-1]
    windows = np.lib.stride_tricks.sliding_window_view(padded, kernel.shape)
    return np.einsum("ijkl,kl->ij", windows, flipped)


def test_conv_transpose_accepts_the_zero_insertion_formulation():
    assert check.conv_transpose(conv_transpose_by_dilation) is True


def test_conv_transpose_agrees_with_keras_valid_padding():
    keras = pytest.importorskip("keras")
    rng = np.random.default_rng(0)
    x, kernel = rng.normal(size=(4, 5)), rng.normal(size=(3, 3))
    layer = keras.layers.Conv2DTranspose(1, 3, strides=2, padding="valid", use_bias=False)
    layer.build((1, 4, 5, 1))
    layer.set_weights([kernel[:, :, None, None]])
    out = np.asarray(layer(x[None, :, :, None].astype("float32")))[0, :, :, 0]
    np.testing.assert_allclose(out, check.conv_transpose_solution(x, kernel, 2), atol=1e-5)


def forgot_stride(x, kernel, stride):
    return check.conv_transpose_solution(x, kernel, 1)


def same_size(x, kernel, stride):
    return np.zeros((x.shape[0] * stride, x.shape[1] * stride))


def flipped_kernel(x, kernel, stride):
    return check.conv_transpose_solution(x, kernel[::-1, ::-1], stride)


def stamps_one_apart(x, kernel, stride):
    kh, kw = kernel.shape
    out = np.zeros(((x.shape[0] - 1) * stride + kh, (x.shape[1] - 1) * stride + kw))
    unstrided = check.conv_transpose_solution(x, kernel, 1)
    out[: unstrided.shape[0], : unstrided.shape[1]] = unstrided
    return out


overwrites = check._conv_transpose_overwriting  # the "=" instead of "+=" mistake


def transposed_output(x, kernel, stride):
    return check.conv_transpose_solution(x, kernel, stride).T


def off_by_a_bit(x, kernel, stride):
    return check.conv_transpose_solution(x, kernel, stride) + 0.01


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (forgot_stride, "did you forget the stride"),
        (same_size, "padding='same'"),
        (flipped_kernel, "kernel flipped"),
        (stamps_one_apart, r"stamps are 1 pixel apart"),
        (overwrites, "they add up, the second must not replace the first"),
        (transposed_output, "height and width are swapped"),
        (off_by_a_bit, "differs from the expected values"),
        (lambda x, kernel, stride: None, "forget to `return`"),
    ],
)
def test_conv_transpose_names_the_mistake(answer, message):
    with pytest.raises(CheckFailed, match=message):
        check.conv_transpose(answer)


# --------------------------------------------------------------------------- 5.2 receptive_field


def receptive_field_backwards(layers):
    """A different correct route: walk from the output back to the input, growing the window."""
    size = 1
    for kernel_size, dilation, stride in reversed(layers):
        size = (size - 1) * stride + (kernel_size - 1) * dilation + 1
    return size


def test_receptive_field_accepts_the_backward_recursion():
    assert check.receptive_field(receptive_field_backwards) is True


def test_receptive_field_reference_on_the_lecture_stacks():
    assert check.receptive_field_solution([(3, 1, 1)] * 3) == 7
    assert check.receptive_field_solution([(3, 1, 1), (3, 2, 1), (3, 4, 1)]) == 15


def _field(layers, *, dilation=True, strides=True, own_stride=False, start=1, span=None):
    field, jump = start, 1
    for k, d, s in layers:
        if own_stride and strides:
            jump *= s
        width = span(k, d) if span else (k - 1) * (d if dilation else 1)
        field += width * jump
        if strides and not own_stride:
            jump *= s
    return field


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (lambda layers: _field(layers, start=0), "forgot the starting 1"),
        (lambda layers: _field(layers, dilation=False), "dilation is ignored"),
        (lambda layers: _field(layers, span=lambda k, d: k * d - 1), r"not k\*d"),
        (lambda layers: _field(layers, strides=False), "strides are ignored"),
        (lambda layers: _field(layers, own_stride=True), "own stride does not widen"),
        (lambda layers: float(_field(layers)) + 0.5, "whole number"),
        (lambda layers: 2 ** len(layers), "expected 7"),
    ],
)
def test_receptive_field_names_the_mistake(answer, message):
    with pytest.raises(CheckFailed, match=message):
        check.receptive_field(answer)


def test_receptive_field_accepts_a_float_whole_number():
    assert check.receptive_field(lambda layers: float(receptive_field_backwards(layers))) is True


# --------------------------------------------------------------------------- 5.3 dice


def dice_by_counting(y_true, y_pred, num_classes):
    """A different correct route: one-hot masks, counts per class in one go."""
    classes = np.arange(num_classes)
    true_hot = np.asarray(y_true)[..., None] == classes
    pred_hot = np.asarray(y_pred)[..., None] == classes
    pixel_axes = tuple(range(true_hot.ndim - 1))
    overlap = (true_hot & pred_hot).sum(axis=pixel_axes)
    sizes = true_hot.sum(axis=pixel_axes) + pred_hot.sum(axis=pixel_axes)
    with np.errstate(invalid="ignore"):
        return np.where(sizes > 0, 2 * overlap / sizes, np.nan)


def test_dice_accepts_an_equivalent_vectorised_answer(capsys):
    assert check.dice(dice_by_counting) is True
    assert "correct" in capsys.readouterr().out


def test_dice_reference_on_the_worked_example():
    true = np.array([[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 1, 1], [2, 2, 2, 2]])
    pred = np.array([[0, 0, 0, 1], [0, 1, 1, 1], [2, 2, 1, 1], [2, 1, 2, 2]])
    np.testing.assert_allclose(check.dice_per_class_solution(true, pred, 3),
                               [6 / 8, 10 / 13, 10 / 11])


def test_dice_agrees_with_keras_iou_through_the_relation():
    """Dice = 2 IoU / (1 + IoU) class by class, with Keras computing the IoU independently."""
    keras = pytest.importorskip("keras")
    rng = np.random.default_rng(7)
    true, pred = rng.integers(0, 3, (2, 9, 7)), rng.integers(0, 3, (2, 9, 7))
    ious = []
    for c in range(3):
        metric = keras.metrics.IoU(num_classes=3, target_class_ids=[c])
        metric.update_state(true, pred)
        ious.append(float(metric.result()))
    ious = np.array(ious)
    np.testing.assert_allclose(check.dice_per_class_solution(true, pred, 3),
                               2 * ious / (1 + ious), rtol=1e-6)


def test_the_unit_publishes_no_iou_function():
    """Assignment A3 asks for IoU per class: the unit's checks must not contain its answer."""
    public = [name for name in vars(check) if "iou" in name.lower()]
    assert public == []


def _dice_variant(y_true, y_pred, num_classes, *, score=None, undefined=np.nan, defined=None):
    out = []
    for c in range(num_classes):
        t, p = y_true == c, y_pred == c
        overlap, sizes, union = np.sum(t & p), t.sum() + p.sum(), np.sum(t | p)
        if (defined is not None and not defined(t, p)) or sizes == 0:
            out.append(undefined)
        else:
            out.append(score(overlap, sizes, union) if score else 2 * overlap / sizes)
    return np.array(out, float)


def per_image_average(y_true, y_pred, num_classes):
    if y_true.ndim == 2:
        return check.dice_per_class_solution(y_true, y_pred, num_classes)
    return np.nanmean(
        [check.dice_per_class_solution(t, p, num_classes) for t, p in zip(y_true, y_pred, strict=True)],
        axis=0,
    )


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (lambda t, p, n: _dice_variant(t, p, n, score=lambda i, s, u: i / s), "half the Dice"),
        (lambda t, p, n: _dice_variant(t, p, n, score=lambda i, s, u: i / u), "these are IoU values"),
        (lambda t, p, n: _dice_variant(t, p, n, score=lambda i, s, u: 2 * i / u), "not the union"),
        (lambda t, p, n: _dice_variant(t, p, n, score=lambda i, s, u: 200 * i / s),
         "100 times too large"),
        (lambda t, p, n: _dice_variant(t, p, n, undefined=0.0), r"undefined \(0/0\): return NaN"),
        (lambda t, p, n: _dice_variant(t, p, n, undefined=1.0), "gave it Dice 1"),
        (lambda t, p, n: _dice_variant(t, p, n, defined=lambda a, b: a.any()),
         "only predicted, or only true, has Dice 0"),
        (per_image_average, "averaged per-image Dice"),
        (lambda t, p, n: np.nanmean(check.dice_per_class_solution(t, p, n)),
         "You returned one number"),
        (lambda t, p, n: check.dice_per_class_solution(t, p, 3), "also for classes that appear"),
        (lambda t, p, n: check.dice_per_class_solution(t, p, n) * 0.9, "Work the 4x4 example"),
        (lambda t, p, n: None, "forget to `return`"),
    ],
)
def test_dice_names_the_mistake(answer, message):
    with pytest.raises(CheckFailed, match=message):
        check.dice(answer)
