"""The graded cases of A2 (assignments/grading/a2_facial_keypoints.py) decide right from wrong.

The instructor's solution earns every question's points; each typical wrong answer fails the
cases about its mistake (and only those), so it earns nothing for its question, with a feedback
line that names the mistake. Most verdicts come from
tests/case_support.evaluate (the grader's judging, in this process) on the functions that the
notebook's case-setup and answer cells define; the tests at the end run the real case runner
(``python -m autograder.case_runner``) on those cells, as the grader does, with the NumPy
questions' libraries blocked.

The wrong answers are written here, never in the notebook, the course package or the units.
"""

from __future__ import annotations

import functools

import case_support
import nbformat
import numpy as np
import pytest
from case_support import evaluate, questions, replace_answer

from autograder.cases import Question, QuestionVerdict
from course.notebooks import ROOT

A2 = "a2_facial_keypoints"
SOURCE = ROOT / "assignments" / "source" / A2 / f"{A2}.ipynb"
# Answer cells that need the notebook's data, which the case process does not load.
NEEDS_THE_DATA = {"final_model_definition"}


case_cells = functools.partial(case_support.case_cells, SOURCE)
# A2's case cells build and fit Keras models: the runner gets more time than A1's.
run_in_case_runner = functools.partial(case_support.run_in_case_runner, timeout=600)


@pytest.fixture(scope="module")
def graded() -> dict[str, Question]:
    return questions(A2)


@pytest.fixture(scope="module")
def solution() -> dict:
    """The case-setup and answer cells of the source notebook, run in one namespace, as the
    case process runs them (the final model's cell needs the data and fails there)."""
    namespace: dict = {"__name__": "__main__"}
    failed = set()
    for cell in case_cells():
        try:
            exec(compile(cell["source"], cell["label"], "exec"), namespace)  # noqa: S102
        except Exception:  # noqa: BLE001 - a cell that fails in the case process fails here
            failed.add(cell["label"])
    assert failed == NEEDS_THE_DATA, failed
    return namespace


def with_answer(solution: dict, **functions) -> dict:
    """The solution's namespace with some functions replaced by wrong answers: the helpers
    the grader calls (loss_and_gradient, ...) look them up there."""
    namespace = dict(solution)
    namespace.update(functions)
    for name in ("loss_and_gradient", "schedule_during_fit", "relight_with_seed",
                 "combine_constant_specialists"):
        function = solution[name]
        namespace[name] = type(function)(function.__code__, namespace, name,
                                         function.__defaults__)
    return namespace


def verdict_for(question: Question, namespace: dict) -> QuestionVerdict:
    return evaluate(question, namespace[question.function])


def failed(verdict: QuestionVerdict) -> dict[str, str]:
    return {case.name: case.problem for case in verdict.cases if not case.passed}


# --------------------------------------------------------------------------- every point

def test_every_test_cell_is_decided_by_cases_or_the_metric(graded):
    nb = nbformat.read(SOURCE, as_version=4)
    tests = {c.metadata["nbgrader"]["grade_id"] for c in nb.cells
             if c.metadata["nbgrader"]["grade"] and not c.metadata["nbgrader"]["solution"]}
    assert tests == set(graded) | {"model_score"}


@pytest.mark.parametrize("grade_id", [
    "test_flip_horizontal", "test_masked_mse", "test_linear_value", "test_schedule_callback",
    "test_brightness_contrast", "test_build_specialist", "test_combine_specialists"])
def test_solution_earns_every_point(grade_id, graded, solution):
    verdict = verdict_for(graded[grade_id], solution)
    assert verdict.points == verdict.max_points, failed(verdict)


# --------------------------------------------------------------------------- wrong answers

def flip_without_swap(images, keypoints):
    flipped = np.array(keypoints, dtype=np.float32, copy=True)
    flipped[:, 0::2] = images.shape[2] - 1 - flipped[:, 0::2]
    return images[:, :, ::-1].copy(), flipped


