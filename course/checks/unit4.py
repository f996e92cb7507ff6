"""Self-checks for Unit 4 (convolutional networks).

Each check runs the student's function on hand-picked and random inputs,
compares with the reference below and, when they disagree, tries the typical
mistakes (flipped kernel, forgotten ``+ 1``, missing bias ...) so the message
can name the one that was made.

Assignment A1 asks for the exact output-size formula with explicit padding, the
parameter count of a standard convolution, and batched multi-channel
convolution and pooling; none of those is published here. The unit's exercises
teach the same ideas on other cases: one channel, Keras's ``valid``/``same``
sizes, and the depthwise separable convolution of MobileNet.
"""

from __future__ import annotations

import numpy as np

from course.checks import CheckFailed, as_array, exercise, require, require_close


def conv2d_single_solution(image, kernel):
    """Valid cross-correlation of one channel (what deep-learning libraries call convolution)."""
    image = np.asarray(image, dtype=float)
    kernel = np.asarray(kernel, dtype=float)
    kh, kw = kernel.shape
    out_h = image.shape[0] - kh + 1
    out_w = image.shape[1] - kw + 1
    out = np.zeros((out_h, out_w))
    for i in range(out_h):
        for j in range(out_w):
            out[i, j] = np.sum(image[i : i + kh, j : j + kw] * kernel)
    return out


