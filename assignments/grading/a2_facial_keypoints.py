"""Graded cases of A2 (facial keypoints): trusted side, never released.

The grader calls the student's functions, or the notebook's locked helpers that
call them (``loss_and_gradient``, ``schedule_during_fit``, ``relight_with_seed``,
``combine_constant_specialists``, tagged ``case-setup``: a generator, a Keras
callback or a dict of models cannot be sent to the sandbox, and a gradient needs
TensorFlow there), in a sandboxed process and judges the plain values that come
back here. Most cases judge one aspect of an answer (the image, the unpaired
keypoints, the left/right swap, the missing values), so the feedback names the
mistake; as in an nbgrader test cell, a question earns its points only when all
its cases pass. The expected values are computed here from the exercises'
definitions, never from the notebook's solution.

tests/test_cases_a2.py proves that the instructor's solution passes every case
and that each typical wrong answer fails the cases about its mistake.
"""

from __future__ import annotations

import numpy as np

from autograder.cases import Case, Question, close, raises, satisfies
from course.data import FLIP_PAIRS, KEYPOINT_COLUMNS, KEYPOINT_NAMES

RNG = np.random.default_rng(20270307)
KERAS_TIMEOUT = 60.0  # building or fitting a Keras model in the sandbox takes a few seconds

# keypoint index -> the keypoint whose place it takes in a mirror image
PARTNER = np.arange(len(KEYPOINT_NAMES))
for _left, _right in FLIP_PAIRS:
    PARTNER[_left], PARTNER[_right] = _right, _left
UNPAIRED = [k for k in range(len(KEYPOINT_NAMES)) if PARTNER[k] == k]  # nose tip, lip centres


def _names(keypoints) -> str:
    return ", ".join(KEYPOINT_NAMES[k] for k in keypoints)


# --------------------------------------------------------------------------- flip_horizontal

def mirrored_keypoints(keypoints: np.ndarray, width: int) -> np.ndarray:
    """Keypoints of the mirror image: keypoint k of the result is keypoint PARTNER[k] of the
    input with x -> width - 1 - x (NaN stays NaN)."""
    source = np.asarray(keypoints, dtype=np.float64)
    result = np.empty_like(source)
    result[:, 0::2] = width - 1 - source[:, 2 * PARTNER]
    result[:, 1::2] = source[:, 2 * PARTNER + 1]
    return result


def _faces(n: int, height: int, width: int, missing=()) -> tuple[np.ndarray, np.ndarray]:
    images = RNG.random((n, height, width, 1)).astype(np.float32)
    keypoints = np.empty((n, 30), np.float32)
    keypoints[:, 0::2] = RNG.uniform(0, width - 1, (n, 15))
    keypoints[:, 1::2] = RNG.uniform(0, height - 1, (n, 15))
    for row, keypoint in missing:
        keypoints[row, 2 * keypoint:2 * keypoint + 2] = np.nan
    return images, keypoints


def _flip_reply(value, images) -> tuple[np.ndarray | None, np.ndarray | None, str | None]:
    if not isinstance(value, tuple | list) or len(value) != 2:
        return None, None, "return the tuple (flipped_images, flipped_keypoints)"
    try:
        out_images = np.asarray(value[0], dtype=np.float64)
        out_points = np.asarray(value[1], dtype=np.float64)
    except (TypeError, ValueError):
        return None, None, "returned something that is not two arrays of numbers"
    if out_images.shape != images.shape:
        return None, None, f"the images came back with shape {out_images.shape}, not {images.shape}"
    if out_points.shape != (len(images), 30):
        return None, None, f"the keypoints came back with shape {out_points.shape}, not " \
                           f"({len(images)}, 30)"
    return out_images, out_points, None


def _columns_match(got, expected, columns, what: str) -> str | None:
    got, expected = got[:, columns], expected[:, columns]
    if not np.array_equal(np.isnan(got), np.isnan(expected)):
        return f"{what}: NaN (missing) values are not where they belong after the flip"
    if not np.allclose(got, expected, atol=1e-4, equal_nan=True):
        error = np.nanmax(np.abs(got - expected))
        return f"{what}: off by up to {error:.3g} px"
    return None