def _swapped(keypoints):
    points = np.array(keypoints, dtype=np.float32, copy=True).reshape(len(keypoints), 15, 2)
    for left, right in ((0, 1), (2, 4), (3, 5), (6, 8), (7, 9), (11, 12)):
        points[:, [left, right]] = points[:, [right, left]]
    return points.reshape(len(keypoints), 30)


def flip_96_minus_x(images, keypoints):
    flipped = _swapped(keypoints)
    flipped[:, 0::2] = images.shape[2] - flipped[:, 0::2]  # W - x instead of W - 1 - x
    return images[:, :, ::-1].copy(), flipped


def flip_fixed_width(images, keypoints):
    flipped = _swapped(keypoints)
    flipped[:, 0::2] = 95 - flipped[:, 0::2]  # right for 96 pixels only
    return images[:, :, ::-1].copy(), flipped


def flip_with_height(images, keypoints):
    flipped = _swapped(keypoints)
    flipped[:, 0::2] = images.shape[1] - 1 - flipped[:, 0::2]  # H, not W
    return images[:, :, ::-1].copy(), flipped


def flip_keypoints_only(images, keypoints):
    flipped = _swapped(keypoints)
    flipped[:, 0::2] = images.shape[2] - 1 - flipped[:, 0::2]
    return images.copy(), flipped


def flip_upside_down(images, keypoints):
    flipped = _swapped(keypoints)
    flipped[:, 0::2] = images.shape[2] - 1 - flipped[:, 0::2]
    return images[:, ::-1].copy(), flipped


def flip_missing_as_zero(images, keypoints):
    flipped = _swapped(np.nan_to_num(keypoints))
    flipped[:, 0::2] = images.shape[2] - 1 - flipped[:, 0::2]
    return images[:, :, ::-1].copy(), flipped


FLIP_MISTAKES = {
    # wrong answer -> the cases it must fail (the others it may pass)
    flip_without_swap: {"y of each left keypoint moves to its right partner and back",
                        "x -> 95 - x, moved to the partner keypoint (96x96 faces)",
                        "40x40 images: x -> 39 - x", "30x40 images (height 30, width 40): x -> 39 - x",
                        "missing keypoints stay missing, at the partner's place"},
    flip_96_minus_x: {"nose_tip, mouth_center_top_lip, mouth_center_bottom_lip (no partner): "
                      "x -> 95 - x, y unchanged",
                      "x -> 95 - x, moved to the partner keypoint (96x96 faces)",
                      "40x40 images: x -> 39 - x", "30x40 images (height 30, width 40): x -> 39 - x",
                      "missing keypoints stay missing, at the partner's place"},
    flip_fixed_width: {"40x40 images: x -> 39 - x", "30x40 images (height 30, width 40): x -> 39 - x"},
    flip_with_height: {"30x40 images (height 30, width 40): x -> 39 - x"},
    flip_keypoints_only: {"the images are mirrored left-right"},
    flip_upside_down: {"the images are mirrored left-right"},
    flip_missing_as_zero: {"missing keypoints stay missing, at the partner's place"},
}


@pytest.mark.parametrize("wrong", list(FLIP_MISTAKES), ids=lambda f: f.__name__)
def test_flip_mistakes_lose_their_cases(wrong, graded):
    verdict = evaluate(graded["test_flip_horizontal"], wrong)
    assert set(failed(verdict)) == FLIP_MISTAKES[wrong], failed(verdict)
    assert verdict.points == 0


def test_flip_without_swapping_pairs_says_so(graded):
    problems = failed(evaluate(graded["test_flip_horizontal"], flip_without_swap))
    assert "partner" in problems["y of each left keypoint moves to its right partner and back"]


def mse_over_all_30(y_true, y_pred):
    from keras import ops

    y_true = ops.where(ops.isnan(y_true), 0.0, y_true)  # every coordinate counts
    return ops.mean(ops.square(y_pred - y_true))


