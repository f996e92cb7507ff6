"""Assignment A2 (facial keypoints): grading settings, notebook structure, release, checkpoints.

The graded cases themselves are proven in tests/test_cases_a2.py. Here: the grading TOML
agrees with what the notebook tells students (tiers, points, weights files, the late policy),
the synthetic tiers are valid for the zero point the grader measures, the notebook follows the
contracts (setup cell, case-setup tags, no hidden tests, training through fit_or_restore), its
visible test cells pass on the solution, the release hides the solution, and the checkpoint
helper resumes an interrupted run.
"""

from __future__ import annotations

import math
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import nbformat
import numpy as np
import pytest

from autograder.config import parse_grading_toml, parse_submission_policy
from course.grading import tier_fraction
from course.notebooks import setup_cell

ROOT = Path(__file__).resolve().parents[1]
COURSE_DIR = ROOT / "assignments"
NAME = "a2_facial_keypoints"
SOURCE = COURSE_DIR / "source" / NAME / f"{NAME}.ipynb"
RELEASE = COURSE_DIR / "release" / NAME / f"{NAME}.ipynb"
GRADING = COURSE_DIR / "grading" / f"{NAME}.toml"

REAL_TIERS = [(1.4, 1.0), (1.5, 0.9), (1.6, 0.8)]  # the course slides' targets
ANSWERS = ("flip_horizontal", "masked_mse", "schedule", "brightness_contrast", "specialists")
# Read-only cells the answers need in the grader's case process.
CASE_SETUP = {"imports", "loss_probe", "scheduled_sgd", "schedule_probe", "relight_probe",
              "column_groups", "combine_probe"}


def _cells_by_id(notebook) -> dict[str, nbformat.NotebookNode]:
    return {cell.metadata["nbgrader"]["grade_id"]: cell for cell in notebook.cells
            if "nbgrader" in cell.metadata}


@pytest.fixture(scope="module")
def source():
    return nbformat.read(SOURCE, as_version=4)


@pytest.fixture(scope="module")
def cells(source):
    return _cells_by_id(source)


# ----------------------------------------------------------------------------- tier formula

@pytest.mark.parametrize(("score", "fraction"), [
    (0.9, 1.0), (1.4, 1.0), (1.4000001, 0.9), (1.5, 0.9), (1.55, 0.8), (1.6, 0.8),
    (2.55, 0.4),  # halfway from the last tier (1.6) to a zero point of 3.5: half of 0.8
    (3.5, 0.0), (7.0, 0.0),
])
def test_tier_fraction_with_a2_tiers(score, fraction):
    assert tier_fraction(score, REAL_TIERS, 3.5) == pytest.approx(fraction)


@pytest.mark.parametrize("score", [math.nan, math.inf, -math.inf])
def test_tier_fraction_gives_nothing_for_nan_or_infinite_scores(score):
    assert tier_fraction(score, REAL_TIERS, 3.5) == 0.0


# ----------------------------------------------------------------------------- grading file

def _tier_constants(cells, mean_face_rmse=3.0) -> dict:
    """Run the notebook's tier-plot cell headless, after the imports, and return its names."""
    import matplotlib

    matplotlib.use("Agg")
    namespace: dict = {}
    exec(cells["imports"].source, namespace)
    namespace["mean_face_rmse"] = mean_face_rmse
    exec(cells["tier_plot"].source, namespace)
    return namespace


def test_grading_toml_matches_the_notebook(cells):
    config = tomllib.loads(GRADING.read_text())
    (metric,) = config["metric"]
    assert metric["grade_id"] == "model_score" and metric["metric"] == "keypoint_rmse"
    assert metric["model"] == "final_model" and metric["weights"] == "a2_model.weights.h5"
    constants = _tier_constants(cells)
    assert [tuple(t) for t in metric["real"]["tiers"]] == constants["REAL_TIERS"] == REAL_TIERS
    assert [tuple(t) for t in metric["synthetic"]["tiers"]] == constants["SYNTHETIC_TIERS"]
    assert cells["model_score"].metadata["nbgrader"]["points"] == constants["MODEL_POINTS"]
    assert metric["weights"] in cells["training"].source
    assert "zero_at" not in GRADING.read_text()


