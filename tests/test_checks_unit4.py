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
        (lambda image, kernel: vectorised_correlation(image, kernel[::-1, ::-1]), "flipped-kernel"),
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


def right_output_size(w_in, f, p, s):
    span = w_in - f + 2 * p
    if span % s:
        raise ValueError("the filter does not tile the input")
    return span // s + 1


def test_output_size_accepts_right_answer(capsys):
    assert check.output_size(right_output_size) is True
    assert "correct" in capsys.readouterr().out


def float_result(w_in, f, p, s):
    right_output_size(w_in, f, p, s)
    return (w_in - f + 2 * p) / s + 1


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (lambda w, f, p, s: (w - f + 2 * p) // s, r"forgot the \+ 1"),
        (lambda w, f, p, s: (w - f) // s + 1, "padding is missing"),
        (lambda w, f, p, s: (w - f + p) // s + 1, "adds 2P, not P"),
        (lambda w, f, p, s: w - f + 2 * p + 1, "stride is ignored"),
        (lambda w, f, p, s: (w - f + 2 * p) // s + 1, "raise ValueError instead"),
        (lambda w, f, p, s: int((w - f + 2 * p) / s + 1), "not a whole number"),
        (float_result, "type float"),
        (lambda w, f, p, s: None, "forget `return`"),
        (lambda w, f, p, s: (w + f - 2 * p) // s + 1, r"\(W1 - F \+ 2P\) / S \+ 1"),
    ],
)
def test_output_size_explains_typical_mistakes(wrong, message):
    with pytest.raises(CheckFailed, match=message):
        check.output_size(wrong)


def test_output_size_rejects_a_function_that_refuses_valid_sizes():
    def always_refuses(w_in, f, p, s):
        raise ValueError("no")

    with pytest.raises(CheckFailed, match="is a valid size"):
        check.output_size(always_refuses)


# --------------------------------------------------------------------------- 4.3 conv_params


def test_conv_params_accepts_right_answer_in_either_order(capsys):
    assert check.conv_params(lambda f, d_in, k: (f * f * d_in + 1) * k) is True
    assert check.conv_params(lambda f, d_in, k: k * (d_in * f**2) + k) is True
    assert capsys.readouterr().out.count("correct") == 2


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (lambda f, d_in, k: f * f * d_in * k, "also has one bias"),
        (lambda f, d_in, k: f * f * k + k, "spans all D1 input channels"),
        (lambda f, d_in, k: (f * f * d_in + 1) * k + f * f * d_in, "one bias per filter"),
        (lambda f, d_in, k: f * d_in * k + k, "F x F"),
        (lambda f, d_in, k: None, "forget `return`"),
        (lambda f, d_in, k: f * f * d_in + k, r"\(F\*F\*D1\)\*K weights plus K biases"),
    ],
)
def test_conv_params_explains_typical_mistakes(wrong, message):
    with pytest.raises(CheckFailed, match=message):
        check.conv_params(wrong)


def test_conv_params_reference_matches_keras():
    keras = pytest.importorskip("keras")
    layer = keras.layers.Conv2D(96, 11, strides=4)
    layer.build((None, 227, 227, 3))
    assert layer.count_params() == check.conv_params_solution(11, 3, 96) == 34_944


# --------------------------------------------------------------------------- 4.4 max_pool


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
        (lambda x, size, stride: vectorised_max_pool(x, stride, stride), "max over rows"),
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
        (window_of_stride_size, "max over rows i\\*S .. i\\*S\\+F-1"),
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
