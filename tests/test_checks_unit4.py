"""The Unit 4 self-checks accept right answers and explain typical wrong ones."""

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from course.checks import CheckFailed
from course.checks import unit4 as check

# --------------------------------------------------------------------------- 4.1 conv2d_single


def vectorised_correlation(image, kernel):
    windows = sliding_window_view(np.asarray(image, float), np.shape(kernel))
    return np.einsum("ijkl,kl->ij", windows, kernel)


def test_conv2d_single_accepts_a_vectorised_answer(capsys):
    assert check.conv2d_single(vectorised_correlation) is True
    assert "correct" in capsys.readouterr().out


def test_conv2d_single_accepts_tensorflow():
    tf = pytest.importorskip("tensorflow")

    def with_tensorflow(image, kernel):
        x = tf.constant(image[None, :, :, None], tf.float64)
        k = tf.constant(kernel[:, :, None, None], tf.float64)
        return tf.nn.conv2d(x, k, strides=1, padding="VALID")[0, :, :, 0].numpy()

    assert check.conv2d_single(with_tensorflow) is True


def off_by_one_short(image, kernel):
    return vectorised_correlation(image, kernel)[:-1, :-1]


def off_by_one_long(image, kernel):
    kh, kw = kernel.shape
    out = np.zeros((image.shape[0] - kh + 2, image.shape[1] - kw + 2))
    out[:-1, :-1] = vectorised_correlation(image, kernel)
    return out