def test_notebook_states_the_tiers_and_no_fixed_zero_point(cells):
    (metric,) = parse_grading_toml(GRADING)
    text = cells["task"].source
    real_table, synthetic_text = text.split("*Offline practice mode.*")
    stated_real = [float(v) for v in re.findall(r"s \\le ([\d.]+)\$ px", real_table)]
    stated_synthetic = [float(v) for v in re.findall(r"s \\le ([\d.]+)\$", synthetic_text)]
    assert stated_real == [t for t, _ in metric.tiers["real"].tiers]
    assert stated_synthetic == [t for t, _ in metric.tiers["synthetic"].tiers]
    assert "zero_at" not in text and "3.5 px" not in text and "measures it" in text


def test_tier_plot_draws_the_notebooks_own_mean_face_estimate(cells):
    constants = _tier_constants(cells, mean_face_rmse=3.21)
    assert constants["zero_estimate"] == 3.21
    assert max(constants["points"]) == constants["MODEL_POINTS"] and min(constants["points"]) == 0


def test_grading_toml_passes_the_autograder_parser():
    (question,) = parse_grading_toml(GRADING)
    assert question.grade_id == "model_score" and set(question.tiers) == {"real", "synthetic"}


@pytest.mark.parametrize("limit", [200, None], ids=["quick", "full"])
def test_synthetic_tiers_are_valid_for_the_measured_zero_point(limit):
    """The grader refuses tiers that the mean training face already reaches (scoring.zero_point);
    on the synthetic hidden faces it must score worse than the last tier, by a margin."""
    from autograder import splits
    from autograder.scoring import zero_point

    (question,) = parse_grading_toml(GRADING)
    tiers = question.tiers["synthetic"]
    split = splits.load_grading_split("facial_keypoints", source="synthetic", limit=limit)
    targets = splits.training_targets("facial_keypoints", source="synthetic", limit=limit)
    zero = zero_point(question, targets, split.labels, tiers)
    assert zero.value > 1.5 * tiers.tiers[-1][0], zero


def test_submission_policy_is_stated_in_the_notebook(cells):
    policy = parse_submission_policy(GRADING)
    assert policy.due is not None and policy.late_penalty_per_day > 0
    cell = cells["late_policy"]
    assert cell.cell_type == "markdown" and cell.metadata["nbgrader"]["locked"]
    assert policy.describe() in cell.source


# ----------------------------------------------------------------------------- notebook structure

def test_source_notebook_layout(source, cells):
    nbformat.validate(source)
    assert source.cells[0].cell_type == "markdown" and "colab-badge" in source.cells[0].source
    first_code = next(cell for cell in source.cells if cell.cell_type == "code")
    assert first_code.source == setup_cell(source)
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
        assert "BEGIN HIDDEN TESTS" not in cell.source, meta["grade_id"]
    assert len(cells) == len(source.cells), "grade_id values must be unique"
    points = {gid: c.metadata["nbgrader"].get("points", 0) for gid, c in cells.items()}
    assert sum(points.values()) == 100
    manual = [c for c in source.cells if c.cell_type == "markdown" and c.metadata["nbgrader"]["grade"]]
    assert len(manual) == 3 and all(c.metadata["nbgrader"]["solution"] for c in manual)


def test_case_setup_cells_are_the_locked_cells_the_answers_need(source, cells):
    tagged = {c.metadata["nbgrader"]["grade_id"] for c in source.cells
              if "case-setup" in c.metadata.get("tags", [])}
    assert tagged == CASE_SETUP
    assert all(cells[g].metadata["nbgrader"]["locked"] and cells[g].cell_type == "code"
               for g in tagged)
    assert "load_facial_keypoints(" not in cells["imports"].source, "the grader loads no data"
    assert "self-contained" in cells["flip_intro"].source or \
        "must be inside its own answer cell" in cells["flip_intro"].source


