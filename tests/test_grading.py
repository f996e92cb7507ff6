"""The student-side grading helpers and the tier formula shared with the grader."""

import math
import zipfile

import keras
import numpy as np
import pytest

from course import grading

PIXEL_TIERS = [(1.4, 1.0), (1.5, 0.9), (1.6, 0.8)]
ACCURACY_TIERS = [(0.99, 1.0), (0.985, 0.8), (0.98, 0.6)]


@pytest.mark.parametrize(
    ("score", "fraction"),
    [(1.2, 1.0), (1.4, 1.0), (1.45, 0.9), (1.5, 0.9), (1.6, 0.8),
     (2.3, 0.4), (3.0, 0.0), (5.0, 0.0)],
)
def test_lower_is_better_tiers_and_linear_fall(score, fraction):
    # Past 1.6 px the credit falls linearly from 0.8 to 0 at the 3.0 px baseline.
    assert grading.tier_fraction(score, PIXEL_TIERS, zero_at=3.0) == pytest.approx(fraction)


@pytest.mark.parametrize(
    ("score", "fraction"),
    [(0.995, 1.0), (0.99, 1.0), (0.987, 0.8), (0.98, 0.6), (0.94, 0.3), (0.90, 0.0), (0.1, 0.0)],
)
def test_higher_is_better_tiers(score, fraction):
    assert grading.tier_fraction(score, ACCURACY_TIERS, zero_at=0.90) == pytest.approx(fraction)


def test_non_finite_scores_earn_nothing():
    for bad in (math.nan, math.inf):
        assert grading.tier_fraction(bad, PIXEL_TIERS, zero_at=3.0) == 0.0
    assert grading.tier_fraction(-math.inf, ACCURACY_TIERS, zero_at=0.9) == 0.0


def test_empty_tiers_rejected():
    with pytest.raises(ValueError):
        grading.tier_fraction(1.0, [], zero_at=3.0)


def _tiny_model():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    return model


def test_fit_or_restore_trains_and_saves_outside_the_grader(tmp_path, monkeypatch):
    monkeypatch.delenv("COURSE_GRADING", raising=False)
    model = _tiny_model()
    weights = tmp_path / "m.weights.h5"
    calls = []
    result = grading.fit_or_restore(model, weights, lambda: calls.append(1) or "history")
    assert result == "history" and calls == [1] and weights.exists()


def test_fit_or_restore_restores_in_the_grader_without_training(tmp_path, monkeypatch):
    trained = _tiny_model()
    weights = tmp_path / "m.weights.h5"
    trained.save_weights(weights)
    monkeypatch.setenv("COURSE_GRADING", "1")
    fresh = _tiny_model()

    def must_not_train():
        raise AssertionError("the grader must not re-train")

    assert grading.fit_or_restore(fresh, weights, must_not_train) is None
    x = np.ones((1, 3), "float32")
    np.testing.assert_allclose(fresh.predict(x, verbose=0), trained.predict(x, verbose=0))


def test_fit_or_restore_retrains_when_asked(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_GRADING", "1")
    monkeypatch.setenv("COURSE_GRADING_RETRAIN", "1")
    assert grading.fit_or_restore(_tiny_model(), tmp_path / "w.weights.h5", lambda: "h") == "h"


def test_missing_weights_in_the_grader_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_GRADING", "1")
    with pytest.raises(grading.MissingWeights, match="not in the submission"):
        grading.fit_or_restore(_tiny_model(), tmp_path / "absent.weights.h5", lambda: None)


def test_bundle_submission_packs_notebook_and_weights(tmp_path):
    (tmp_path / "a9.ipynb").write_text("{}")
    (tmp_path / "a9.weights.h5").write_bytes(b"w")
    archive = grading.bundle_submission("a9", tmp_path / "a9.ipynb", [tmp_path / "a9.weights.h5"],
                                        out_dir=tmp_path)
    assert archive.name == "a9_submission.zip"
    assert sorted(zipfile.ZipFile(archive).namelist()) == ["a9.ipynb", "a9.weights.h5"]


def test_bundle_submission_names_missing_files_and_writes_nothing(tmp_path):
    (tmp_path / "a9.ipynb").write_text("{}")
    with pytest.raises(FileNotFoundError, match="a9.weights.h5"):
        grading.bundle_submission("a9", tmp_path / "a9.ipynb", [tmp_path / "a9.weights.h5"],
                                  out_dir=tmp_path)
    assert not (tmp_path / "a9_submission.zip").exists()
