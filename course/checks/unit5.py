"""Self-checks for Unit 5 (image segmentation).

Each check runs the student's function on a worked example and on random
inputs (fixed seed), compares with the reference below and, when they
disagree, recomputes the answer the usual mistakes would give (forgotten
stride, flipped kernel, a Dice without its factor 2 ...) so that the message
can name the mistake that was made. The messages explain; they do not hand
out the code.

Intersection over union per class is not an exercise here: assignment A3
asks for it, so this module publishes no IoU function (the unit measures IoU
with ``keras.metrics.IoU`` and ``keras.metrics.MeanIoU``).
"""

from __future__ import annotations

import numbers

import numpy as np

from course.checks import CheckFailed, as_array, exercise, require, require_close

# --------------------------------------------------------------------------- references


def conv_transpose_solution(x, kernel, stride):
    """Transposed convolution of one channel, no padding: scatter-add the weighted kernel."""
    x = np.asarray(x, dtype=float)
    kernel = np.asarray(kernel, dtype=float)
    kh, kw = kernel.shape
    out = np.zeros(((x.shape[0] - 1) * stride + kh, (x.shape[1] - 1) * stride + kw))
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            # Input pixel (i, j) stamps the kernel, scaled by its value, `stride` pixels apart.
            out[i * stride : i * stride + kh, j * stride : j * stride + kw] += x[i, j] * kernel
    return out


def receptive_field_solution(layers):
    """Receptive field of stacked convolutions/poolings given as (kernel_size, dilation, stride)."""
    field, jump = 1, 1
    for kernel_size, dilation, stride in layers:
        # A dilated kernel spans (k - 1) * d + 1 input pixels of this layer, and neighbouring
        # pixels of this layer's input lie `jump` pixels apart in the image.
        field += (kernel_size - 1) * dilation * jump
        jump *= stride
    return field


def dice_per_class_solution(y_true, y_pred, num_classes):
    """Dice of every class over all pixels; NaN where a class is in neither truth nor prediction."""
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    dice = np.full(num_classes, np.nan)
    for c in range(num_classes):
        in_true = y_true == c
        in_pred = y_pred == c
        sizes = in_true.sum() + in_pred.sum()
        if sizes > 0:
            dice[c] = 2 * np.logical_and(in_true, in_pred).sum() / sizes
    return dice


# --------------------------------------------------------------------------- helpers


def _matches(actual: np.ndarray, expected: np.ndarray) -> bool:
    return actual.shape == expected.shape and bool(
        np.allclose(actual, expected, atol=1e-6, equal_nan=True)
    )


def _call(fn, args: tuple, where: str) -> np.ndarray:
    copies = tuple(a.copy() if isinstance(a, np.ndarray) else a for a in args)
    return as_array(fn(*copies), f"your output {where}")


# --------------------------------------------------------------------------- 5.1 transposed conv


def _conv_transpose_overwriting(x, kernel, stride):
    """The mistake of assigning (=) each stamp instead of adding it to what is there."""
    kh, kw = kernel.shape
    out = np.zeros(((x.shape[0] - 1) * stride + kh, (x.shape[1] - 1) * stride + kw))
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            out[i * stride : i * stride + kh, j * stride : j * stride + kw] = x[i, j] * kernel
    return out


def _conv_transpose_shape_hint(result_shape, x, kernel, stride) -> str:
    (h, w), (kh, kw) = x.shape, kernel.shape
    hints = [
        ((h + kh - 1, w + kw - 1), "that is the size for stride 1: did you forget the stride?"),
        (
            (h * stride, w * stride),
            "that is the size Keras gives with padding='same' (H*S); this exercise wants the "
            "full output without padding, (H - 1)*S + F",
        ),
        (((h - 1) * stride + kh - 1, (w - 1) * stride + kw - 1), "one row and column short"),
        (
            (h * stride + kh, w * stride + kw),
            "one stride too large: the last stamp starts at "
            "(H - 1)*S, so the output is (H - 1)*S + F",
        ),
        (
            (h * stride + kh - 1, w * stride + kw - 1),
            "the last stamp starts at (H - 1)*S, not H*S - 1",
        ),
        (((w - 1) * stride + kw, (h - 1) * stride + kh), "height and width are swapped"),
    ]
    hint = next((text for shape, text in hints if shape == result_shape), "")
    return f"{hint[:1].upper()}{hint[1:]}." if hint else ""