def test_training_goes_through_fit_or_restore_with_checkpoints(source, cells):
    training = [c.metadata["nbgrader"]["grade_id"] for c in source.cells
                if "training" in c.metadata.get("tags", [])]
    assert training == ["baseline", "training"]
    assert "fit_or_restore(baseline, BASELINE_WEIGHTS" in cells["baseline"].source
    assert "fit_or_restore(final_model, WEIGHTS" in cells["training"].source
    assert "resumable(" in cells["baseline"].source
    assert "resumable(" in cells["final_model_definition"].source
    assert "BackupAndRestore" in cells["helpers"].source
    assert "checkpoint_dir(" in cells["helpers"].source
    bundle = source.cells[-1].source
    assert bundle.startswith('course.grading.bundle_submission("a2_facial_keypoints"')
    assert "WEIGHTS" in bundle and "BASELINE_WEIGHTS" in bundle


def test_model_score_cell_holds_public_checks_only(cells):
    assert "BEGIN HIDDEN TESTS" not in cells["model_score"].source


# ----------------------------------------------------------------------------- visible tests

@pytest.fixture(scope="module")
def base_namespace(cells):
    """What the test cells expect from the notebook's earlier cells, without training."""
    from course.data import load_facial_keypoints

    namespace: dict = {}
    exec(cells["imports"].source, namespace)
    data = load_facial_keypoints(source="synthetic", limit=60)
    complete = ~np.isnan(data.keypoints).any(axis=1)
    namespace.update(data=data, x_val=data.images[complete][:8], y_val=data.keypoints[complete][:8])
    return namespace


@pytest.fixture(scope="module")
def answered(base_namespace, cells):
    namespace = dict(base_namespace)
    for grade_id in ("flip_horizontal", "masked_mse", "loss_probe", "scheduled_sgd", "schedule",
                     "schedule_probe", "brightness_contrast", "relight_probe", "column_groups",
                     "specialists", "combine_probe"):
        exec(cells[grade_id].source, namespace)
    return namespace


VISIBLE_TESTS = ["test_flip_horizontal", "test_masked_mse", "test_linear_value",
                 "test_schedule_callback", "test_brightness_contrast", "test_build_specialist",
                 "test_combine_specialists"]


@pytest.mark.parametrize("test_id", VISIBLE_TESTS)
def test_solution_passes_the_visible_tests(answered, cells, test_id):
    exec(cells[test_id].source, dict(answered))


def test_visible_contrast_check_catches_one_factor_for_the_batch(answered, cells):
    def one_factor(images, keypoints, rng, max_brightness=0.15, contrast_range=(0.7, 1.3)):
        contrast = rng.uniform(*contrast_range)
        mean = images.mean(axis=(1, 2, 3), keepdims=True)
        shift = rng.uniform(-max_brightness, max_brightness, (len(images), 1, 1, 1))
        return np.clip(contrast * (images - mean) + mean + shift, 0, 1).astype(np.float32), keypoints

    namespace = dict(answered, adjust_brightness_contrast=one_factor)
    exec(cells["relight_probe"].source, namespace)  # its helper must call the wrong answer
    with pytest.raises(AssertionError, match="same contrast factor"):
        exec(cells["test_brightness_contrast"].source, namespace)


def test_model_score_rejects_standardised_or_misshaped_predictions(base_namespace, cells):
    class Predicts:
        def __init__(self, values):
            self.values = values

        def predict(self, images, verbose=0):
            return self.values(len(images))

    exec(cells["model_score"].source, {**base_namespace,
                                       "final_model": Predicts(lambda n: np.full((n, 30), 48.0))})
    for wrong in (lambda n: np.zeros((n, 30)), lambda n: np.full((n, 15, 2), 48.0),
                  lambda n: np.full((n, 30), np.nan)):
        with pytest.raises(AssertionError):
            exec(cells["model_score"].source, {**base_namespace, "final_model": Predicts(wrong)})


# ----------------------------------------------------------------------------- checkpoints

