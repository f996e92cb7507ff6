"""Assignment A2 (facial keypoints): grading tiers, notebook structure, tests that can fail.

The autograded test cells of the source notebook are executed here against the
instructor's solution (they must pass) and against typical wrong answers (they
must fail), without training anything. The release is generated with nbgrader
into a temporary course directory and searched for solution and hidden-test text.
"""

from __future__ import annotations

import math
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import nbformat
import numpy as np
import pytest

from course.grading import tier_fraction
from course.runtime import BOOTSTRAP_CELL

ROOT = Path(__file__).resolve().parents[1]
COURSE_DIR = ROOT / "assignments"
NAME = "a2_facial_keypoints"
SOURCE = COURSE_DIR / "source" / NAME / f"{NAME}.ipynb"
RELEASE = COURSE_DIR / "release" / NAME / f"{NAME}.ipynb"
GRADING = COURSE_DIR / "grading" / f"{NAME}.toml"

REAL_TIERS = [(1.4, 1.0), (1.5, 0.9), (1.6, 0.8)]
REAL_ZERO_AT = 3.5


def _cells_by_id(notebook) -> dict[str, nbformat.NotebookNode]:
    return {
        cell.metadata["nbgrader"]["grade_id"]: cell
        for cell in notebook.cells
        if "nbgrader" in cell.metadata
    }


@pytest.fixture(scope="module")
def source():
    return nbformat.read(SOURCE, as_version=4)


@pytest.fixture(scope="module")
def cells(source):
    return _cells_by_id(source)


# ----------------------------------------------------------------------------- tier formula


@pytest.mark.parametrize(
    ("score", "fraction"),
    [
        (0.9, 1.0),
        (1.4, 1.0),  # a threshold belongs to its own tier
        (1.4000001, 0.9),
        (1.5, 0.9),
        (1.55, 0.8),
        (1.6, 0.8),
        (2.55, 0.4),  # halfway from the last tier (1.6) to zero_at (3.5): half of 0.8
        (3.5, 0.0),
        (7.0, 0.0),
    ],
)
def test_tier_fraction_with_a2_tiers(score, fraction):
    assert tier_fraction(score, REAL_TIERS, REAL_ZERO_AT) == pytest.approx(fraction)


def test_tier_fraction_falls_linearly_below_the_last_tier():
    scores = np.linspace(1.6, 3.5, 20)
    fractions = [tier_fraction(s, REAL_TIERS, REAL_ZERO_AT) for s in scores]
    assert np.allclose(fractions, 0.8 * (3.5 - scores) / (3.5 - 1.6))
    assert tier_fraction(1.6001, REAL_TIERS, REAL_ZERO_AT) < 0.8


@pytest.mark.parametrize("score", [math.nan, math.inf, -math.inf])
def test_tier_fraction_gives_nothing_for_nan_or_infinite_scores(score):
    assert tier_fraction(score, REAL_TIERS, REAL_ZERO_AT) == 0.0


def test_tier_fraction_higher_is_better_direction():
    tiers, zero_at = [(0.9, 1.0), (0.8, 0.8)], 0.5
    assert tier_fraction(0.95, tiers, zero_at) == 1.0
    assert tier_fraction(0.9, tiers, zero_at) == 1.0
    assert tier_fraction(0.85, tiers, zero_at) == 0.8
    assert tier_fraction(0.65, tiers, zero_at) == pytest.approx(0.4)
    assert tier_fraction(0.4, tiers, zero_at) == 0.0


# ----------------------------------------------------------------------------- grading file


def _notebook_tiers(cells) -> dict:
    """Run the notebook's tier-plot cell (headless) and return its constants."""
    import matplotlib

    matplotlib.use("Agg")
    namespace: dict = {}
    exec(cells["tier_plot"].source, namespace)
    return namespace


def test_grading_toml_matches_the_notebook(cells):
    config = tomllib.loads(GRADING.read_text())
    (metric,) = config["metric"]
    assert metric["grade_id"] == "model_score" and metric["metric"] == "keypoint_rmse"
    assert metric["model"] == "final_model" and metric["weights"] == "a2_model.weights.h5"
    constants = _notebook_tiers(cells)
    assert [tuple(t) for t in metric["real"]["tiers"]] == constants["REAL_TIERS"] == REAL_TIERS
    assert metric["real"]["zero_at"] == constants["REAL_ZERO_AT"] == REAL_ZERO_AT
    assert [tuple(t) for t in metric["synthetic"]["tiers"]] == constants["SYNTHETIC_TIERS"]
    assert metric["synthetic"]["zero_at"] == constants["SYNTHETIC_ZERO_AT"]
    assert cells["model_score"].metadata["nbgrader"]["points"] == constants["MODEL_POINTS"]
    assert metric["weights"] in cells["training"].source + cells["bundle"].source