@exercise("Exercise 5.1 — transposed convolution as scatter-add", solution=conv_transpose_solution)
def conv_transpose(fn):
    """Check `fn(x, kernel, stride)` on the lecture examples and random rectangular inputs."""
    rng = np.random.default_rng(5)
    cases = [
        (np.array([[0.0, 1], [2, 3]]), np.array([[0.0, 1], [2, 3]]), 1),
        (np.array([[1.0, 2], [3, 4]]), np.arange(1.0, 10).reshape(3, 3), 2),
        (rng.normal(size=(3, 4)), rng.normal(size=(2, 3)), 2),
        (rng.normal(size=(4, 3)), rng.normal(size=(3, 3)), 3),
        (rng.normal(size=(5, 5)), rng.normal(size=(4, 4)), 2),
        (rng.normal(size=(3, 5)), rng.normal(size=(3, 2)), 1),
    ]
    for x, kernel, stride in cases:
        where = f"(x {x.shape}, kernel {kernel.shape}, stride {stride})"
        expected = conv_transpose_solution(x, kernel, stride)
        result = _call(fn, (x, kernel, stride), where)
        if result.shape != expected.shape:
            hint = _conv_transpose_shape_hint(result.shape, x, kernel, stride)
            raise CheckFailed(
                f"your output {where} has shape {result.shape}, expected {expected.shape} "
                f"= ((H - 1)*S + F_h, (W - 1)*S + F_w). {hint}".rstrip()
            )
        if _matches(result, expected):
            continue
        if _matches(result, conv_transpose_solution(x, kernel[::-1, ::-1], stride)):
            raise CheckFailed(
                f"your output {where} uses the kernel flipped (rotated by 180 degrees). A "
                "transposed convolution stamps the kernel as it is: its top-left entry lands at "
                "the stamp's top-left corner. (Flipping belongs to the other way of computing "
                "it, by zero insertion and an ordinary convolution.)"
            )
        if stride > 1:
            unstrided = conv_transpose_solution(x, kernel, 1)
            padded = np.zeros_like(expected)
            padded[: unstrided.shape[0], : unstrided.shape[1]] = unstrided
            if _matches(result, padded):
                raise CheckFailed(
                    f"your output {where} has the right size, but the stamps are 1 pixel apart: "
                    "one step in the input must move the stamp `stride` pixels in the output."
                )
        if _matches(result.T, expected):
            raise CheckFailed(
                f"your output {where} is the transpose of the expected one: height and width are "
                "swapped (rows follow i and the kernel's rows, columns follow j)."
            )
        if _matches(result, _conv_transpose_overwriting(x, kernel, stride)):
            raise CheckFailed(
                f"your output {where} keeps only the last stamp where stamps overlap. Where two "
                "stamps cover the same output pixel, both contributions count: they add up, "
                "the second must not replace the first."
            )
        require_close(result, expected, f"your output {where}")


# --------------------------------------------------------------------------- 5.2 receptive field