def _resumable(cells, monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_CHECKPOINTS", str(tmp_path / "checkpoints"))
    monkeypatch.setenv("COURSE_QUICK", "0")
    namespace: dict = {}
    exec(cells["imports"].source, namespace)
    helpers = cells["helpers"].source
    exec(helpers[helpers.index("def resumable"):helpers.index("mean_face =")], namespace)
    return namespace["resumable"], namespace["keras"]


def test_an_interrupted_fit_resumes_from_the_checkpoint_folder(cells, monkeypatch, tmp_path):
    resumable, keras = _resumable(cells, monkeypatch, tmp_path)

    class Disconnect(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 2:
                raise KeyboardInterrupt("Colab disconnected")

    def model():
        keras.utils.set_random_seed(0)
        network = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
        network.compile("sgd", "mse")
        return network

    x, y = np.ones((16, 3), np.float32), np.ones((16, 1), np.float32)
    first = model()
    with pytest.raises(KeyboardInterrupt):
        first.fit(x, y, epochs=5, verbose=0, callbacks=[resumable("toy", first, 5), Disconnect()])
    saved = list((tmp_path / "checkpoints").iterdir())
    assert len(saved) == 1 and "toy_5epochs" in saved[0].name
    again = model()
    epochs_run = []
    recorder = keras.callbacks.LambdaCallback(on_epoch_begin=lambda e, logs=None: epochs_run.append(e))
    again.fit(x, y, epochs=5, verbose=0, callbacks=[resumable("toy", again, 5), recorder])
    assert epochs_run == [3, 4], "the second run must continue after the last finished epoch"
    assert not saved[0].exists(), "a finished run deletes its checkpoint"


def test_a_changed_model_does_not_resume_an_old_checkpoint(cells, monkeypatch, tmp_path):
    resumable, keras = _resumable(cells, monkeypatch, tmp_path)
    small = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    large = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4), keras.layers.Dense(1)])
    assert resumable("final", small, 10).backup_dir != resumable("final", large, 10).backup_dir
    assert resumable("final", small, 10).backup_dir != resumable("final", small, 20).backup_dir


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


@pytest.fixture(scope="module")
def generated_release(tmp_path_factory) -> Path:
    course = tmp_path_factory.mktemp("course")
    shutil.copy(COURSE_DIR / "nbgrader_config.py", course / "nbgrader_config.py")
    shutil.copytree(SOURCE.parent, course / "source" / NAME,
                    ignore=shutil.ignore_patterns("*.h5", "*.zip", ".ipynb_checkpoints"))
    bin_dir = Path(sys.executable).parent
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(course)}
    subprocess.run([str(bin_dir / "nbgrader"), "generate_assignment", NAME, "--force"],
                   cwd=course, env=env, check=True, capture_output=True, text=True)
    return course / "release" / NAME / f"{NAME}.ipynb"


def test_release_hides_solutions(generated_release):
    text = generated_release.read_text()
    assert "BEGIN HIDDEN TESTS" not in text and "BEGIN SOLUTION" not in text
    for fragment in SOLUTION_FRAGMENTS:
        assert fragment not in text, fragment
    released = _cells_by_id(nbformat.read(generated_release, as_version=4))
    for grade_id in (*ANSWERS, "final_model_definition"):
        assert "raise NotImplementedError()" in released[grade_id].source, grade_id
    for grade_id in ("report_best_result", "report_architecture", "report_ablation"):
        assert released[grade_id].source == "YOUR ANSWER HERE"
    for grade_id in CASE_SETUP:
        assert "case-setup" in released[grade_id].metadata.get("tags", []), grade_id
    assert "assert flipped_faces.shape" in released["test_flip_horizontal"].source


def test_committed_release_is_current(generated_release):
    committed = nbformat.read(RELEASE, as_version=4)
    fresh = nbformat.read(generated_release, as_version=4)
    assert [c.source for c in committed.cells] == [c.source for c in fresh.cells], (
        "run `course-grader --course assignments release a2_facial_keypoints`"
    )


EXPECTED_BLANK_ERRORS = {
    # cell -> error the blank release raises in it (the student has not written anything yet)
    "test_flip_horizontal": "NotImplementedError",
    "test_masked_mse": "NotImplementedError",
    "test_linear_value": "NotImplementedError",
    "test_schedule_callback": "NotImplementedError",
    "test_brightness_contrast": "NotImplementedError",
    "test_build_specialist": "NotImplementedError",
    "test_combine_specialists": "NotImplementedError",
    "final_model_definition": "NotImplementedError",
    "time_estimate": "NotImplementedError",  # it builds the network of Part 5
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
    NotebookClient(notebook, timeout=300, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = {cell.metadata["nbgrader"]["grade_id"]: output.ename
              for cell in notebook.cells if cell.cell_type == "code"
              for output in cell.outputs if output.output_type == "error"}
    assert errors == EXPECTED_BLANK_ERRORS