def test_grading_toml_passes_the_autograder_parser():
    from autograder.config import parse_grading_toml

    (question,) = parse_grading_toml(GRADING)
    assert question.grade_id == "model_score"
    assert set(question.tiers) == {"real", "synthetic"}


# ----------------------------------------------------------------------------- notebook structure


def test_source_notebook_layout(source, cells):
    nbformat.validate(source)
    assert source.cells[0].cell_type == "markdown" and "colab-badge" in source.cells[0].source
    first_code = next(cell for cell in source.cells if cell.cell_type == "code")
    assert first_code.source == BOOTSTRAP_CELL
    assert source.metadata["kernelspec"]["name"] == "python3"
    for cell in source.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, "commit without outputs"
        meta = cell.metadata["nbgrader"]
        assert meta["schema_version"] == 3
        if meta["grade"]:
            assert meta["points"] > 0, meta["grade_id"]
        if not meta["solution"]:
            assert meta["locked"], f"{meta['grade_id']} should be read-only"
    assert len(cells) == len(source.cells), "grade_id values must be unique"
    points = {gid: c.metadata["nbgrader"].get("points", 0) for gid, c in cells.items()}
    assert sum(points.values()) == 100
    training = [c for c in source.cells if "training" in c.metadata.get("tags", [])]
    assert len(training) == 1 and "fit_or_restore(final_model" in training[0].source
    assert source.cells[-1].source.startswith('course.grading.bundle_submission("a2_facial_keypoints"')
    manual = [c for c in source.cells if c.cell_type == "markdown" and c.metadata["nbgrader"]["grade"]]
    assert len(manual) == 3 and all(c.metadata["nbgrader"]["solution"] for c in manual)


def test_model_score_cell_holds_public_checks_only(cells):
    assert "BEGIN HIDDEN TESTS" not in cells["model_score"].source


# ----------------------------------------------------------------------------- hidden tests bite


@pytest.fixture(scope="module")
def base_namespace():
    """What the test cells expect from the notebook's earlier cells, without training."""
    import keras
    from keras import layers, ops

    import course
    from course.data import FLIP_PAIRS, KEYPOINT_NAMES, load_facial_keypoints

    data = load_facial_keypoints(source="synthetic", limit=60)
    complete = ~np.isnan(data.keypoints).any(axis=1)
    return {
        "np": np, "keras": keras, "layers": layers, "ops": ops, "course": course,
        "FLIP_PAIRS": FLIP_PAIRS, "KEYPOINT_NAMES": KEYPOINT_NAMES, "data": data,
        "x_val": data.images[complete][:8], "y_val": data.keypoints[complete][:8],
    }


def _namespace(base, cells, *grade_ids) -> dict:
    namespace = dict(base)
    for grade_id in grade_ids:
        exec(cells[grade_id].source, namespace)
    return namespace


def _run_tests(namespace, cells, test_id) -> None:
    exec(cells[test_id].source, namespace)


PARTS = {
    # test cell -> cells to run first (given code, then the student's solution cell)
    "test_flip_horizontal": ("flip_horizontal",),
    "test_masked_mse": ("masked_mse",),
    "test_schedule": ("scheduled_sgd", "schedule"),
    "test_brightness_contrast": ("brightness_contrast",),
    "test_specialists": ("column_groups", "specialists"),
}


@pytest.mark.parametrize("test_id", sorted(PARTS))
def test_solution_passes_public_and_hidden_tests(base_namespace, cells, test_id):
    assert "### BEGIN HIDDEN TESTS" in cells[test_id].source
    namespace = _namespace(base_namespace, cells, *PARTS[test_id])
    _run_tests(namespace, cells, test_id)


def _flip_without_swap(images, keypoints):
    flipped = np.array(keypoints, dtype=np.float32, copy=True)
    flipped[:, 0::2] = images.shape[2] - 1 - flipped[:, 0::2]
    return images[:, :, ::-1].copy(), flipped