def masked_sum_over_all_30(y_true, y_pred):
    from keras import ops

    present = ops.logical_not(ops.isnan(y_true))
    safe = ops.where(present, y_true, 0.0)
    squared = ops.where(present, ops.square(y_pred - safe), 0.0)
    return ops.sum(squared) / ops.cast(ops.size(y_true), "float32")  # all 30 per row


def mse_per_row_mean(y_true, y_pred):
    from keras import ops

    present = ops.cast(ops.logical_not(ops.isnan(y_true)), "float32")
    safe = ops.where(ops.isnan(y_true), 0.0, y_true)
    per_row = ops.sum(present * ops.square(y_pred - safe), axis=-1) / ops.maximum(
        ops.sum(present, axis=-1), 1.0)
    return ops.mean(per_row)  # rows without targets dilute the loss


def mse_nan_gradient(y_true, y_pred):
    from keras import ops

    present = ops.logical_not(ops.isnan(y_true))
    squared = ops.where(present, ops.square(y_pred - y_true), 0.0)  # NaN leaks into the gradient
    return ops.sum(squared) / ops.maximum(ops.sum(ops.cast(present, "float32")), 1.0)


def mse_per_row(y_true, y_pred):
    from keras import ops

    present = ops.logical_not(ops.isnan(y_true))
    safe = ops.where(present, y_true, 0.0)
    squared = ops.where(present, ops.square(y_pred - safe), 0.0)
    return ops.sum(squared, axis=-1) / ops.maximum(ops.sum(ops.cast(present, "float32"), -1), 1.0)


def mse_in_numpy(y_true, y_pred):
    return np.nanmean((np.asarray(y_pred) - np.asarray(y_true)) ** 2)


LOSS_MISTAKES = {
    mse_over_all_30: {"Kaggle-like rows (8 of 30 targets present): mean over the present targets only",
                      "rows without any target do not change the loss",
                      "a batch without any target: loss 0, not NaN",
                      "gradient: finite, 0 where targets are missing, 2 (y_pred - y) / |P| elsewhere"},
    masked_sum_over_all_30: {
        "Kaggle-like rows (8 of 30 targets present): mean over the present targets only",
        "rows without any target do not change the loss",
        "gradient: finite, 0 where targets are missing, 2 (y_pred - y) / |P| elsewhere"},
    mse_per_row_mean: {"Kaggle-like rows (8 of 30 targets present): mean over the present targets only",
                       "rows without any target do not change the loss",
                       "gradient: finite, 0 where targets are missing, 2 (y_pred - y) / |P| elsewhere"},
    mse_nan_gradient: {"gradient: finite, 0 where targets are missing, 2 (y_pred - y) / |P| elsewhere"},
}


@pytest.mark.parametrize("wrong", list(LOSS_MISTAKES), ids=lambda f: f.__name__)
def test_loss_mistakes_lose_their_cases(wrong, graded, solution):
    verdict = verdict_for(graded["test_masked_mse"], with_answer(solution, masked_mse=wrong))
    assert set(failed(verdict)) == LOSS_MISTAKES[wrong], failed(verdict)
    assert verdict.points == 0


def test_averaging_over_all_30_coordinates_keeps_at_most_the_complete_rows_case(graded, solution):
    verdict = verdict_for(graded["test_masked_mse"], with_answer(solution, masked_mse=mse_over_all_30))
    assert verdict.passed == 1 and verdict.points == 0
    assert "expected" in failed(verdict)[
        "Kaggle-like rows (8 of 30 targets present): mean over the present targets only"]


def test_nan_gradient_is_named_in_the_feedback(graded, solution):
    verdict = verdict_for(graded["test_masked_mse"], with_answer(solution, masked_mse=mse_nan_gradient))
    assert "NaN" in verdict.note()