def _receptive_field_mistakes(layers):
    """(value, explanation) of the usual slips, most specific first."""
    field_own_stride, jump_own = 1, 1
    field_no_dilation = field_no_stride = field_kd = 1
    jump = 1
    for k, d, s in layers:
        jump_own *= s
        field_own_stride += (k - 1) * d * jump_own
        field_no_dilation += (k - 1) * jump
        field_no_stride += (k - 1) * d
        field_kd += (k * d - 1) * jump
        jump *= s
    correct = receptive_field_solution(layers)
    return [
        (correct - 1, "you forgot the starting 1 (a single pixel sees itself: r_0 = 1)"),
        (correct + 1, "one too many: a stack of 1x1 layers sees exactly 1 pixel"),
        (
            field_no_dilation,
            "the dilation is ignored: a kernel k with dilation d spans (k - 1)*d + 1 pixels",
        ),
        (
            field_kd,
            "a dilated kernel spans (k - 1)*d + 1 pixels, not k*d (there are k - 1 gaps of d)",
        ),
        (
            field_no_stride,
            "the strides are ignored: after a layer with stride s, neighbouring pixels are s "
            "times further apart in the image, so later layers grow the field s times faster",
        ),
        (
            field_own_stride,
            "a layer's own stride does not widen its window: multiply by the strides of the "
            "layers BEFORE it (the jump), then update the jump",
        ),
    ]


@exercise(
    "Exercise 5.2 — receptive field of stacked convolutions", solution=receptive_field_solution
)
def receptive_field(fn):
    """Check `fn(layers)` on plain, dilated and strided stacks of (kernel_size, dilation, stride)."""
    rng = np.random.default_rng(52)
    cases = [
        [(3, 1, 1)] * 3,  # 7
        [(3, 1, 1), (3, 2, 1), (3, 4, 1)],  # 15
        [(3, 1, 1), (3, 2, 1), (3, 4, 1), (3, 8, 1)],  # 31
        [(5, 3, 1)],  # one dilated layer: 13
        [(3, 1, 1), (3, 1, 1), (2, 1, 2), (3, 1, 1), (3, 1, 1), (2, 1, 2)],  # VGG-like: 16
        [(7, 1, 2), (3, 1, 2), (3, 2, 1)],  # 19
    ]
    for _ in range(3):
        depth = int(rng.integers(2, 6))
        cases.append(
            [
                (int(rng.choice([2, 3, 5])), int(rng.choice([1, 2, 3])), int(rng.choice([1, 2])))
                for _ in range(depth)
            ]
        )
    for layers in cases:
        where = f"receptive_field({layers})"
        expected = receptive_field_solution(layers)
        result = fn(list(layers))
        require(result is not None, f"{where} returned None: did you forget `return`?")
        require(
            isinstance(result, numbers.Real) and float(result) == int(result),
            f"{where} returned {result!r}; a receptive field is a whole number of pixels.",
        )
        if int(result) == expected:
            continue
        hint = next(
            (text for value, text in _receptive_field_mistakes(layers) if value == int(result)),
            "work the examples of the text by hand (three 3x3 layers see 7 pixels; with "
            "dilations 1, 2, 4 they see 15) and compare with what your function returns",
        )
        raise CheckFailed(f"{where} returned {result}, expected {expected}: {hint}.")


# --------------------------------------------------------------------------- 5.3 Dice


def _dice_value_hint(result, expected, y_true, y_pred, num_classes) -> str:
    """Name the usual slip that reproduces ``result`` on the classes where Dice is defined."""
    defined = ~np.isnan(expected)
    got, want = result[defined], expected[defined]
    iou = want / (2 - want)  # Dice = 2 IoU / (1 + IoU), solved for the IoU
    slips = [
        (want / 2, "your values are half the Dice. The denominator |T| + |P| counts every "
                   "overlapping pixel twice, so the overlap in the numerator must be counted "
                   "twice as well: a perfect prediction must score 1"),
        (100 * want, "your values are 100 times too large: Dice is a fraction between 0 and 1, "
                     "not a percentage"),
        (iou, "these are IoU values (overlap divided by the union). Dice divides twice the "
              "overlap by the two region sizes added up, and is never smaller than the IoU"),
        (2 * iou, "with twice the overlap on top, the denominator must be the two region sizes "
                  "added up (|T| + |P|), not the union: your values exceed 1 where a perfect "
                  "prediction should score exactly 1"),
    ]
    for value, text in slips:
        if np.allclose(got, value, atol=1e-6):
            return text
    if y_true.ndim == 3:
        per_image = np.nanmean(
            [dice_per_class_solution(t, p, num_classes) for t, p in zip(y_true, y_pred, strict=True)],
            axis=0,
        )
        if np.allclose(result, per_image, atol=1e-6, equal_nan=True):
            return ("you averaged per-image Dice values. Count the pixels of all images "
                    "together and divide once, so that every pixel weighs the same")
    return ""


