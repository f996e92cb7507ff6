"""The Unit 5 self-checks accept right answers and explain typical wrong ones."""

import numpy as np
import pytest

from course import metrics
from course.checks import CheckFailed
from course.checks import unit5 as check

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
        (overwrites, r"add them \(`\+=`\)"),
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


# --------------------------------------------------------------------------- 5.3 iou


def test_iou_accepts_course_metrics():
    assert check.iou(metrics.iou_per_class) is True


def test_iou_reference_matches_course_metrics_on_random_masks():
    rng = np.random.default_rng(1)
    y_true, y_pred = rng.integers(0, 4, (2, 9, 7)), rng.integers(0, 3, (2, 9, 7))
    np.testing.assert_allclose(
        check.iou_per_class_solution(y_true, y_pred, 5),
        metrics.iou_per_class(y_true, y_pred, 5),
        equal_nan=True,
    )


def _iou_variant(y_true, y_pred, num_classes, *, union=None, absent=np.nan, defined=None):
    out = []
    for c in range(num_classes):
        t, p = y_true == c, y_pred == c
        inter = np.sum(t & p)
        u = union(t, p, inter) if union else np.sum(t | p)
        if defined is not None and not defined(t, p):
            out.append(absent)
        elif u == 0:
            out.append(absent)
        else:
            out.append(inter / u)
    return np.array(out, float)


def per_image_average(y_true, y_pred, num_classes):
    if y_true.ndim == 2:
        return check.iou_per_class_solution(y_true, y_pred, num_classes)
    return np.nanmean(
        [
            check.iou_per_class_solution(t, p, num_classes)
            for t, p in zip(y_true, y_pred, strict=True)
        ],
        axis=0,
    )


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (
            lambda t, p, n: _iou_variant(t, p, n, union=lambda a, b, i: a.sum() + b.sum()),
            "counts the intersection twice",
        ),
        (lambda t, p, n: _iou_variant(t, p, n, absent=0.0), r"undefined \(0/0\): return np.nan"),
        (lambda t, p, n: _iou_variant(t, p, n, absent=1.0), "gave it IoU 1"),
        (
            lambda t, p, n: _iou_variant(t, p, n, defined=lambda a, b: a.any()),
            "only predicted has IoU 0",
        ),
        (
            lambda t, p, n: _iou_variant(t, p, n, union=lambda a, b, i: (a.sum() + b.sum()) / 2),
            "Dice coefficient",
        ),
        (per_image_average, "averaged per-image IoUs"),
        (lambda t, p, n: metrics.mean_iou(t, p, n), "return one IoU per class"),
    ],
)
def test_iou_names_the_mistake(answer, message):
    with pytest.raises(CheckFailed, match=message):
        check.iou(answer)