@pytest.mark.filterwarnings("ignore:Mean of empty slice:RuntimeWarning")
@pytest.mark.parametrize("wrong", [mse_per_row, mse_in_numpy], ids=lambda f: f.__name__)
def test_losses_keras_cannot_use_earn_nothing(wrong, graded, solution):
    verdict = verdict_for(graded["test_masked_mse"], with_answer(solution, masked_mse=wrong))
    assert verdict.points == 0, failed(verdict)


def value_constant(epoch, epochs, start, stop):
    if not 0 <= epoch < epochs:
        raise ValueError("epoch out of range")
    return float(start)


def value_off_by_one(epoch, epochs, start, stop):
    if not 0 <= epoch < epochs:
        raise ValueError("epoch out of range")
    return float(start + (stop - start) * epoch / epochs)


def value_without_checks(epoch, epochs, start, stop):
    return float(start + (stop - start) * epoch / max(epochs - 1, 1))


@pytest.mark.parametrize(("wrong", "lost"), [
    (value_constant, {"the last epoch uses the stop value", "the middle of 11 epochs is the average",
                      "epoch 2 of 5 from 1 to 0", "a value that rises, epoch 3 of 7"}),
    (value_off_by_one, {"the last epoch uses the stop value", "the middle of 11 epochs is the average",
                        "epoch 2 of 5 from 1 to 0", "a value that rises, epoch 3 of 7"}),
    (value_without_checks, {"epoch == epochs is outside 0..E-1", "a negative epoch", "zero epochs"}),
], ids=["constant", "off_by_one", "without_checks"])
def test_linear_value_mistakes_lose_their_cases(wrong, lost, graded):
    verdict = evaluate(graded["test_linear_value"], wrong)
    assert set(failed(verdict)) == lost and verdict.points == 0


def schedule_learning_rate_only(namespace):
    keras, linear_value = namespace["keras"], namespace["linear_value"]

    def make_schedule_callback(epochs, learning_rate=(0.03, 1e-4), momentum=(0.9, 0.999)):
        def update(epoch, logs=None):
            callback.model.optimizer.learning_rate = linear_value(epoch, epochs, *learning_rate)

        callback = keras.callbacks.LambdaCallback(on_epoch_begin=update)
        return callback

    return make_schedule_callback


def schedule_at_epoch_end(namespace):
    keras, linear_value = namespace["keras"], namespace["linear_value"]

    def make_schedule_callback(epochs, learning_rate=(0.03, 1e-4), momentum=(0.9, 0.999)):
        def update(epoch, logs=None):  # one epoch late
            optimizer = callback.model.optimizer
            optimizer.learning_rate = linear_value(epoch, epochs, *learning_rate)
            optimizer.momentum.assign(linear_value(epoch, epochs, *momentum))

        callback = keras.callbacks.LambdaCallback(on_epoch_end=update)
        return callback

    return make_schedule_callback


def schedule_replaces_the_momentum_variable(namespace):
    keras, linear_value = namespace["keras"], namespace["linear_value"]

    def make_schedule_callback(epochs, learning_rate=(0.03, 1e-4), momentum=(0.9, 0.999)):
        def update(epoch, logs=None):
            optimizer = callback.model.optimizer
            optimizer.learning_rate = linear_value(epoch, epochs, *learning_rate)
            optimizer.momentum = linear_value(epoch, epochs, *momentum)  # the step keeps the old

        callback = keras.callbacks.LambdaCallback(on_epoch_begin=update)
        return callback

    return make_schedule_callback


@pytest.mark.parametrize(("wrong", "lost_columns"), [
    (schedule_learning_rate_only, {"momentum"}),
    (schedule_at_epoch_end, {"learning rate", "momentum"}),
    (schedule_replaces_the_momentum_variable, {"momentum"}),
], ids=lambda value: getattr(value, "__name__", "lost"))
def test_schedule_mistakes_lose_their_cases(wrong, lost_columns, graded, solution):
    namespace = with_answer(solution)
    namespace["make_schedule_callback"] = wrong(namespace)
    verdict = verdict_for(graded["test_schedule_callback"], namespace)
    lost = {name.split(": the ")[1].split(" from")[0] for name in failed(verdict)}
    assert lost == lost_columns and len(failed(verdict)) == 3 * len(lost_columns), failed(verdict)
    assert verdict.points == 0