@exercise("Exercise 5.3 — Dice coefficient per class", solution=dice_per_class_solution)
def dice(fn):
    """Check `fn(y_true, y_pred, num_classes)` on a worked example, absent classes and batches."""
    rng = np.random.default_rng(53)
    worked_true = np.array([[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 1, 1], [2, 2, 2, 2]])
    worked_pred = np.array([[0, 0, 0, 1], [0, 1, 1, 1], [2, 2, 1, 1], [2, 1, 2, 2]])
    # Class 3 appears nowhere: its Dice is undefined (NaN), not 0.
    absent = (worked_true, worked_pred, 4)
    # Class 2 is only predicted, never true: Dice 0 (pure false positives), not NaN.
    only_predicted = (np.array([[0, 0], [1, 1]]), np.array([[0, 2], [1, 1]]), 3)
    batch_true = rng.integers(0, 3, size=(3, 6, 5))
    batch_pred = np.where(rng.random((3, 6, 5)) < 0.7, batch_true, rng.integers(0, 3, (3, 6, 5)))
    batch_pred[0] = 0  # one image where everything is predicted as class 0
    cases = [(worked_true, worked_pred, 3), absent, only_predicted, (batch_true, batch_pred, 3)]
    for y_true, y_pred, num_classes in cases:
        where = f"(masks of shape {y_true.shape}, num_classes={num_classes})"
        expected = dice_per_class_solution(y_true, y_pred, num_classes)
        raw = fn(y_true.copy(), y_pred.copy(), num_classes)
        result = as_array(raw, f"your Dice values {where}")
        if result.shape != expected.shape:
            extra = (" You returned one number: return one Dice value per class (the mean "
                     "over classes comes later)." if result.ndim == 0 else
                     " Return one value for every class 0 .. num_classes - 1, also for classes "
                     "that appear in neither mask.")
            raise CheckFailed(
                f"your Dice values {where} have shape {result.shape}, expected "
                f"({num_classes},).{extra}"
            )
        undefined = np.isnan(expected)
        for c in np.flatnonzero(undefined):
            if not np.isnan(result[c]):
                raise CheckFailed(
                    f"class {c} appears in neither the truth nor the prediction {where}, but you "
                    f"gave it Dice {result[c]:g}. Its Dice is undefined (0/0): return NaN, so "
                    "that a mean over classes with np.nanmean leaves it out instead of "
                    "counting it as a success or a failure."
                )
        for c in np.flatnonzero(~undefined & np.isnan(result)):
            raise CheckFailed(
                f"class {c} has Dice NaN in your answer {where}, but it occurs in the truth or "
                "the prediction, so its Dice is defined (a class that is only predicted, or "
                "only true, has Dice 0). Return NaN only when neither mask contains the class."
            )
        if not _matches(result, expected):
            hint = _dice_value_hint(result, expected, y_true, y_pred, num_classes)
            worst = int(np.nanargmax(np.abs(np.nan_to_num(result - expected))))
            raise CheckFailed(
                f"your Dice of class {worst} {where} is {result[worst]:.4g}, expected "
                f"{expected[worst]:.4g}. "
                + (f"Hint: {hint}." if hint else
                   "Work the 4x4 example of the notebook by hand and compare class by class.")
            )