def same_padding(image, kernel):
    kh, kw = kernel.shape
    padded = np.pad(image, ((kh // 2, (kh - 1) // 2), (kw // 2, (kw - 1) // 2)))
    return vectorised_correlation(padded, kernel)


def swapped_sizes(image, kernel):
    kh, kw = kernel.shape
    if kh == kw:
        return vectorised_correlation(image, kernel)
    return np.zeros((image.shape[0] - kw + 1, image.shape[1] - kh + 1))


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (lambda image, kernel: vectorised_correlation(image, kernel[::-1, ::-1]),
         "flipped-kernel.*without rotating it"),
        (off_by_one_short, "One row and one column short"),
        (off_by_one_long, "One too many"),
        (same_padding, "no padding"),
        (swapped_sizes, "swapped"),
        (lambda image, kernel: 2 * vectorised_correlation(image, kernel), "differs"),
        (lambda image, kernel: vectorised_correlation(image, kernel) + 1.0, "differs"),
        (lambda image, kernel: None, "forget to `return`"),
    ],
)
def test_conv2d_single_explains_typical_mistakes(wrong, message):
    with pytest.raises(CheckFailed, match=message):
        check.conv2d_single(wrong)


# --------------------------------------------------------------------------- 4.2 output_size


def keras_output_size(w_in, f, s, padding):
    """What Keras itself says: the right answer, computed by building the layer."""
    keras = pytest.importorskip("keras")
    layer = keras.layers.Conv2D(1, f, strides=s, padding=padding)
    return int(layer.compute_output_shape((None, w_in, w_in, 1))[1])


def right_output_size(w_in, f, s, padding):
    if padding == "same":
        return (w_in + s - 1) // s
    if f > w_in:
        raise ValueError("the filter is larger than the input")
    return (w_in - f) // s + 1


def test_output_size_reference_agrees_with_keras_on_every_case():
    for w_in, f, s, padding in check.OUTPUT_SIZE_CASES:
        assert check.output_size_solution(w_in, f, s, padding) == keras_output_size(
            w_in, f, s, padding
        ), (w_in, f, s, padding)


def test_keras_refuses_the_filters_that_are_too_large():
    for w_in, f, s in check.FILTER_TOO_LARGE:
        with pytest.raises(ValueError):
            keras_output_size(w_in, f, s, "valid")


def test_output_size_accepts_right_answers(capsys):
    assert check.output_size(right_output_size) is True
    assert check.output_size(keras_output_size) is True
    assert capsys.readouterr().out.count("correct") == 2


def valid_then(same_rule):
    """An answer right for 'valid' padding whose 'same' branch is ``same_rule``."""

    def answer(w, f, s, padding):
        return right_output_size(w, f, s, padding) if padding == "valid" else same_rule(w, f, s)

    return answer


def same_then(valid_rule):
    """An answer right for 'same' padding whose 'valid' branch is ``valid_rule``."""

    def answer(w, f, s, padding):
        return valid_rule(w, f, s) if padding == "valid" else right_output_size(w, f, s, padding)

    return answer


def exact_tiling_only(w, f, s):
    """The hand formula that refuses strides that do not tile (what Keras does not do)."""
    if (w - f) % s:
        raise ValueError("the filter does not tile the input")
    return right_output_size(w, f, s, "valid")


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (same_then(lambda w, f, s: (w - f) // s), r"forgot the \+ 1"),
        (same_then(lambda w, f, s: -(-(w - f) // s) + 1), "rounded up"),
        (same_then(lambda w, f, s: w - f + 1), "stride is ignored"),
        (same_then(lambda w, f, s: (w - f) / s + 1), "type float"),
        (same_then(exact_tiling_only), "Keras does not refuse such a layer"),
        # A filter larger than the input: a number instead of an error is wrong.
        (same_then(lambda w, f, s: (w - f) // s + 1), "W1 - F = -2 is negative.*raise ValueError"),
        (same_then(lambda w, f, s: max((w - f) // s + 1, 0)), "does not fit anywhere"),
        (same_then(lambda w, f, s: max((w - f) // s + 1, 1)), "there is no output at all"),
        (valid_then(lambda w, f, s: w), "stride is ignored.*halves"),
        (valid_then(lambda w, f, s: (w - f) // s + 1), "that is the 'valid' size"),
        (valid_then(lambda w, f, s: w // s + 1), "counts one window too many"),
        (valid_then(lambda w, f, s: w // s), "rounding down drops the last window"),
        (valid_then(lambda w, f, s: (w - f + 2 * ((f - 1) // 2)) // s + 1), "odd kernels only"),
        (lambda w, f, s, padding: None, "forget `return`"),
        (lambda w, f, s, padding: True, "type bool"),
        (valid_then(lambda w, f, s: (w + 2) // s), "count the positions"),
    ],
)
def test_output_size_explains_typical_mistakes(wrong, message):
    with pytest.raises(CheckFailed, match=message):
        check.output_size(wrong)


def test_output_size_does_not_hide_a_crash_in_the_answer():
    with pytest.raises(ZeroDivisionError):
        check.output_size(lambda w, f, s, padding: w / 0)


def test_output_size_rejects_a_function_that_refuses_valid_sizes():
    def always_refuses(w_in, f, s, padding):
        raise ValueError("no")

    with pytest.raises(CheckFailed, match="Keras builds this layer"):
        check.output_size(always_refuses)


def test_output_size_messages_do_not_print_the_rule():
    for wrong in (valid_then(lambda w, f, s: w // s), same_then(lambda w, f, s: (w - f) // s)):
        with pytest.raises(CheckFailed) as failure:
            check.output_size(wrong)
        assert "ceil" not in str(failure.value) and "//" not in str(failure.value)


# --------------------------------------------------------------------------- 4.3 max_pool


def vectorised_max_pool(x, size, stride):
    return sliding_window_view(x, (size, size))[::stride, ::stride].max(axis=(-2, -1))


def test_max_pool_accepts_a_vectorised_answer(capsys):
    assert check.max_pool(vectorised_max_pool) is True
    assert "correct" in capsys.readouterr().out


def window_of_stride_size(x, size, stride):
    out = vectorised_max_pool(x, size, stride)
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = x[i * stride : i * stride + stride, j * stride : j * stride + stride].max()
    return out


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (lambda x, size, stride: vectorised_max_pool(x, size, 1), "must fit inside the input"),
        (lambda x, size, stride: vectorised_max_pool(x, stride, stride), "maximum of one F x F"),
        (
            lambda x, size, stride: sliding_window_view(x, (size, size))[::stride, ::stride].mean(
                axis=(-2, -1)
            ),
            "average",
        ),
        (
            lambda x, size, stride: sliding_window_view(x, (size, size))[::stride, ::stride].min(
                axis=(-2, -1)
            ),
            "minimum",
        ),
        (window_of_stride_size, "neighbouring windows start S pixels apart"),
        (lambda x, size, stride: vectorised_max_pool(x, size, stride).T, "differs"),
    ],
)
def test_max_pool_explains_typical_mistakes(wrong, message):
    with pytest.raises(CheckFailed, match=message):
        check.max_pool(wrong)


def test_max_pool_reference_matches_keras():
    keras = pytest.importorskip("keras")
    x = np.random.default_rng(0).normal(size=(7, 9)).astype("float32")
    layer = keras.layers.MaxPooling2D(pool_size=3, strides=2)
    expected = keras.ops.convert_to_numpy(layer(x[None, :, :, None]))[0, :, :, 0]
    np.testing.assert_allclose(check.max_pool_solution(x, 3, 2), expected, rtol=1e-6)


def test_conv2d_single_messages_do_not_print_the_answer():
    with pytest.raises(CheckFailed) as failure:
        check.conv2d_single(lambda image, kernel: vectorised_correlation(image, kernel[::-1, ::-1]))
    assert "sum(" not in str(failure.value) and "image[" not in str(failure.value)


# --------------------------------------------------------------------------- 4.4 separable_conv_params


def test_separable_reference_matches_keras():
    keras = pytest.importorskip("keras")
    for f, d_in, k in [(3, 32, 64), (3, 512, 512), (5, 3, 16), (1, 8, 4), (7, 5, 9)]:
        layer = keras.layers.SeparableConv2D(k, f)
        layer.build((None, 16, 16, d_in))
        assert layer.count_params() == check.separable_conv_params_solution(f, d_in, k)


def test_separable_conv_params_accepts_right_answer(capsys):
    assert check.separable_conv_params(lambda f, d_in, k: d_in * (f * f + k) + k) is True
    assert "correct" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (lambda f, d_in, k: f * f * d_in * k + k, "standard convolution"),
        (lambda f, d_in, k: f * f * d_in + d_in * k, "64 short: the pointwise step has one bias"),
        (lambda f, d_in, k: f * f * d_in + d_in * k + k + d_in, "no bias after the depthwise"),
        (lambda f, d_in, k: f * f * d_in + k, "pointwise 1 x 1 convolution.*missing"),
        (lambda f, d_in, k: f * f * k + d_in * k + k, r"one filter per \*input\* channel"),
        (lambda f, d_in, k: f * f * d_in * k + d_in * k + k, "not once per output channel"),
        (lambda f, d_in, k: f * d_in + d_in * k + k, r"F\*F \(not F\)"),
        (lambda f, d_in, k: f * f + d_in * k + k, "its own F x F filter"),
        (lambda f, d_in, k: None, "forget `return`"),
        (lambda f, d_in, k: f * f * d_in + d_in * k + 2 * k, "count the weights of the depthwise"),
    ],
)
def test_separable_conv_params_explains_typical_mistakes(wrong, message):
    with pytest.raises(CheckFailed, match=message):
        check.separable_conv_params(wrong)