def relit(images, contrast, brightness, centre=None):
    centre = images.mean(axis=(1, 2, 3), keepdims=True) if centre is None else centre
    return np.clip(contrast * (images - centre) + centre + brightness, 0, 1).astype(np.float32)


def _per_image(rng, images, low, high):
    return rng.uniform(low, high, (len(images), 1, 1, 1))


def one_contrast_for_the_batch(images, keypoints, rng, max_brightness=0.15,
                               contrast_range=(0.7, 1.3)):
    contrast = rng.uniform(*contrast_range)  # one factor for every image
    return relit(images, contrast, _per_image(rng, images, -max_brightness, max_brightness)), keypoints


def one_draw_for_the_batch(images, keypoints, rng, max_brightness=0.15, contrast_range=(0.7, 1.3)):
    return relit(images, rng.uniform(*contrast_range),
                 rng.uniform(-max_brightness, max_brightness)), keypoints


def contrast_around_half(images, keypoints, rng, max_brightness=0.15, contrast_range=(0.7, 1.3)):
    contrast = _per_image(rng, images, *contrast_range)
    shift = _per_image(rng, images, -max_brightness, max_brightness)
    return relit(images, contrast, shift, centre=0.5), keypoints


def contrast_around_the_batch_mean(images, keypoints, rng, max_brightness=0.15,
                                   contrast_range=(0.7, 1.3)):
    contrast = _per_image(rng, images, *contrast_range)
    shift = _per_image(rng, images, -max_brightness, max_brightness)
    return relit(images, contrast, shift, centre=images.mean()), keypoints


def unclipped(images, keypoints, rng, max_brightness=0.15, contrast_range=(0.7, 1.3)):
    contrast = _per_image(rng, images, *contrast_range)
    shift = _per_image(rng, images, -max_brightness, max_brightness)
    mean = images.mean(axis=(1, 2, 3), keepdims=True)
    return (contrast * (images - mean) + mean + shift).astype(np.float32), keypoints


def ignores_the_generator(images, keypoints, rng, max_brightness=0.15, contrast_range=(0.7, 1.3)):
    fresh = np.random.default_rng()
    return relit(images, _per_image(fresh, images, *contrast_range),
                 _per_image(fresh, images, -max_brightness, max_brightness)), keypoints


def returns_float64(images, keypoints, rng, max_brightness=0.15, contrast_range=(0.7, 1.3)):
    contrast = _per_image(rng, images, *contrast_range)
    shift = _per_image(rng, images, -max_brightness, max_brightness)
    return relit(images, contrast, shift).astype(np.float64), keypoints


def contrast_without_brightness(images, keypoints, rng, max_brightness=0.15,
                                contrast_range=(0.7, 1.3)):
    return relit(images, _per_image(rng, images, *contrast_range), 0.0), keypoints


RELIGHT_MISTAKES = {
    one_contrast_for_the_batch: {"each image gets its own contrast factor, within contrast_range"},
    one_draw_for_the_batch: {"each image gets its own brightness shift",
                             "each image gets its own contrast factor, within contrast_range"},
    contrast_around_half: {"contrast 2 and no brightness change: each image scaled around its own mean"},
    contrast_around_the_batch_mean: {
        "contrast 2 and no brightness change: each image scaled around its own mean"},
    unclipped: {"bright and dark images are clipped to [0, 1]"},
    ignores_the_generator: {"the random draws come from the generator passed in"},
    returns_float64: {"float32 images of the same shape, keypoints unchanged (NaN included)"},
    contrast_without_brightness: {"each image gets its own brightness shift",
                                  "the random draws come from the generator passed in"},
}