def output_size_solution(w_in, f, s, padding):
    """Width of a Keras ``Conv2D(..., f, strides=s, padding=padding)`` output on an input of width w_in."""
    if padding == "same":
        # Windows start at 0, S, 2S, ... as long as the start lies inside the input.
        return -(-w_in // s)
    if padding == "valid":
        if f > w_in:
            raise ValueError(f"a {f}-wide filter does not fit in a {w_in}-wide input")
        return (w_in - f) // s + 1  # starts that leave room for the whole window
    raise ValueError(f"padding must be 'valid' or 'same', got {padding!r}")


def separable_conv_params_solution(f, d_in, k):
    """Trainable parameters of ``keras.layers.SeparableConv2D(k, f)`` on d_in channels."""
    depthwise = f * f * d_in  # one F x F filter per input channel, no bias
    pointwise = d_in * k + k  # a 1 x 1 convolution mixing the channels, with K biases
    return depthwise + pointwise


def max_pool_solution(x, size, stride):
    """Max pooling of one channel with square windows of `size` moved by `stride` (no padding)."""
    x = np.asarray(x, dtype=float)
    out_h = (x.shape[0] - size) // stride + 1
    out_w = (x.shape[1] - size) // stride + 1
    out = np.zeros((out_h, out_w))
    for i in range(out_h):
        for j in range(out_w):
            rows = slice(i * stride, i * stride + size)
            cols = slice(j * stride, j * stride + size)
            out[i, j] = x[rows, cols].max()
    return out


def _matches(actual: np.ndarray, expected: np.ndarray) -> bool:
    return actual.shape == expected.shape and np.allclose(actual, expected, atol=1e-6)


@exercise("Exercise 4.1 — valid cross-correlation of one channel", solution=conv2d_single_solution)
def conv2d_single(fn):
    """Check `fn(image, kernel)` on a small worked case and random rectangular inputs."""
    rng = np.random.default_rng(4)
    cases = [
        # A diagonal-edge kernel on a ramp: flipping this kernel negates it.
        (np.arange(30.0).reshape(6, 5), np.array([[0.0, 1, 2], [-1, 0, 1], [-2, -1, 0]])),
        (rng.normal(size=(7, 6)), rng.normal(size=(3, 2))),
        (rng.normal(size=(6, 9)), rng.normal(size=(2, 4))),
        (rng.normal(size=(8, 8)), rng.normal(size=(3, 3))),
    ]
    for image, kernel in cases:
        expected = conv2d_single_solution(image, kernel)
        result = as_array(fn(image.copy(), kernel.copy()), "your output")
        where = f"(image {image.shape}, kernel {kernel.shape})"
        if result.shape != expected.shape:
            h, w = image.shape
            kh, kw = kernel.shape
            hint = ""
            if result.shape == image.shape:
                hint = " It has the input's shape: a *valid* correlation uses no padding."
            elif result.shape == (h - kh, w - kw):
                hint = " One row and one column short: the count of positions is H - F + 1."
            elif result.shape == (h - kh + 2, w - kw + 2):
                hint = " One too many: the last window starts at row H - F, so there are H - F + 1."
            elif result.shape == (h - kw + 1, w - kh + 1):
                hint = " Height and width are swapped: rows go with the kernel's height."
            raise CheckFailed(
                f"your output has shape {result.shape} {where}, expected {expected.shape} "
                f"= (H - F_h + 1, W - F_w + 1).{hint}"
            )
        if _matches(result, conv2d_single_solution(image, kernel[::-1, ::-1])):
            raise CheckFailed(
                f"your output {where} is the *flipped-kernel* convolution. Deep-learning layers "
                "(and this exercise) slide the kernel as it is, without rotating it by 180°."
            )
        require_close(result, expected, f"your output {where}")


OUTPUT_SIZE_CASES = [  # (w_in, f, s, padding)
    (227, 11, 4, "valid"),  # AlexNet conv1 -> 55
    (28, 5, 1, "valid"),  # a 5x5 receptive field on MNIST -> 24
    (7, 3, 2, "valid"),  # -> 3
    (6, 3, 2, "valid"),  # the last column is left out -> 2
    (10, 4, 3, "valid"),  # -> 3
    (32, 5, 2, "valid"),  # -> 14
    (5, 5, 1, "valid"),  # the filter covers the whole input once -> 1
    (32, 3, 1, "same"),  # -> 32
    (7, 3, 2, "same"),  # -> 4
    (8, 3, 4, "same"),  # -> 2
    (9, 3, 3, "same"),  # -> 3
    (28, 4, 1, "same"),  # an even kernel -> 28
    (224, 7, 2, "same"),  # ResNet's first layer -> 112
    (3, 5, 2, "same"),  # a filter larger than the input is fine with padding -> 2
]
# A filter larger than the input leaves W1 - F negative: there is no valid position.
FILTER_TOO_LARGE = [(3, 5, 1), (4, 7, 2), (10, 11, 1)]


def _output_size_mistakes(w_in, f, s, padding):
    """(value, explanation) for the usual wrong answers; the first match wins."""
    if padding == "valid":
        return [
            ((w_in - f) // s, "you forgot the + 1: the first window, at position 0, counts too"),
            (-(-(w_in - f) // s) + 1,
             "you rounded up, which counts a window that would stick out past the edge of the "
             "input; with 'valid' padding Keras only computes windows that fit entirely"),
            (w_in - f + 1, "the stride is ignored: with stride S only every S-th position is used"),
            ((w_in - f + 2 * ((f - 1) // 2)) // s + 1,
             "that is the size with 'same' style padding; 'valid' means no padding at all"),
        ]
    return [
        (w_in, "the stride is ignored: with stride 2, 'same' padding halves the size"),
        (w_in // s + 1,
         "adding 1 to the rounded-down quotient counts one window too many when the stride "
         "divides the width exactly"),
        (w_in // s,
         "rounding down drops the last window: with 'same' padding a window starts at every "
         "S-th pixel from the first, and a start that lies inside the input always yields an "
         "output, even when the stride does not divide the width"),
        ((w_in - f) // s + 1, "that is the 'valid' size; with 'same' Keras pads the input"),
        ((w_in - f + 2 * ((f - 1) // 2)) // s + 1,
         "right for odd kernels only. With 'same' padding the output size does not depend on "
         "the kernel size at all: Keras pads an even kernel unequally (one more zero at the "
         "bottom and right) to keep it so"),
    ]


@exercise("Exercise 4.2 — the output size Keras computes", solution=output_size_solution)
def output_size(fn):
    """Check ``fn(w_in, f, s, padding)`` on real layers, on both paddings, and on filters that do not fit."""
    for w_in, f, s, padding in OUTPUT_SIZE_CASES:
        where = f"output_size({w_in}, f={f}, s={s}, padding={padding!r})"
        expected = output_size_solution(w_in, f, s, padding)
        try:
            result = fn(w_in, f, s, padding)
        except ValueError:
            tiles = (w_in - f) % s == 0
            raise CheckFailed(
                f"{where} raised ValueError, but Keras builds this layer and its output is "
                f"{expected} wide."
                + ("" if padding != "valid" or tiles else
                   f" ({w_in} - {f}) is not a multiple of {s}, so the windows do not tile the "
                   "input exactly; Keras does not refuse such a layer, it leaves out the last "
                   "columns that no window covers.")
            ) from None
        require(result is not None, f"{where} returned None: did you forget `return`?")
        require(
            isinstance(result, int | np.integer) and not isinstance(result, bool),
            f"{where} returned {result!r} of type {type(result).__name__}; a size is a whole "
            "number of positions, an int.",
        )
        if result == expected:
            continue
        hint = next((text for value, text in _output_size_mistakes(w_in, f, s, padding)
                     if value == result),
                    "count the positions where a window starts: the first one, then one every "
                    "S pixels")
        raise CheckFailed(f"{where} returned {result}, expected {expected}: {hint}.")

    for w_in, f, s in FILTER_TOO_LARGE:
        where = f"output_size({w_in}, f={f}, s={s}, padding='valid')"
        try:
            result = fn(w_in, f, s, "valid")
        except ValueError:
            continue
        raise CheckFailed(
            f"{where} returned {result!r}, but a {f}-wide filter does not fit anywhere in a "
            f"{w_in}-wide input without padding (W1 - F = {w_in - f} is negative): there is no "
            "output at all, so raise ValueError, as Keras does, instead of returning a number."
        )


@exercise("Exercise 4.3 — max pooling of one channel", solution=max_pool_solution)
def max_pool(fn):
    """Check `fn(x, size, stride)` with overlapping and non-overlapping windows."""
    rng = np.random.default_rng(44)
    cases = [
        (np.arange(16.0).reshape(4, 4), 2, 2),
        (rng.normal(size=(6, 6)), 2, 2),
        (rng.normal(size=(7, 9)), 3, 2),  # overlapping windows (AlexNet's pooling)
        (rng.normal(size=(5, 6)), 3, 1),
    ]
    for x, size, stride in cases:
        where = f"(input {x.shape}, size={size}, stride={stride})"
        expected = max_pool_solution(x, size, stride)
        result = as_array(fn(x.copy(), size, stride), "your output")
        if result.shape != expected.shape:
            raise CheckFailed(
                f"your output has shape {result.shape} {where}, expected {expected.shape}: "
                "windows of size F start every S pixels and must fit inside the input, so count "
                "the positions as for a 'valid' convolution (exercise 4.2)."
            )
        windows = np.lib.stride_tricks.sliding_window_view(x, (size, size))[::stride, ::stride]
        if _matches(result, windows.mean(axis=(-2, -1))):
            raise CheckFailed(f"your output {where} is the *average* of each window; take the max.")
        if _matches(result, windows.min(axis=(-2, -1))):
            raise CheckFailed(f"your output {where} is the *minimum* of each window; take the max.")
        try:
            require_close(result, expected, f"your output {where}")
        except CheckFailed as error:
            raise CheckFailed(
                f"{error} Each output value is the maximum of one F x F window; neighbouring "
                "windows start S pixels apart, along the rows and along the columns."
            ) from None


@exercise("Exercise 4.4 — parameters of a depthwise separable convolution",
          solution=separable_conv_params_solution)
def separable_conv_params(fn):
    """Check ``fn(f, d_in, k)`` against Keras's ``SeparableConv2D`` on MobileNet's layers and random ones."""
    rng = np.random.default_rng(44)
    cases = [(3, 32, 64), (3, 512, 512), (3, 1024, 1024), (5, 3, 16), (1, 8, 4)]
    cases += [tuple(int(v) for v in rng.integers(2, 12, size=3)) for _ in range(5)]
    for f, d_in, k in cases:
        where = f"separable_conv_params(f={f}, d_in={d_in}, k={k})"
        expected = separable_conv_params_solution(f, d_in, k)
        result = fn(f, d_in, k)
        require(result is not None, f"{where} returned None: did you forget `return`?")
        if result == expected:
            continue
        mistakes = [  # first match wins: the most specific explanation comes first
            (f * f * d_in * k + k,
             "that is the count of a standard convolution, which filters and mixes channels in "
             "one step; the separable one splits it into a depthwise and a pointwise step"),
            (f * f * d_in + d_in * k,
             f"{k} short: the pointwise step has one bias per output channel"),
            (f * f * d_in + d_in * k + k + d_in,
             f"{d_in} too many: Keras's SeparableConv2D adds no bias after the depthwise step, "
             "only after the pointwise one"),
            (f * f * d_in + k,
             "the pointwise 1 x 1 convolution that mixes the channels is missing"),
            (f * f * k + d_in * k + k,
             "the depthwise step has one filter per *input* channel (D1 of them), not per output "
             "channel"),
            (f * f * d_in * k + d_in * k + k,
             "the depthwise step filters each input channel once, with a single F x F filter, "
             "not once per output channel"),
            (f * d_in + d_in * k + k, "a filter is F x F, so it has F*F (not F) weights"),
            (f * f + d_in * k + k, "every input channel gets its own F x F filter"),
        ]
        hint = next((text for value, text in mistakes if value == result),
                    "count the weights of the depthwise step and of the pointwise step, "
                    "then the biases")
        raise CheckFailed(f"{where} returned {result}, expected {expected}: {hint}.")
