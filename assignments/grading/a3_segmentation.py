"""Graded cases of A3 (transposed convolution, IoU, a U-Net): trusted side, never released.

The grader calls the student's functions in a sandboxed process and judges what
they return here. The expected values come from this process: the transposed
convolution from ``keras.layers.Conv2DTranspose``, the IoUs from the grader's own
``autograder.metrics.iou_per_class``. The two NumPy exercises run with
``libraries="numpy"``, so an answer that delegates to Keras's ``Conv2DTranspose``,
``MeanIoU`` or ``IoU`` earns nothing for its question.

tests/test_cases_a3.py proves that the instructor's solution passes every case
and that each typical wrong answer loses the question's points.
"""

from __future__ import annotations

import keras
import numpy as np

from autograder.cases import Case, Question, close, satisfies
from autograder.metrics import iou_per_class as reference_iou_per_class

RNG = np.random.default_rng(20270418)


# --------------------------------------------------------------------------- references

def reference_conv_transpose(x, w, stride, padding) -> np.ndarray:
    f, _, k, c = w.shape
    layer = keras.layers.Conv2DTranspose(k, f, strides=stride, padding=padding, use_bias=False)
    layer.build((None, None, None, c))
    layer.set_weights([w])
    return np.asarray(keras.ops.convert_to_numpy(layer(x)), dtype=np.float64)


def reference_mean_iou(y_true, y_pred, num_classes) -> float:
    return float(np.nanmean(reference_iou_per_class(np.asarray(y_true), np.asarray(y_pred),
                                                    num_classes)))


def close_with_nan(expected, atol: float = 1e-9):
    """The returned array equals ``expected``, NaN exactly where ``expected`` has NaN."""
    expected = np.asarray(expected, dtype=np.float64)

    def check(value) -> str | None:
        try:
            array = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            return f"returned {type(value).__name__}, not an array of numbers"
        if array.shape != expected.shape:
            return f"returned shape {array.shape}, expected {expected.shape}"
        for c, (got, want) in enumerate(zip(array, expected, strict=True)):
            if np.isnan(want) and not np.isnan(got):
                return (f"class {c} is in neither map, so its IoU is undefined: expected NaN, "
                        f"got {got:.4g}")
            if not np.isnan(want) and np.isnan(got):
                return f"class {c}: expected {want:.4g}, got NaN"
            if not np.isnan(want) and abs(got - want) > atol:
                return f"class {c}: expected {want:.4g}, got {got:.4g}"
        return None

    return satisfies(check)


# --------------------------------------------------------------------------- conv_transpose_forward

TCONV_SHAPES = [
    # (name, N, H, W, C, K, F, stride, padding)
    ("2x2 kernel, stride 2 (each pixel becomes a block), 'same'", 2, 3, 4, 3, 2, 2, 2, "same"),
    ("3x3 kernel, stride 2: stamps overlap, 'valid'", 1, 3, 3, 2, 3, 3, 2, "valid"),
    ("3x3 kernel, stride 2, 'same' (an odd overhang of 1)", 2, 4, 3, 1, 2, 3, 2, "same"),
    ("4x4 kernel, stride 2, 'same' (an overhang of 2)", 1, 3, 5, 2, 2, 4, 2, "same"),
    ("5x5 kernel, stride 1, 'same' (an overhang of 4)", 1, 4, 4, 2, 3, 5, 1, "same"),
    ("5x5 kernel, stride 2, 'valid'", 2, 2, 3, 3, 1, 5, 2, "valid"),
    ("kernel smaller than the stride (2x2, stride 3), 'valid'", 1, 3, 3, 2, 2, 2, 3, "valid"),
    ("kernel smaller than the stride (1x1, stride 2), 'same'", 2, 3, 2, 3, 2, 1, 2, "same"),
    ("one input pixel, 3x3 kernel, stride 2, 'valid'", 1, 1, 1, 4, 2, 3, 2, "valid"),
    ("non-square 2x6 input, 3x3 kernel, stride 3, 'same'", 3, 2, 6, 2, 3, 3, 3, "same"),
]