@pytest.mark.parametrize("wrong", list(RELIGHT_MISTAKES), ids=lambda f: f.__name__)
def test_brightness_contrast_mistakes_lose_their_cases(wrong, graded, solution):
    verdict = verdict_for(graded["test_brightness_contrast"],
                          with_answer(solution, adjust_brightness_contrast=wrong))
    assert set(failed(verdict)) == RELIGHT_MISTAKES[wrong], failed(verdict)
    assert verdict.points == 0


def test_one_contrast_for_the_batch_is_named_in_the_feedback(graded, solution):
    verdict = verdict_for(graded["test_brightness_contrast"],
                          with_answer(solution, adjust_brightness_contrast=one_contrast_for_the_batch))
    assert "same contrast factor" in verdict.note() and "per image" in verdict.note()


def dense_specialist(namespace):
    keras, layers = namespace["keras"], namespace["layers"]

    def build_specialist(n_outputs):
        return keras.Sequential([keras.Input((96, 96, 1)), layers.Flatten(), layers.Dense(n_outputs)])

    return build_specialist


def specialist_of_fixed_width(namespace):
    build = namespace["build_specialist"]
    return lambda n_outputs: build(30)


def specialist_ignoring_the_image(namespace):
    keras, layers = namespace["keras"], namespace["layers"]

    def build_specialist(n_outputs):
        return keras.Sequential([keras.Input((96, 96, 1)), layers.Conv2D(4, 3),
                                 layers.GlobalAveragePooling2D(),
                                 layers.Dense(n_outputs, kernel_initializer="zeros")])

    return build_specialist


@pytest.mark.parametrize(("wrong", "passed"), [
    (dense_specialist, 3), (specialist_of_fixed_width, 1), (specialist_ignoring_the_image, 0),
], ids=lambda value: getattr(value, "__name__", "passed"))
def test_build_specialist_mistakes_lose_their_cases(wrong, passed, graded, solution):
    verdict = evaluate(graded["test_build_specialist"], wrong(solution))
    assert verdict.passed == passed and verdict.points == 0, failed(verdict)


def combine_without_reordering(namespace):
    keras, layers = namespace["keras"], namespace["layers"]

    def combine_specialists(specialists, column_groups, n_columns=30):
        images = keras.Input((96, 96, 1))
        outputs = [specialists[group](images) for group in column_groups]
        return keras.Model(images, layers.Concatenate()(outputs))

    return combine_specialists


def _check_groups(specialists, column_groups, n_columns):
    if set(specialists) != set(column_groups):
        raise ValueError("names differ")
    columns = sorted(c for group in column_groups.values() for c in group)
    if columns != list(range(n_columns)):
        raise ValueError("not every column exactly once")
    for group, model in specialists.items():
        if model.output_shape[-1] != len(column_groups[group]):
            raise ValueError("width")


def combine_with_the_wrong_permutation(namespace):
    keras, layers, ops = namespace["keras"], namespace["layers"], namespace["ops"]

    def combine_specialists(specialists, column_groups, n_columns=30):
        _check_groups(specialists, column_groups, n_columns)
        images = keras.Input((96, 96, 1))
        stacked = layers.Concatenate()([specialists[group](images) for group in column_groups])
        order = [c for group in column_groups for c in column_groups[group]]
        return keras.Model(images, ops.take(stacked, order, axis=-1))  # argsort(order) is right

    return combine_specialists


def combine_without_checks(namespace):
    keras, layers, ops = namespace["keras"], namespace["layers"], namespace["ops"]

    def combine_specialists(specialists, column_groups, n_columns=30):
        images = keras.Input((96, 96, 1))
        stacked = layers.Concatenate()([specialists[group](images) for group in column_groups])
        order = [c for group in column_groups for c in column_groups[group]]
        return keras.Model(images, ops.take(stacked, np.argsort(order), axis=-1))

    return combine_specialists