def _flip_off_by_one(images, keypoints):
    from keypoint_reference import flip_horizontal

    flipped_images, flipped = flip_horizontal(images, keypoints)
    flipped[:, 0::2] += 1  # x -> W - x instead of W - 1 - x
    return flipped_images, flipped


def _flip_in_place(images, keypoints):
    from keypoint_reference import flip_horizontal

    flipped_images, flipped = flip_horizontal(images, keypoints)
    keypoints[...] = flipped
    return flipped_images, keypoints


def _flip_fixed_width(images, keypoints):
    from keypoint_reference import flip_horizontal

    flipped_images, flipped = flip_horizontal(images, keypoints)
    flipped[:, 0::2] += 96 - images.shape[2]  # always 95 - x
    return flipped_images, flipped


def _flip_keypoints_only(images, keypoints):
    from keypoint_reference import flip_horizontal

    return images.copy(), flip_horizontal(images, keypoints)[1]


def _mse_nan_as_zero(y_true, y_pred):
    from keras import ops

    y_true = ops.where(ops.isnan(y_true), 0.0, y_true)
    return ops.mean(ops.square(y_pred - y_true))


def _mse_per_row_mean(y_true, y_pred):
    from keras import ops

    present = ops.cast(ops.logical_not(ops.isnan(y_true)), "float32")
    safe = ops.where(ops.isnan(y_true), 0.0, y_true)
    per_row = ops.sum(present * ops.square(y_pred - safe), axis=-1) / ops.maximum(
        ops.sum(present, axis=-1), 1.0
    )
    return ops.mean(per_row)  # rows without targets dilute the loss


def _mse_nan_gradient(y_true, y_pred):
    from keras import ops

    present = ops.logical_not(ops.isnan(y_true))
    squared = ops.where(present, ops.square(y_pred - y_true), 0.0)  # NaN leaks into the gradient
    return ops.sum(squared) / ops.maximum(ops.sum(ops.cast(present, "float32")), 1.0)


def _constant_value(epoch, epochs, start, stop):
    if not 0 <= epoch < epochs:
        raise ValueError("epoch out of range")
    return float(start)


def _value_off_by_one(epoch, epochs, start, stop):
    if not 0 <= epoch < epochs:
        raise ValueError("epoch out of range")
    return float(start + (stop - start) * epoch / epochs)


def _value_without_checks(epoch, epochs, start, stop):
    return float(start + (stop - start) * epoch / max(epochs - 1, 1))


def _schedule_learning_rate_only(namespace):
    keras, linear_value = namespace["keras"], namespace["linear_value"]

    def make_schedule_callback(epochs, learning_rate=(0.03, 1e-4), momentum=(0.9, 0.999)):
        def update(epoch, logs=None):
            callback.model.optimizer.learning_rate = linear_value(epoch, epochs, *learning_rate)

        callback = keras.callbacks.LambdaCallback(on_epoch_begin=update)
        return callback

    return make_schedule_callback


def _brightness_unclipped(images, keypoints, rng, max_brightness=0.15, contrast_range=(0.7, 1.3)):
    shift = rng.uniform(-max_brightness, max_brightness, (len(images), 1, 1, 1))
    return (images + shift).astype(np.float32), keypoints


def _brightness_one_shift(images, keypoints, rng, max_brightness=0.15, contrast_range=(0.7, 1.3)):
    contrast = rng.uniform(*contrast_range)
    shift = rng.uniform(-max_brightness, max_brightness)
    mean = images.mean(axis=(1, 2, 3), keepdims=True)
    return np.clip(contrast * (images - mean) + mean + shift, 0, 1).astype(np.float32), keypoints


def _contrast_around_half(images, keypoints, rng, max_brightness=0.15, contrast_range=(0.7, 1.3)):
    size = (len(images), 1, 1, 1)
    contrast = rng.uniform(*contrast_range, size)
    shift = rng.uniform(-max_brightness, max_brightness, size)
    return np.clip(contrast * (images - 0.5) + 0.5 + shift, 0, 1).astype(np.float32), keypoints


def _brightness_in_place(images, keypoints, rng, max_brightness=0.15, contrast_range=(0.7, 1.3)):
    size = (len(images), 1, 1, 1)
    contrast = rng.uniform(*contrast_range, size)
    shift = rng.uniform(-max_brightness, max_brightness, size)
    mean = images.mean(axis=(1, 2, 3), keepdims=True)
    images[...] = np.clip(contrast * (images - mean) + mean + shift, 0, 1)
    return images, keypoints