def _tconv_cases() -> list[Case]:
    shapes = list(TCONV_SHAPES)
    for trial in range(6):
        f, stride = int(RNG.integers(1, 6)), int(RNG.integers(1, 4))
        padding = ("valid", "same")[trial % 2]
        n, c, k = (int(v) for v in RNG.integers(1, 4, size=3))
        h, w = (int(v) for v in RNG.integers(1, 6, size=2))
        shapes.append((f"random shapes #{trial + 1}: F={f}, S={stride}, padding={padding!r}, "
                       f"input {n}x{h}x{w}x{c}, {k} filters", n, h, w, c, k, f, stride, padding))
    cases = []
    for name, n, h, w, c, k, f, stride, padding in shapes:
        x = RNG.normal(size=(n, h, w, c)).astype(np.float32)
        kernel = RNG.normal(size=(f, f, k, c)).astype(np.float32)
        cases.append(Case(name, args=(x, kernel, stride, padding),
                          expect=close(reference_conv_transpose(x, kernel, stride, padding),
                                       rtol=1e-4, atol=1e-4)))
    return cases


# --------------------------------------------------------------------------- iou_per_class, mean_iou

def _noisy(truth: np.ndarray, num_classes: int, keep: float = 0.6) -> np.ndarray:
    noise = RNG.integers(0, num_classes, size=truth.shape)
    return np.where(RNG.random(truth.shape) < keep, truth, noise)


def _label_maps() -> list[tuple[str, np.ndarray, np.ndarray, int]]:
    """(name, y_true, y_pred, num_classes) for both IoU questions."""
    # Two images of very different class balance: counting over all pixels and averaging
    # the per-image IoUs give different numbers.
    big = np.zeros((2, 6, 6), np.int64)
    big[0, :, :4] = 1
    big[1, :1, :1] = 1
    big_guess = big.copy()
    big_guess[0, :, 3] = 0
    big_guess[1, 0, 0] = 0
    big_guess[1, 5, 5] = 1
    only_predicted = np.zeros((4, 4), np.int64)
    shifted = np.roll(RNG.integers(0, 3, size=(3, 8, 8)), 1, axis=2)
    twenty = RNG.integers(0, 20, size=(2, 16, 16)).astype(np.uint8)
    photos = RNG.integers(0, 3, size=(4, 64, 64)).astype(np.uint8)
    maps = [
        ("one 2x3 map, 3 classes", np.array([[2, 2, 1], [0, 1, 0]]),
         np.array([[2, 1, 1], [0, 2, 0]]), 3),
        ("a class in neither map (num_classes = 5) is NaN",
         np.array([[0, 1, 1], [3, 3, 0]]), np.array([[0, 1, 3], [3, 1, 0]]), 5),
        ("a class only in the prediction has IoU 0, not NaN", only_predicted,
         np.where(np.eye(4, dtype=bool), 2, 0), 3),
        ("a class only in the truth has IoU 0", np.where(np.eye(4, dtype=bool), 1, 0),
         only_predicted, 2),
        ("a batch of two images, counted over all pixels", big, big_guess, 2),
        ("a perfect prediction", shifted, shifted.copy(), 4),
        ("every pixel wrong (labels swapped)", big, 1 - big, 2),
        ("uint8 masks with 20 classes", twenty, _noisy(twenty, 20).astype(np.uint8), 20),
        ("uint8 masks, 4 images of 64x64, 3 classes", photos, _noisy(photos, 3).astype(np.uint8),
         3),
    ]
    for trial in range(3):
        shape = (int(RNG.integers(1, 4)), int(RNG.integers(2, 12)), int(RNG.integers(2, 12)))
        num_classes = int(RNG.integers(2, 7))
        truth = RNG.integers(0, num_classes, size=shape)
        maps.append((f"random maps #{trial + 1}: {shape}, {num_classes} classes", truth,
                     _noisy(truth, num_classes), num_classes))
    return maps