ERROR_CASES = {"a column covered twice and one missing: ValueError",
               "a column outside 0..n_columns-1: ValueError",
               "specialists named differently from the groups: ValueError",
               "a specialist whose width differs from its group's size: ValueError"}
ORDER_CASES = {"groups listed out of order, 6 columns", "two interleaved groups, 8 columns"}


@pytest.mark.parametrize(("wrong", "lost"), [
    (combine_without_reordering, ORDER_CASES | ERROR_CASES),
    (combine_with_the_wrong_permutation, ORDER_CASES),
    (combine_without_checks, ERROR_CASES),
], ids=lambda value: getattr(value, "__name__", "lost"))
def test_combine_mistakes_lose_their_cases(wrong, lost, graded, solution):
    namespace = with_answer(solution)
    namespace["combine_specialists"] = wrong(namespace)
    verdict = verdict_for(graded["test_combine_specialists"], namespace)
    assert set(failed(verdict)) == lost and verdict.points == 0, failed(verdict)


# --------------------------------------------------------------------------- the real case runner

@pytest.mark.parametrize("grade_id", ["test_flip_horizontal", "test_linear_value",
                                      "test_brightness_contrast"])
def test_numpy_solutions_pass_in_the_case_runner_without_tensorflow(grade_id, graded, tmp_path):
    verdict, report = run_in_case_runner(case_cells(), graded[grade_id], tmp_path)
    assert verdict.points == verdict.max_points, (failed(verdict), report)
    answers = {c["label"]: c["status"] for c in report["cells"]}
    assert answers["imports"] == "ok" and answers[{"test_flip_horizontal": "flip_horizontal",
                                                  "test_linear_value": "schedule",
                                                  "test_brightness_contrast": "brightness_contrast"}
                                                 [grade_id]] == "ok", report


def test_flip_that_delegates_to_tensorflow_earns_nothing(graded, tmp_path):
    cells = replace_answer(case_cells(), "flip_horizontal", '''
import tensorflow as tf

def flip_horizontal(images, keypoints):
    flipped = tf.image.flip_left_right(images).numpy()
    points = np.array(keypoints, copy=True)
    points[:, 0::2] = images.shape[2] - 1 - points[:, 0::2]
    partner = np.arange(15)
    for left, right in FLIP_PAIRS:
        partner[[left, right]] = right, left
    return flipped, points[:, np.stack([2 * partner, 2 * partner + 1], 1).reshape(-1)]
''')
    verdict, _ = run_in_case_runner(cells, graded["test_flip_horizontal"], tmp_path)
    assert verdict.forbidden and verdict.points == 0, failed(verdict)
    assert "does not allow" in verdict.note()


def test_answer_that_needs_another_cell_fails(graded, tmp_path):
    """The case process runs only answer and case-setup cells: the notebook's data is missing
    there, which is why the notebook says answers must be self-contained."""
    cells = replace_answer(case_cells(), "flip_horizontal", '''
def flip_horizontal(images, keypoints):
    width = x_val.shape[2]  # the notebook's data: not in the case process
    points = np.array(keypoints, copy=True)
    points[:, 0::2] = width - 1 - points[:, 0::2]
    return images[:, :, ::-1].copy(), points
''')
    verdict, _ = run_in_case_runner(cells, graded["test_flip_horizontal"], tmp_path)
    assert verdict.points == 0 and "NameError" in verdict.note()


@pytest.mark.slow
@pytest.mark.parametrize("grade_id", ["test_masked_mse", "test_schedule_callback",
                                      "test_build_specialist", "test_combine_specialists"])
def test_keras_solutions_pass_in_the_case_runner(grade_id, graded, tmp_path):
    verdict, report = run_in_case_runner(case_cells(), graded[grade_id], tmp_path)
    assert verdict.points == verdict.max_points, (failed(verdict), report)