def flip_check(images, keypoints, aspect: str):
    """A check of one aspect of flip_horizontal(images, keypoints)."""
    width = images.shape[2]
    expected_points = mirrored_keypoints(keypoints, width)
    unpaired_x = [2 * k for k in UNPAIRED]
    unpaired_y = [2 * k + 1 for k in UNPAIRED]

    def check(value) -> str | None:
        out_images, out_points, problem = _flip_reply(value, images)
        if problem:
            return problem
        if aspect == "images":
            if not np.array_equal(out_images, images[:, :, ::-1].astype(np.float64)):
                return "the images are not mirrored left-right (reverse the width axis, axis 2)"
            return None
        if aspect == "unpaired":
            return (_columns_match(out_points, expected_points, unpaired_x,
                                   f"x of {_names(UNPAIRED)} must become W - 1 - x "
                                   f"(W = {width})")
                    or _columns_match(out_points, expected_points, unpaired_y,
                                      f"y of {_names(UNPAIRED)} must not change"))
        if aspect == "swap_y":
            return _columns_match(out_points, expected_points, list(range(1, 30, 2)),
                                  "y coordinates: each left keypoint must take its right "
                                  "partner's place and vice versa (FLIP_PAIRS)")
        if aspect == "swap_x":
            return _columns_match(out_points, expected_points, list(range(0, 30, 2)),
                                  f"x coordinates: keypoint k must become W - 1 - x of its "
                                  f"partner (W = {width}, pairs swapped)")
        return _columns_match(out_points, expected_points, list(range(30)),
                              f"the keypoints of {images.shape[1]}x{width} images")

    return satisfies(check)


def _flip_cases() -> list[Case]:
    faces96 = _faces(4, 96, 96)
    faces40 = _faces(3, 40, 40)
    wide = _faces(2, 30, 40)  # H != W: the x axis is the width, axis 2
    sparse = _faces(3, 96, 96, missing=[(0, 2), (1, 10), *[(2, k) for k in range(15)
                                                           if k not in (0, 1, 10, 14)]])
    return [
        Case("the images are mirrored left-right", args=faces96,
             expect=flip_check(*faces96, "images")),
        Case(f"{_names(UNPAIRED)} (no partner): x -> 95 - x, y unchanged", args=faces96,
             expect=flip_check(*faces96, "unpaired")),
        Case("y of each left keypoint moves to its right partner and back", args=faces96,
             expect=flip_check(*faces96, "swap_y")),
        Case("x -> 95 - x, moved to the partner keypoint (96x96 faces)", args=faces96,
             expect=flip_check(*faces96, "swap_x")),
        Case("40x40 images: x -> 39 - x", args=faces40, expect=flip_check(*faces40, "all")),
        Case("30x40 images (height 30, width 40): x -> 39 - x", args=wide,
             expect=flip_check(*wide, "all")),
        Case("missing keypoints stay missing, at the partner's place", args=sparse,
             expect=flip_check(*sparse, "all")),
    ]


# --------------------------------------------------------------------------- masked_mse

def _present_mse(y_true, y_pred) -> float:
    present = ~np.isnan(y_true)
    if not present.any():
        return 0.0
    return float(np.mean((np.asarray(y_pred, np.float64)[present] - y_true[present]) ** 2))


def _loss_reply(value) -> tuple[object, object, str | None]:
    if not isinstance(value, tuple | list) or len(value) != 2:
        return None, None, "loss_and_gradient did not return (loss, gradient)"
    return value[0], value[1], None


def loss_is(expected: float, what: str):
    def check(value) -> str | None:
        loss, _, problem = _loss_reply(value)
        if problem:
            return problem
        loss = np.asarray(loss, dtype=np.float64)
        if loss.shape != ():
            return f"masked_mse returned shape {loss.shape}: it must return one number (a scalar)"
        if not np.isfinite(loss):
            return f"{what}: masked_mse returned {float(loss)}"
        if not np.isclose(loss, expected, rtol=1e-5, atol=1e-7):
            return f"{what}: masked_mse returned {float(loss):.6g}, expected {expected:.6g}"
        return None

    return satisfies(check)


def gradient_is(y_true, y_pred):
    present = ~np.isnan(y_true)
    expected = np.where(present, 2 * (y_pred - np.nan_to_num(y_true)) / present.sum(), 0.0)

    def check(value) -> str | None:
        _, gradient, problem = _loss_reply(value)
        if problem:
            return problem
        gradient = np.asarray(gradient, dtype=np.float64)
        if gradient.shape != y_pred.shape:
            return f"the gradient has shape {gradient.shape}, expected {y_pred.shape}"
        if not np.all(np.isfinite(gradient)):
            return ("the gradient is NaN where targets are missing: remove the NaN from the "
                    "targets before subtracting (where() passes gradients through both branches)")
        if np.any(gradient[~present] != 0):
            return "missing targets must not pull the predictions (their gradient must be 0)"
        if not np.allclose(gradient, expected, rtol=1e-4, atol=1e-7):
            return "wrong gradient where targets are present: average over the present targets"
        return None

    return satisfies(check)