def _combine_without_reordering(namespace):
    keras, layers = namespace["keras"], namespace["layers"]

    def combine_specialists(specialists, column_groups, n_columns=30):
        images = keras.Input((96, 96, 1))
        outputs = [specialists[group](images) for group in column_groups]
        return keras.Model(images, layers.Concatenate()(outputs))

    return combine_specialists


def _combine_without_checks(namespace):
    keras, layers, ops = namespace["keras"], namespace["layers"], namespace["ops"]

    def combine_specialists(specialists, column_groups, n_columns=30):
        images = keras.Input((96, 96, 1))
        outputs = [specialists[group](images) for group in column_groups]
        stacked_columns = [c for group in column_groups for c in column_groups[group]]
        return keras.Model(
            images, ops.take(layers.Concatenate()(outputs), np.argsort(stacked_columns), axis=-1)
        )

    return combine_specialists


def _dense_specialist(namespace):
    keras, layers = namespace["keras"], namespace["layers"]

    def build_specialist(n_outputs):
        return keras.Sequential([keras.Input((96, 96, 1)), layers.Flatten(), layers.Dense(n_outputs)])

    return build_specialist


def _ignores_rng(images, keypoints, rng, max_brightness=0.15, contrast_range=(0.7, 1.3)):
    fresh = np.random.default_rng()
    size = (len(images), 1, 1, 1)
    contrast = fresh.uniform(*contrast_range, size)
    shift = fresh.uniform(-max_brightness, max_brightness, size)
    mean = images.mean(axis=(1, 2, 3), keepdims=True)
    return np.clip(contrast * (images - mean) + mean + shift, 0, 1).astype(np.float32), keypoints


WRONG_ANSWERS = [
    ("test_flip_horizontal", "flip_horizontal", _flip_without_swap),
    ("test_flip_horizontal", "flip_horizontal", _flip_off_by_one),
    ("test_flip_horizontal", "flip_horizontal", _flip_in_place),
    ("test_flip_horizontal", "flip_horizontal", _flip_fixed_width),
    ("test_flip_horizontal", "flip_horizontal", _flip_keypoints_only),
    ("test_masked_mse", "masked_mse", _mse_nan_as_zero),
    ("test_masked_mse", "masked_mse", _mse_per_row_mean),
    ("test_masked_mse", "masked_mse", _mse_nan_gradient),
    ("test_schedule", "linear_value", _constant_value),
    ("test_schedule", "linear_value", _value_off_by_one),
    ("test_schedule", "linear_value", _value_without_checks),
    ("test_schedule", "make_schedule_callback", _schedule_learning_rate_only),
    ("test_brightness_contrast", "adjust_brightness_contrast", _brightness_unclipped),
    ("test_brightness_contrast", "adjust_brightness_contrast", _brightness_one_shift),
    ("test_brightness_contrast", "adjust_brightness_contrast", _contrast_around_half),
    ("test_brightness_contrast", "adjust_brightness_contrast", _ignores_rng),
    ("test_brightness_contrast", "adjust_brightness_contrast", _brightness_in_place),
    ("test_specialists", "combine_specialists", _combine_without_reordering),
    ("test_specialists", "combine_specialists", _combine_without_checks),
    ("test_specialists", "build_specialist", _dense_specialist),
]
# Wrong answers that need the notebook's namespace (they call its other functions) are factories.
_FACTORIES = {
    _schedule_learning_rate_only, _combine_without_reordering, _combine_without_checks,
    _dense_specialist,
}


@pytest.mark.parametrize(
    ("test_id", "name", "wrong"), WRONG_ANSWERS, ids=[w.__name__.strip("_") for _, _, w in WRONG_ANSWERS]
)
def test_hidden_tests_reject_wrong_answers(base_namespace, cells, test_id, name, wrong):
    namespace = _namespace(base_namespace, cells, *PARTS[test_id])
    namespace[name] = wrong(namespace) if wrong in _FACTORIES else wrong
    with pytest.raises(AssertionError):
        _run_tests(namespace, cells, test_id)