LABEL_MAPS = _label_maps()


def _iou_cases() -> list[Case]:
    return [Case(name, args=(truth, guess, num_classes),
                 expect=close_with_nan(reference_iou_per_class(truth, guess, num_classes)))
            for name, truth, guess, num_classes in LABEL_MAPS]


MEAN_IOU_NAMES = {
    "a class in neither map (num_classes = 5) is NaN":
        "a class in neither map (num_classes = 5) is left out of the mean",
    "a class only in the prediction has IoU 0, not NaN":
        "a class only in the prediction counts, with IoU 0",
}


def _mean_iou_cases() -> list[Case]:
    return [Case(MEAN_IOU_NAMES.get(name, name), args=(truth, guess, num_classes),
                 expect=close(reference_mean_iou(truth, guess, num_classes), atol=1e-9))
            for name, truth, guess, num_classes in LABEL_MAPS]


# --------------------------------------------------------------------------- build_unet

def _description(check):
    def judge(description) -> str | None:
        if not isinstance(description, dict) or not description.get("is_model"):
            return "build_unet did not return a keras.Model"
        return check(description)

    return judge


def _per_pixel_probabilities(shape):
    def check(description) -> str | None:
        scores = np.asarray(description.get("predictions"), dtype=np.float64)
        if scores.shape != shape:
            return f"predicted {scores.shape} for images {shape[:3]}, expected {shape}"
        if not np.all(np.isfinite(scores)):
            return "predicted NaN or infinite values"
        if scores.min() < -1e-6 or not np.allclose(scores.sum(axis=-1), 1.0, atol=1e-4):
            return "every pixel's scores must be probabilities: end with a softmax over classes"
        return None

    return check


def _counts(layer_kind: str, at_least: int, why: str):
    def check(description) -> str | None:
        found = sum(layer_kind in name for name in description["layers"])
        return None if found >= at_least else f"{found} {layer_kind} layers: {why}"

    return check


def _unet_cases() -> list[Case]:
    rgb = RNG.random((2, 64, 64, 3)).astype(np.float32)
    wide = RNG.random((1, 96, 128, 3)).astype(np.float32)
    probe = {"probe": "keras_model", "timeout": 120}
    return [
        Case("64x64 RGB images, 3 classes: per-pixel probabilities", args=((64, 64, 3), 3),
             probe_args={"inputs": rgb},
             expect=satisfies(_description(_per_pixel_probabilities((2, 64, 64, 3)))), **probe),
        Case("32x48 images, 5 classes: output shape (None, 32, 48, 5)", args=((32, 48, 3), 5),
             expect=satisfies(_description(lambda d: None if d["output_shape"] == [None, 32, 48, 5]
                                           else f"output shape {d['output_shape']}")), **probe),
        Case("built for any size, (None, None, 3), it segments a 96x128 image",
             args=((None, None, 3), 2), probe_args={"inputs": wide},
             expect=satisfies(_description(_per_pixel_probabilities((1, 96, 128, 2)))), **probe),
        Case("skip connections: at least three Concatenate layers", args=((64, 64, 3), 3),
             expect=satisfies(_description(_counts(
                 "Concatenate", 3, "each decoder level joins the encoder's maps of its size"))),
             **probe),
        Case("at least three 2x2 poolings", args=((64, 64, 3), 3),
             expect=satisfies(_description(_counts(
                 "Pooling2D", 3, "the encoder halves the size at least three times"))), **probe),
    ]


QUESTIONS = [
    Question("test_conv_transpose_forward", "conv_transpose_forward", cases=_tconv_cases()),
    Question("test_iou_per_class", "iou_per_class", cases=_iou_cases()),
    Question("test_mean_iou", "mean_iou", cases=_mean_iou_cases()),
    Question("test_build_unet", "build_unet", cases=_unet_cases(), libraries="any"),
]
