"""The Unit 2 diagrams draw offline and show the structure they promise."""

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

import course.diagrams  # noqa: E402


def boxes(fig, gid):
    return [patch for ax in fig.axes for patch in ax.patches if patch.get_gid() == gid]


@pytest.mark.parametrize("num_folds", [3, 5])
def test_kfold_diagram_holds_out_each_fold_once(num_folds):
    fig = course.diagrams.classifiers.kfold_cross_validation(num_folds)
    assert isinstance(fig, Figure)
    fig.canvas.draw()  # renders headless

    held_out = boxes(fig, "validation-fold")
    assert len(held_out) == num_folds
    assert len(boxes(fig, "train-fold")) == num_folds * (num_folds - 1)
    assert len(boxes(fig, "test-set")) == 1
    # One held-out fold per round (row), each at a different position (column).
    assert len({box.get_y() for box in held_out}) == num_folds
    assert len({box.get_x() for box in held_out}) == num_folds
    # The test set lies outside the folds, to the right of all of them.
    (test,) = boxes(fig, "test-set")
    assert test.get_x() > max(box.get_x() + box.get_width() for box in boxes(fig, "train-fold"))


def test_kfold_diagram_needs_two_folds():
    with pytest.raises(ValueError, match="at least 2 folds"):
        course.diagrams.classifiers.kfold_cross_validation(1)