def test_model_score_rejects_standardised_or_misshaped_predictions(base_namespace, cells):
    class Predicts:
        def __init__(self, values):
            self.values = values

        def predict(self, images, verbose=0):
            return self.values(len(images))

    good = {"final_model": Predicts(lambda n: np.full((n, 30), 48.0))}
    _run_tests({**base_namespace, **good}, cells, "model_score")
    for wrong in (
        lambda n: np.zeros((n, 30)),  # standardised, not pixels
        lambda n: np.full((n, 15, 2), 48.0),
        lambda n: np.full((n, 30), np.nan),
    ):
        with pytest.raises(AssertionError):
            _run_tests({**base_namespace, "final_model": Predicts(wrong)}, cells, "model_score")


# ----------------------------------------------------------------------------- the release


SOLUTION_FRAGMENTS = [
    "swapped_columns",  # flip_horizontal
    "safe_targets",  # masked_mse
    "class LinearSchedule",  # make_schedule_callback
    "image_mean = images.mean",  # adjust_brightness_contrast
    "in_column_order",  # combine_specialists
    "def train_final_model",  # final model
    "Grading guide",  # the manual-grading notes
]
HIDDEN_FRAGMENTS = ["hidden_rng", "shuffled_groups", "GradientTape", "partner_of"]


@pytest.fixture(scope="module")
def generated_release(tmp_path_factory) -> Path:
    course = tmp_path_factory.mktemp("course")
    shutil.copy(COURSE_DIR / "nbgrader_config.py", course / "nbgrader_config.py")
    shutil.copytree(SOURCE.parent, course / "source" / NAME,
                    ignore=shutil.ignore_patterns("*.h5", "*.zip", ".ipynb_checkpoints"))
    bin_dir = Path(sys.executable).parent
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(course)}
    subprocess.run(
        [str(bin_dir / "nbgrader"), "generate_assignment", NAME, "--force"],
        cwd=course, env=env, check=True, capture_output=True, text=True,
    )
    return course / "release" / NAME / f"{NAME}.ipynb"


def test_release_hides_solutions_and_hidden_tests(generated_release):
    text = generated_release.read_text()
    assert "BEGIN HIDDEN TESTS" not in text and "BEGIN SOLUTION" not in text
    for fragment in SOLUTION_FRAGMENTS + HIDDEN_FRAGMENTS:
        assert fragment not in text, fragment
    released = _cells_by_id(nbformat.read(generated_release, as_version=4))
    for grade_id in ("flip_horizontal", "masked_mse", "schedule", "brightness_contrast",
                     "specialists", "final_model_definition"):
        assert "raise NotImplementedError()" in released[grade_id].source, grade_id
    for grade_id in ("report_best_result", "report_architecture", "report_ablation"):
        assert released[grade_id].source == "YOUR ANSWER HERE"
    assert "assert flipped_faces.shape" in released["test_flip_horizontal"].source


def test_committed_release_is_current(generated_release):
    committed = nbformat.read(RELEASE, as_version=4)
    fresh = nbformat.read(generated_release, as_version=4)
    assert [c.source for c in committed.cells] == [c.source for c in fresh.cells], (
        "run `nbgrader generate_assignment a2_facial_keypoints --force` in assignments/"
    )


EXPECTED_BLANK_ERRORS = {
    # cell -> error the blank release raises in it (the student has not written anything yet)
    "test_flip_horizontal": "NotImplementedError",
    "test_masked_mse": "NotImplementedError",
    "test_schedule": "NotImplementedError",
    "test_brightness_contrast": "NotImplementedError",
    "test_specialists": "NotImplementedError",
    "final_model_definition": "NotImplementedError",
    "training": "NameError",
    "evaluate": "NameError",
    "model_score": "NameError",
    "bundle": "FileNotFoundError",
}


@pytest.mark.slow
@pytest.mark.notebook
def test_blank_release_runs_to_the_end(tmp_path, monkeypatch):
    """The grader can execute an untouched release: only the expected cells fail."""
    from nbclient import NotebookClient

    monkeypatch.setenv("COURSE_DATA", "synthetic")
    monkeypatch.setenv("COURSE_QUICK", "1")
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    notebook = nbformat.read(RELEASE, as_version=4)
    NotebookClient(
        notebook, timeout=300, kernel_name="python3", allow_errors=True,
        resources={"metadata": {"path": str(tmp_path)}},
    ).execute()
    errors = {
        cell.metadata["nbgrader"]["grade_id"]: output.ename
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.output_type == "error"
    }
    assert errors == EXPECTED_BLANK_ERRORS

