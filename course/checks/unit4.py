"""Self-checks for Unit 4 (convolutional networks).

Each check runs the student's function on hand-picked and random inputs,
compares with the reference below and, when they disagree, tries the typical
mistakes (flipped kernel, forgotten ``+ 1``, missing bias ...) so the message
can name the one that was made.
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


def output_size_solution(w_in, f, p, s):
    """Spatial output size of a convolution: (W1 - F + 2P) / S + 1, which must be a whole number."""
    span = w_in - f + 2 * p
    if span < 0 or span % s != 0:
        raise ValueError(
            f"(W1 - F + 2P) / S = ({w_in} - {f} + 2*{p}) / {s} is not a whole number >= 0"
        )
    return span // s + 1


def conv_params_solution(f, d_in, k):
    """Trainable parameters of a conv layer: K filters of F*F*D1 weights, plus K biases."""
    return (f * f * d_in) * k + k


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
                "(and this exercise) slide the kernel as it is: out[i, j] = "
                "sum(image[i:i+F_h, j:j+F_w] * kernel)."
            )
        require_close(result, expected, f"your output {where}")


@exercise("Exercise 4.2 — output size of a convolution", solution=output_size_solution)
def output_size(fn):
    """Check `fn(w_in, f, p, s)` on textbook layers and on hyperparameters that do not fit."""
    cases = [
        (227, 11, 0, 4),  # AlexNet conv1 -> 55
        (28, 5, 0, 1),  # MNIST, 5x5 receptive field -> 24
        (32, 3, 1, 1),  # 'same' 3x3 -> 32
        (6, 3, 1, 1),  # the zero-padded 6x6 example -> 6
        (55, 3, 0, 2),  # AlexNet overlapping 3x3 pooling, stride 2 -> 27
        (7, 3, 0, 2),  # stride 2 -> 3
    ]
    for w_in, f, p, s in cases:
        where = f"output_size({w_in}, f={f}, p={p}, s={s})"
        expected = output_size_solution(w_in, f, p, s)
        try:
            result = fn(w_in, f, p, s)
        except ValueError:
            raise CheckFailed(
                f"{where} raised ValueError, but ({w_in} - {f} + 2*{p}) / {s} + 1 = {expected} "
                "is a valid size."
            ) from None
        require(result is not None, f"{where} returned None: did you forget `return`?")
        require(
            isinstance(result, int | np.integer),
            f"{where} returned {result!r} of type {type(result).__name__}; a size is an int "
            "(use // once you have checked that the division is exact).",
        )
        if result == expected:
            continue
        mistakes = [  # first match wins: the most specific explanation comes first
            ((w_in - f + p) // s + 1, "padding goes on both sides, so it adds 2P, not P"),
            ((w_in - f) // s + 1, "padding is missing: zero padding P adds 2P to the width"),
            (
                (w_in - f + 2 * p) // s,
                "you forgot the + 1 (a kernel as large as the input still fits once)",
            ),
            (w_in - f + 2 * p + 1, "the stride is ignored: divide by S"),
        ]
        hint = next(
            (text for value, text in mistakes if value == result),
            "check the formula (W1 - F + 2P) / S + 1",
        )
        raise CheckFailed(f"{where} returned {result}, expected {expected}: {hint}.")

    for w_in, f, p, s in [(6, 3, 0, 2), (10, 4, 0, 4), (32, 5, 1, 2)]:
        where = f"output_size({w_in}, f={f}, p={p}, s={s})"
        try:
            result = fn(w_in, f, p, s)
        except ValueError:
            continue
        raise CheckFailed(
            f"{where} returned {result!r}, but ({w_in} - {f} + 2*{p}) / {s} + 1 = "
            f"{(w_in - f + 2 * p) / s + 1:g} is not a whole number: the filter does not tile the "
            "input, so raise ValueError instead of returning a size."
        )


@exercise("Exercise 4.3 — parameters of a convolutional layer", solution=conv_params_solution)
def conv_params(fn):
    """Check `fn(f, d_in, k)` against (F*F*D1)*K + K on real layers and random ones."""
    rng = np.random.default_rng(43)
    cases = [(5, 1, 6), (11, 3, 96), (3, 64, 128), (3, 512, 512), (1, 256, 64)]
    cases += [tuple(int(v) for v in rng.integers(1, 12, size=3)) for _ in range(5)]
    for f, d_in, k in cases:
        where = f"conv_params(f={f}, d_in={d_in}, k={k})"
        expected = conv_params_solution(f, d_in, k)
        result = fn(f, d_in, k)
        require(result is not None, f"{where} returned None: did you forget `return`?")
        if result == expected:
            continue
        mistakes = [  # first match wins: the most specific explanation comes first
            (f * f * d_in * k, f"{k} short: each of the K filters also has one bias"),
            (f * f * k + k, "each filter spans all D1 input channels, so it has F*F*D1 weights"),
            ((f * f * d_in + 1) * k + f * f * d_in, "there is one bias per filter, not per weight"),
            (f * d_in * k + k, "a filter is F x F, so it has F*F (not F) weights per channel"),
        ]
        hint = next(
            (text for value, text in mistakes if value == result),
            "use (F*F*D1)*K weights plus K biases",
        )
        raise CheckFailed(f"{where} returned {result}, expected {expected}: {hint}.")


@exercise("Exercise 4.4 — max pooling of one channel", solution=max_pool_solution)
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
                f"your output has shape {result.shape} {where}, expected {expected.shape} = "
                "((H - F) // S + 1, (W - F) // S + 1): windows of size F start every S pixels "
                "and must fit inside the input."
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
                f"{error} Output (i, j) is the max over rows i*S .. i*S+F-1 and "
                "columns j*S .. j*S+F-1."
            ) from None
