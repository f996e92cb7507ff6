"""Graded cases of A1 (a CNN's building blocks, a Keras CNN): trusted side, never released.

The grader calls the student's functions in a sandboxed process and judges what
they return here. Every expected value comes from TensorFlow or Keras in this
process (the forward passes from ``tf.nn``, the gradients from ``tf.GradientTape``),
never from a NumPy answer of our own, so a mistake in a reference implementation
cannot creep into the grades. The NumPy exercises run with ``libraries="numpy"``:
an answer that calls TensorFlow, Keras or SciPy earns nothing for that question.

tests/test_cases_a1.py proves that the instructor's solution passes every case
and that each typical wrong answer loses the cases it should.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from autograder.cases import Case, Question, Reply, close, integer, raises, satisfies

RNG = np.random.default_rng(20270221)
TOLERANCE = {"rtol": 1e-6, "atol": 1e-7}


# --------------------------------------------------------------------------- references

def _padding(pad: int) -> list[list[int]]:
    return [[0, 0], [pad, pad], [pad, pad], [0, 0]]


def _float64(*arrays):
    # tf.nn converts some float64 NumPy arrays to float32 on its own: be explicit.
    return [tf.constant(a, dtype=tf.float64) for a in arrays]


def reference_conv(x, w, b, stride, pad) -> np.ndarray:
    x, w, b = _float64(x, w, b)
    return (tf.nn.conv2d(x, w, strides=stride, padding=_padding(pad)) + b).numpy()


def reference_conv_gradients(dout, x, w, b, stride, pad):
    """dL/dx, dL/dw, dL/db for L = sum(conv(x, w, b) * dout), from TensorFlow's autodiff."""
    x, w, b = _float64(x, w, b)
    with tf.GradientTape() as tape:
        tape.watch([x, w, b])
        y = tf.nn.conv2d(x, w, strides=stride, padding=_padding(pad)) + b
    dx, dw, db = tape.gradient(y, [x, w, b], output_gradients=tf.constant(dout, tf.float64))
    return dx.numpy(), dw.numpy(), db.numpy()


def reference_pool(x, size, stride) -> np.ndarray:
    (x,) = _float64(x)
    return tf.nn.max_pool2d(x, size, stride, "VALID").numpy()