def _kaggle_like(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Standardised targets where most rows keep only the four usual keypoints."""
    y_true = RNG.normal(size=(n, 30)).astype(np.float32)
    y_pred = RNG.normal(size=(n, 30)).astype(np.float32)
    usual = np.zeros(30, bool)
    for keypoint in (0, 1, 10, 14):
        usual[2 * keypoint:2 * keypoint + 2] = True
    y_true[1:, ~usual] = np.nan  # row 0 is complete
    return y_true, y_pred


def _masked_mse_cases() -> list[Case]:
    full_true = RNG.normal(size=(6, 30)).astype(np.float32)
    full_pred = RNG.normal(size=(6, 30)).astype(np.float32)
    sparse_true, sparse_pred = _kaggle_like(8)
    padded_true = np.concatenate([full_true, np.full((3, 30), np.nan, np.float32)])
    padded_pred = np.concatenate([full_pred, RNG.normal(size=(3, 30)).astype(np.float32)])
    empty_true = np.full((2, 30), np.nan, np.float32)
    empty_pred = RNG.normal(size=(2, 30)).astype(np.float32)
    return [
        Case("no missing targets: the mean squared error, one number",
             args=(full_true, full_pred),
             expect=loss_is(_present_mse(full_true, full_pred), "complete targets"), timeout=KERAS_TIMEOUT),
        Case("Kaggle-like rows (8 of 30 targets present): mean over the present targets only",
             args=(sparse_true, sparse_pred),
             expect=loss_is(_present_mse(sparse_true, sparse_pred), "8 of 30 targets present"), timeout=KERAS_TIMEOUT),
        Case("rows without any target do not change the loss",
             args=(padded_true, padded_pred),
             expect=loss_is(_present_mse(full_true, full_pred), "3 rows without targets added"),
             timeout=KERAS_TIMEOUT),
        Case("a batch without any target: loss 0, not NaN", args=(empty_true, empty_pred),
             expect=loss_is(0.0, "no target in the batch"), timeout=KERAS_TIMEOUT),
        Case("gradient: finite, 0 where targets are missing, 2 (y_pred - y) / |P| elsewhere",
             args=(sparse_true, sparse_pred), expect=gradient_is(sparse_true, sparse_pred), timeout=KERAS_TIMEOUT),
    ]


# --------------------------------------------------------------------------- schedule

def _linear(epoch: int, epochs: int, start: float, stop: float) -> float:
    return start if epochs == 1 else start + (stop - start) * epoch / (epochs - 1)


def _linear_value_cases() -> list[Case]:
    cases = [
        Case("the first epoch uses the start value", args=(0, 10, 0.03, 1e-4), expect=close(0.03)),
        Case("the last epoch uses the stop value", args=(9, 10, 0.03, 1e-4), expect=close(1e-4)),
        Case("the middle of 11 epochs is the average", args=(5, 11, 0.9, 0.999),
             expect=close((0.9 + 0.999) / 2)),
        Case("epoch 2 of 5 from 1 to 0", args=(2, 5, 1.0, 0.0), expect=close(0.5)),
        Case("a value that rises, epoch 3 of 7", args=(3, 7, 0.5, 0.8),
             expect=close(_linear(3, 7, 0.5, 0.8))),
        Case("a single epoch uses the start value", args=(0, 1, 0.03, 1e-4), expect=close(0.03)),
        Case("epoch == epochs is outside 0..E-1", args=(10, 10, 0.03, 1e-4),
             expect=raises("ValueError")),
        Case("a negative epoch", args=(-1, 10, 0.03, 1e-4), expect=raises("ValueError")),
        Case("zero epochs", args=(0, 0, 0.03, 1e-4), expect=raises("ValueError")),
    ]
    return cases


def schedule_column(column: int, epochs: int, start: float, stop: float, what: str):
    expected = np.array([_linear(e, epochs, start, stop) for e in range(epochs)])

    def check(value) -> str | None:
        seen = np.asarray(value, dtype=np.float64)
        if seen.shape != (epochs, 2):
            return f"schedule_during_fit returned shape {seen.shape}, expected ({epochs}, 2)"
        if not np.allclose(seen[:, column], expected, rtol=1e-5, atol=1e-7):
            got = ", ".join(f"{v:.4g}" for v in seen[:, column])
            want = ", ".join(f"{v:.4g}" for v in expected)
            return f"{what} at the start of each epoch was [{got}], expected [{want}]"
        return None

    return satisfies(check)


def _schedule_cases() -> list[Case]:
    cases = []
    for epochs, learning_rate, momentum in ((3, (0.03, 1e-4), (0.9, 0.999)),
                                            (5, (0.05, 0.01), (0.5, 0.9)),
                                            (1, (0.02, 0.001), (0.8, 0.95))):
        kwargs = {"learning_rate": learning_rate, "momentum": momentum}
        for column, what in ((0, "learning rate"), (1, "momentum")):
            start, stop = kwargs[what.replace(" ", "_")]
            cases.append(Case(f"{epochs} epochs: the {what} from {start:g} to {stop:g}",
                              args=(epochs,), kwargs=kwargs,
                              expect=schedule_column(column, epochs, start, stop,
                                                     f"the {what}"),
                              timeout=KERAS_TIMEOUT))
    return cases


# --------------------------------------------------------------------------- brightness/contrast

def _stream(seed: int, count: int) -> np.ndarray:
    """The first ``count`` uniform draws of np.random.default_rng(seed)."""
    return np.random.default_rng(seed).random(count)


def _relit_reply(value, images) -> tuple[np.ndarray | None, object, str | None]:
    if not isinstance(value, tuple | list) or len(value) != 2:
        return None, None, "return the tuple (new_images, keypoints)"
    try:
        out = np.asarray(value[0])
    except (TypeError, ValueError):
        return None, None, "the images are not an array of numbers"
    if out.shape != images.shape:
        return None, None, f"the images came back with shape {out.shape}, not {images.shape}"
    if not np.all(np.isfinite(out.astype(np.float64))):
        return None, None, "the images hold NaN or infinite values"
    return out.astype(np.float64), value[1], None


def _per_image_fit(images, out, keep=None):
    """Least-squares (contrast, brightness) of out = c (x - mean) + mean + b for each image,
    over the pixels in ``keep`` (default: all), and the largest misfit there."""
    factors, shifts, misfit = [], [], 0.0
    for index, (x, y) in enumerate(zip(images.astype(np.float64), out, strict=True)):
        mean = x.mean()
        mask = np.ones(x.shape, bool) if keep is None else keep[index]
        centred = (x - mean)[mask]
        target = (y - mean)[mask]
        design = np.stack([centred, np.ones_like(centred)], axis=1)
        (c, b), *_ = np.linalg.lstsq(design, target, rcond=None)
        factors.append(c)
        shifts.append(b)
        misfit = max(misfit, float(np.abs(design @ [c, b] - target).max()))
    return np.array(factors), np.array(shifts), misfit


def relit_check(images, keypoints, aspect: str, seed: int = 0, max_brightness: float = 0.15,
                contrast_range: tuple[float, float] = (0.7, 1.3)):
    low, high = contrast_range
    draws = _stream(seed, 8 * len(images))

    def check(value) -> str | None:
        out, out_points, problem = _relit_reply(value, images)
        if problem:
            return problem
        if aspect == "format":
            if np.asarray(value[0]).dtype != np.float32:
                return f"the images must be float32, not {np.asarray(value[0]).dtype}"
            try:
                same = np.array_equal(np.asarray(out_points, np.float64), keypoints,
                                      equal_nan=True)
            except (TypeError, ValueError):
                same = False
            return None if same else "the keypoints must come back unchanged (NaN included)"
        if out.min() < 0 or out.max() > 1:
            return f"values from {out.min():.3g} to {out.max():.3g}: clip the images to [0, 1]"
        if aspect == "clipped":
            inside = (out > 1e-6) & (out < 1 - 1e-6)
            factors, shifts, _ = _per_image_fit(images, out, inside)
            means = images.astype(np.float64).mean(axis=(1, 2, 3), keepdims=True)
            model = np.clip(factors[:, None, None, None] * (images - means) + means
                            + shifts[:, None, None, None], 0, 1)
            if not np.allclose(out, model, atol=1e-4):
                return "the result is not clip(c (x - mean) + mean + b, 0, 1) for each image"
            return None
        factors, shifts, misfit = _per_image_fit(images, out)
        if aspect == "contrast_fixed":  # contrast_range (c, c), no brightness
            means = images.astype(np.float64).mean(axis=(1, 2, 3), keepdims=True)
            expected = low * (images - means) + means
            if not np.allclose(out, expected, atol=1e-5):
                return (f"with contrast {low:g} and no brightness change each image must become "
                        f"{low:g} (x - mean) + mean, around its own mean")
            return None
        if misfit > 1e-4:
            return "each image must be changed by one contrast factor and one shift of its own"
        if aspect == "brightness":  # contrast (1, 1)
            if not np.allclose(factors, 1.0, atol=1e-4):
                return "with contrast_range (1, 1) the contrast must not change"
            if np.abs(shifts).max() > max_brightness + 1e-5:
                return (f"a brightness shift of {np.abs(shifts).max():.3g} is outside "
                        f"+-{max_brightness:g}")
            return None
        if aspect == "brightness_varies":
            if np.ptp(shifts) < 0.2 * max_brightness:
                return "every image got the same brightness shift: draw one per image"
            return None
        if aspect == "contrast_varies":
            if factors.min() < low - 1e-4 or factors.max() > high + 1e-4:
                return (f"contrast factors from {factors.min():.3g} to {factors.max():.3g} are "
                        f"outside {contrast_range}")
            if np.ptp(factors) < 0.1 * (high - low):
                return (f"every image got the same contrast factor ({factors.mean():.3g}): "
                        "draw one factor per image")
            return None
        if aspect == "generator":  # contrast (1, 1): the shifts are draws of the generator
            candidates = -max_brightness + 2 * max_brightness * draws
            nearest = np.abs(shifts[:, None] - candidates[None, :]).min(axis=1)
            if nearest.max() > 2e-5:
                return ("the brightness shifts are not draws of the generator `rng` that was "
                        f"passed in (np.random.default_rng({seed})): draw them with rng.uniform")
            return None
        raise ValueError(aspect)

    return satisfies(check)


def _textured(n: int, means, spread: float) -> np.ndarray:
    noise = RNG.uniform(-spread, spread, (n, 96, 96, 1))
    return (np.asarray(means, np.float64).reshape(n, 1, 1, 1) + noise).astype(np.float32)


def _brightness_cases() -> list[Case]:
    points = RNG.uniform(0, 95, (6, 30)).astype(np.float32)
    points[2, 8:] = np.nan
    flat = _textured(6, [0.5] * 6, 0.1)
    varied = _textured(8, RNG.uniform(0.35, 0.65, 8), 0.1)
    ramp = np.linspace(0.0, 1.0, 96, dtype=np.float32)
    gradients = np.stack([np.tile(ramp, (96, 1)) * s + o for s, o in
                          ((1.0, 0.0), (0.5, 0.5), (0.6, 0.0), (0.9, 0.1))])[..., None]
    gradients = np.clip(gradients, 0, 1).astype(np.float32)

    def case(name, images, keypoints, aspect, seed, brightness, contrast):
        return Case(name, args=(images, keypoints, seed, brightness, contrast),
                    expect=relit_check(images, keypoints, aspect, seed, brightness, contrast))

    return [
        case("float32 images of the same shape, keypoints unchanged (NaN included)",
             flat, points, "format", 1, 0.15, (0.7, 1.3)),
        case("brightness only (contrast 1): one shift per image, within +-0.2",
             flat, points, "brightness", 1, 0.2, (1.0, 1.0)),
        case("each image gets its own brightness shift", flat, points, "brightness_varies",
             2, 0.2, (1.0, 1.0)),
        case("contrast 2 and no brightness change: each image scaled around its own mean",
             varied, points[:1].repeat(8, 0), "contrast_fixed", 3, 0.0, (2.0, 2.0)),
        case("each image gets its own contrast factor, within contrast_range",
             varied, points[:1].repeat(8, 0), "contrast_varies", 4, 0.0, (0.5, 1.5)),
        case("bright and dark images are clipped to [0, 1]", gradients, points[:4],
             "clipped", 5, 0.3, (0.7, 1.3)),
        case("the random draws come from the generator passed in", flat, points, "generator",
             6, 0.2, (1.0, 1.0)),
    ]


# --------------------------------------------------------------------------- specialists

def specialist_description(n_outputs: int, rows: int, needs_convolution: bool):
    def check(description) -> str | None:
        if not isinstance(description, dict) or not description.get("is_model"):
            return f"build_specialist({n_outputs}) did not return a keras.Model"
        if description.get("input_shape") != [None, 96, 96, 1]:
            return f"the model's input shape is {description.get('input_shape')}, not (None, 96, 96, 1)"
        predictions = np.asarray(description.get("predictions"), dtype=np.float64)
        if predictions.shape != (rows, n_outputs):
            return (f"build_specialist({n_outputs}) predicts {predictions.shape} for {rows} "
                    f"images, expected ({rows}, {n_outputs})")
        if not np.all(np.isfinite(predictions)):
            return "the model predicts NaN or infinite values"
        if np.allclose(predictions, predictions[:1]):
            return "the model predicts the same values for different images"
        if needs_convolution:
            names = description.get("layers") or []
            if not any("Conv" in str(n) or n in ("Sequential", "Functional") for n in names):
                return f"a specialist should be a convolutional network (its layers: {names})"
        return None

    return satisfies(check)


def _build_specialist_cases() -> list[Case]:
    images = RNG.random((3, 96, 96, 1)).astype(np.float32)
    return [
        Case(f"build_specialist({n}) maps (N, 96, 96, 1) images to (N, {n})"
             + (", with convolutions" if conv else ""),
             args=(n,), probe="keras_model", probe_args={"inputs": images},
             expect=specialist_description(n, len(images), conv),
             timeout=KERAS_TIMEOUT)
        for n, conv in ((2, False), (8, False), (30, False), (12, True))
    ]


def combined(n_columns: int):
    """combine_constant_specialists' predictions for 2 images when every specialist answers
    10 x the indices of its columns: column j of the combination must read 10 j."""
    expected = 10.0 * np.arange(n_columns, dtype=np.float64)
    return close(np.tile(expected, (2, 1)), rtol=1e-6, atol=1e-4)


NOTEBOOK_GROUPS = {
    group: [KEYPOINT_COLUMNS.index(f"{name}_{axis}") for name in names for axis in "xy"]
    for group, names in {
        "eyes": ("left_eye_center", "right_eye_center", "left_eye_inner_corner",
                 "left_eye_outer_corner", "right_eye_inner_corner", "right_eye_outer_corner"),
        "brows": ("left_eyebrow_inner_end", "left_eyebrow_outer_end",
                  "right_eyebrow_inner_end", "right_eyebrow_outer_end"),
        "nose": ("nose_tip",),
        "mouth": ("mouth_left_corner", "mouth_right_corner", "mouth_center_top_lip",
                  "mouth_center_bottom_lip"),
    }.items()
}


def _combine_cases() -> list[Case]:
    shuffled = {"b": [5, 1, 3], "a": [4, 0], "c": [2]}
    interleaved = {"odd": [7, 1, 5, 3], "even": [0, 6, 2, 4]}

    def case(name, groups, n_columns, widths=None, expect=None):
        kwargs = {"n_columns": n_columns} | ({"widths": widths} if widths else {})
        return Case(name, args=(groups,), kwargs=kwargs, expect=expect or combined(n_columns),
                    timeout=KERAS_TIMEOUT)

    return [
        case("the notebook's four groups: column j comes from the specialist that owns it",
             NOTEBOOK_GROUPS, 30),
        case("groups listed out of order, 6 columns", shuffled, 6),
        case("two interleaved groups, 8 columns", interleaved, 8),
        case("a column covered twice and one missing: ValueError",
             {"b": [5, 1, 3], "a": [4, 0], "c": [3]}, 6, expect=raises("ValueError")),
        case("a column outside 0..n_columns-1: ValueError",
             {"b": [5, 1, 3], "a": [4, 0], "c": [7]}, 6, expect=raises("ValueError")),
        case("specialists named differently from the groups: ValueError", shuffled, 6,
             widths={"b": 3, "a": 2, "d": 1}, expect=raises("ValueError")),
        case("a specialist whose width differs from its group's size: ValueError", shuffled, 6,
             widths={"b": 3, "a": 2, "c": 2}, expect=raises("ValueError")),
    ]


QUESTIONS = [
    Question("test_flip_horizontal", "flip_horizontal", cases=_flip_cases(), libraries="numpy"),
    Question("test_masked_mse", "loss_and_gradient", cases=_masked_mse_cases(), libraries="any"),
    Question("test_linear_value", "linear_value", cases=_linear_value_cases(), libraries="numpy"),
    Question("test_schedule_callback", "schedule_during_fit", cases=_schedule_cases(),
             libraries="any"),
    Question("test_brightness_contrast", "relight_with_seed", cases=_brightness_cases(),
             libraries="numpy"),
    Question("test_build_specialist", "build_specialist", cases=_build_specialist_cases(),
             libraries="any"),
    Question("test_combine_specialists", "combine_constant_specialists",
             cases=_combine_cases(), libraries="any"),
]