def reference_pool_gradient(dout, x, size, stride) -> np.ndarray:
    """TensorFlow's max-pooling gradient: each window's dout goes to its first maximum."""
    (x,) = _float64(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.nn.max_pool2d(x, size, stride, "VALID")
    return tape.gradient(y, x, output_gradients=tf.constant(dout, tf.float64)).numpy()


def _output_size(size, f, pad, stride) -> int:
    return (size - f + 2 * pad) // stride + 1


# --------------------------------------------------------------------------- judging helpers

def part(position: int, label: str, expectation):
    """Judge one item of the returned (dx, dw, db) tuple with ``expectation``."""

    def judge(reply: Reply) -> str | None:
        if reply.status != "ok":
            return expectation(reply)
        value = reply.value
        if not isinstance(value, tuple | list) or len(value) != 3:
            kind = type(value).__name__
            return f"returned a {kind}, expected the tuple (dx, dw, db)"
        problem = expectation(Reply("ok", value[position]))
        return f"{label}: {problem}" if problem else None

    return judge


def _probabilities(expected_rows: int):
    def check(description) -> str | None:
        if not isinstance(description, dict) or not description.get("is_model"):
            return "build_model() did not return a keras.Model"
        scores = np.asarray(description.get("predictions"), dtype=np.float64)
        if scores.shape != (expected_rows, 10):
            return (f"predict on {expected_rows} uint8 images of shape (28, 28) returned "
                    f"{scores.shape}, expected ({expected_rows}, 10)")
        if not np.all(np.isfinite(scores)):
            return "predict returned NaN or infinite values"
        if scores.min() < -1e-6 or not np.allclose(scores.sum(axis=1), 1.0, atol=1e-4):
            return "predict must return probabilities (rows >= 0 that sum to 1): end with a softmax"
        return None

    return check


def _model_property(what: str, holds):
    def check(description) -> str | None:
        if not isinstance(description, dict) or not description.get("is_model"):
            return "build_model() did not return a keras.Model"
        return None if holds(description) else what

    return check


# --------------------------------------------------------------------------- conv_forward

CONV_SHAPES = [
    # (name, N, H, W, C, K, F, stride, pad)
    ("3 channels, 4 filters, stride 2, padding 1", 2, 7, 7, 3, 4, 3, 2, 1),
    ("non-square 7x10 input, 3x3 filters, stride 2, no padding", 1, 7, 10, 2, 3, 3, 2, 0),
    ("5x5 filters, stride 3, padding 2, 3 images", 3, 9, 8, 2, 2, 5, 3, 2),
    ("1x1 filters mixing 5 channels", 2, 4, 6, 5, 3, 1, 1, 0),
    ("stride 2 leaves the last row and column uncovered", 1, 9, 9, 1, 2, 4, 2, 0),
    ("filter as large as the padded input", 2, 3, 3, 2, 3, 5, 1, 1),
    ("4 channels, 6 filters, stride 1, padding 2", 1, 6, 5, 4, 6, 3, 1, 2),
]


def _conv_cases() -> list[Case]:
    ramp = np.arange(16.0).reshape(1, 4, 4, 1)
    corner = np.array([1.0, 2.0, 3.0, 4.0]).reshape(2, 2, 1, 1)  # not symmetric: flips show
    cases = [Case("one 4x4 image, a 2x2 filter that is not symmetric",
                  args=(ramp, corner, np.array([0.5])), kwargs={"stride": 1, "pad": 0},
                  expect=close(reference_conv(ramp, corner, np.array([0.5]), 1, 0), **TOLERANCE))]
    shapes = list(CONV_SHAPES)
    for trial in range(5):
        f, stride, pad = (int(v) for v in (RNG.integers(1, 6), RNG.integers(1, 4), RNG.integers(0, 3)))
        h, w = (int(v) for v in RNG.integers(max(f - 2 * pad, 1), 12, size=2))
        n, c, k = (int(v) for v in RNG.integers(1, 4, size=3))
        shapes.append((f"random shapes #{trial + 1}: F={f}, S={stride}, P={pad}, input "
                       f"{n}x{h}x{w}x{c}, {k} filters", n, h, w, c, k, f, stride, pad))
    for name, n, h, w, c, k, f, stride, pad in shapes:
        x = RNG.normal(size=(n, h, w, c))
        weights = RNG.normal(size=(f, f, c, k))
        bias = RNG.normal(size=k)
        cases.append(Case(name, args=(x, weights, bias), kwargs={"stride": stride, "pad": pad},
                          expect=close(reference_conv(x, weights, bias, stride, pad), **TOLERANCE)))
    return cases


# --------------------------------------------------------------------------- max_pool_forward

POOL_SHAPES = [
    # (name, N, H, W, C, size, stride)
    ("2x2 windows, stride 2, 3 channels, all values negative", 2, 6, 6, 3, 2, 2),
    ("overlapping 3x3 windows, stride 1", 1, 5, 7, 2, 3, 1),
    ("overlapping 3x3 windows, stride 2", 2, 7, 7, 1, 3, 2),
    ("stride larger than the window (2x2, stride 3)", 1, 8, 8, 2, 2, 3),
    ("1x1 windows, stride 1: the input itself", 1, 3, 4, 2, 1, 1),
    ("non-square 5x9 input, odd size, 4 channels", 3, 5, 9, 4, 2, 2),
    ("one window covering the whole 4x4 map", 2, 4, 4, 3, 4, 1),
]


def _pool_cases() -> list[Case]:
    cases = []
    for name, n, h, w, c, size, stride in POOL_SHAPES:
        x = RNG.normal(size=(n, h, w, c)) - 3.0  # mostly negative: a maximum started at 0 shows
        cases.append(Case(name, args=(x,), kwargs={"size": size, "stride": stride},
                          expect=close(reference_pool(x, size, stride), **TOLERANCE)))
    for trial in range(3):
        size, stride = int(RNG.integers(1, 4)), int(RNG.integers(1, 4))
        shape = (int(RNG.integers(1, 4)), int(RNG.integers(size, 11)),
                 int(RNG.integers(size, 11)), int(RNG.integers(1, 5)))
        x = RNG.normal(size=shape) - 2.0
        cases.append(Case(f"random shapes #{trial + 1}: size {size}, stride {stride}, input "
                          f"{'x'.join(map(str, shape))}", args=(x,),
                          kwargs={"size": size, "stride": stride},
                          expect=close(reference_pool(x, size, stride), **TOLERANCE)))
    return cases


# --------------------------------------------------------------------------- conv sizes

def _tensorflow_output_width(width, f, pad, stride) -> int:
    image = tf.zeros((1, width, width, 1))
    kernel = tf.zeros((f, f, 1, 1))
    return int(tf.nn.conv2d(image, kernel, strides=stride, padding=_padding(pad)).shape[1])


def _output_size_cases() -> list[Case]:
    exact = [("AlexNet's first layer: 227, F=11, P=0, S=4", (227, 11, 0, 4)),
             ("LeNet's first layer: 32, F=5, P=0, S=1", (32, 5, 0, 1)),
             ("'same'-style padding: 32, F=3, P=1, S=1", (32, 3, 1, 1)),
             ("stride 2 that tiles: 7, F=3, P=0, S=2", (7, 3, 0, 2)),
             ("padding 2 with a 5x5 filter: 28, F=5, P=2, S=1", (28, 5, 2, 1)),
             ("filter as wide as the input: 5, F=5, P=0, S=1", (5, 5, 0, 1)),
             ("a 1x1 filter: 13, F=1, P=0, S=1", (13, 1, 0, 1)),
             ("filter wider than the input, padding makes it fit: 3, F=5, P=1, S=1", (3, 5, 1, 1)),
             ("stride 2 with padding: 64, F=4, P=1, S=2", (64, 4, 1, 2))]
    cases = [Case(name, args=args, expect=integer(_tensorflow_output_width(*args[:2], args[2], args[3])))
             for name, args in exact]
    cases += [
        Case("does not tile: 32, F=5, P=0, S=2 (27 / 2)", args=(32, 5, 0, 2),
             expect=raises("ValueError")),
        Case("does not tile: 10, F=4, P=0, S=4 (6 / 4)", args=(10, 4, 0, 4),
             expect=raises("ValueError")),
        Case("does not tile: 12, F=3, P=1, S=3 (11 / 3)", args=(12, 3, 1, 3),
             expect=raises("ValueError")),
        Case("filter does not fit: 3, F=5, P=0, S=1", args=(3, 5, 0, 1),
             expect=raises("ValueError")),
        Case("filter does not fit although the division is exact: 3, F=5, P=0, S=2",
             args=(3, 5, 0, 2), expect=raises("ValueError")),
    ]
    return cases


def _param_count_cases() -> list[Case]:
    shapes = [("LeNet's first layer: six 5x5 filters on 1 channel", (5, 1, 6)),
              ("64 3x3 filters on RGB", (3, 3, 64)),
              ("a 1x1 convolution from 256 to 64 channels", (1, 256, 64)),
              ("one 7x7 filter on 2 channels", (7, 2, 1))]
    for _ in range(4):
        f, d_in, k = (int(v) for v in RNG.integers(1, 9, size=3))
        shapes.append((f"{k} filters of {f}x{f} on {d_in} channels", (f, d_in, k)))
    cases = []
    for name, (f, d_in, k) in shapes:
        layer = keras.layers.Conv2D(k, f)
        layer.build((None, 16, 16, d_in))
        cases.append(Case(name, args=(f, d_in, k), expect=integer(int(layer.count_params()))))
    return cases


# --------------------------------------------------------------------------- conv_backward

BACKWARD_SHAPES = [
    # (name, N, H, W, C, K, F, stride, pad)
    ("one 3x3 image, 2x2 filter, stride 1", 1, 3, 3, 1, 1, 2, 1, 0),
    ("3 channels, 4 filters, stride 2, padding 1", 2, 7, 7, 3, 4, 3, 2, 1),
    ("non-square 6x9 input, padding 2", 1, 6, 9, 2, 3, 3, 1, 2),
    ("overlapping 3x3 windows, padding 1, 2 images", 2, 5, 5, 2, 2, 3, 1, 1),
    ("stride 2 leaves the last row and column uncovered", 1, 8, 8, 2, 2, 3, 2, 0),
    ("5x5 filters, stride 3, padding 2", 2, 9, 8, 1, 3, 5, 3, 2),
    ("1x1 filters, stride 2", 3, 6, 6, 4, 2, 1, 2, 0),
    ("4x4 filters, stride 2, padding 1, 3 images", 3, 6, 8, 2, 2, 4, 2, 1),
]


def _backward_cases() -> list[Case]:
    cases = []
    for name, n, h, w, c, k, f, stride, pad in BACKWARD_SHAPES:
        x = RNG.normal(size=(n, h, w, c))
        weights = RNG.normal(size=(f, f, c, k))
        bias = RNG.normal(size=k)
        out = (_output_size(h, f, pad, stride), _output_size(w, f, pad, stride))
        dout = RNG.normal(size=(n, *out, k))
        expected = reference_conv_gradients(dout, x, weights, bias, stride, pad)
        for position, label in enumerate(("dx", "dw", "db")):
            cases.append(Case(f"{label}, {name}", args=(dout, x, weights),
                              kwargs={"stride": stride, "pad": pad},
                              expect=part(position, label, close(expected[position], **TOLERANCE))))
    return cases


# --------------------------------------------------------------------------- max_pool_backward

def _relu_map(shape) -> np.ndarray:
    """Activations after a ReLU: about two thirds are exactly 0, so windows hold ties."""
    return np.maximum(RNG.normal(size=shape) - 0.5, 0.0)


def _pool_backward_inputs() -> list[tuple[str, np.ndarray, int, int]]:
    ramp = np.arange(16.0).reshape(1, 4, 4, 1)
    digits = RNG.integers(0, 3, size=(2, 6, 6, 2)).astype(float)  # small integers: many ties
    return [
        ("a 4x4 image holding 0..15, 2x2 windows", ramp, 2, 2),
        ("ties: ReLU outputs, 2x2 windows, stride 2", _relu_map((2, 6, 6, 3)), 2, 2),
        ("ties: an all-zero window goes to its first pixel", np.zeros((1, 4, 4, 1)), 2, 2),
        ("ties: small integers, overlapping 3x3 windows, stride 1", digits, 3, 1),
        ("ties: ReLU outputs, overlapping 3x3 windows, stride 2", _relu_map((1, 7, 9, 2)), 3, 2),
        ("overlapping 3x3 windows, stride 1: gradients add up", RNG.normal(size=(2, 5, 6, 2)), 3, 1),
        ("overlapping 2x2 windows, stride 1", RNG.normal(size=(1, 4, 5, 3)), 2, 1),
        ("stride larger than the window (2x2, stride 3)", RNG.normal(size=(1, 8, 8, 2)), 2, 3),
        ("non-square input, 3 channels, 3 images, negative values",
         RNG.normal(size=(3, 6, 10, 3)) - 3.0, 2, 2),
    ]


def _pool_backward_cases() -> list[Case]:
    cases = []
    for name, x, size, stride in _pool_backward_inputs():
        out = (_output_size(x.shape[1], size, 0, stride), _output_size(x.shape[2], size, 0, stride))
        dout = RNG.normal(size=(x.shape[0], *out, x.shape[3]))
        cases.append(Case(name, args=(dout, x), kwargs={"size": size, "stride": stride},
                          expect=close(reference_pool_gradient(dout, x, size, stride), **TOLERANCE)))
    return cases


# --------------------------------------------------------------------------- build_model

PROBE_IMAGES = np.concatenate([
    np.zeros((1, 28, 28), np.uint8), np.full((1, 28, 28), 255, np.uint8),
    RNG.integers(0, 256, size=(6, 28, 28)).astype(np.uint8),
])
MODEL_PROBE = {"probe": "keras_model", "probe_args": {"inputs": PROBE_IMAGES}, "timeout": 120}


def _model_cases() -> list[Case]:
    return [
        Case("takes uint8 images of shape (28, 28), as loaded",
             expect=satisfies(_model_property(
                 "the model's input shape must be (None, 28, 28): rescaling and the channel axis "
                 "belong inside the model", lambda d: d["input_shape"] == [None, 28, 28])),
             **MODEL_PROBE),
        Case("predicts 10 class probabilities for uint8 images",
             expect=satisfies(_probabilities(len(PROBE_IMAGES))), **MODEL_PROBE),
        Case("has a Conv2D layer",
             expect=satisfies(_model_property(
                 "the model has no Conv2D layer: this assignment is about convolutional networks",
                 lambda d: "Conv2D" in d["layers"])), **MODEL_PROBE),
        Case("is compiled",
             expect=satisfies(_model_property("compile the model inside build_model()",
                                              lambda d: d["compiled"])), **MODEL_PROBE),
    ]


QUESTIONS = [
    Question("test_conv_forward", "conv_forward", cases=_conv_cases()),
    Question("test_max_pool_forward", "max_pool_forward", cases=_pool_cases()),
    Question("test_conv_output_size", "conv_output_size", cases=_output_size_cases()),
    Question("test_conv_param_count", "conv_param_count", cases=_param_count_cases()),
    Question("test_conv_backward", "conv_backward", cases=_backward_cases()),
    Question("test_max_pool_backward", "max_pool_backward", cases=_pool_backward_cases()),
    Question("test_build_model", "build_model", cases=_model_cases(), libraries="any"),
]
