"""Tests for course.plots: each figure has the expected axes and artists; bad input raises."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from matplotlib.collections import PathCollection
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure

from course import plots

RED = to_rgba("red")


def visible_axes(fig):
    return [ax for ax in fig.axes if ax.get_visible()]


def render(fig):
    """Draw the figure off-screen, so layout or drawing errors surface in the test."""
    fig.canvas.draw()
    return fig


# --------------------------------------------------------------------------- image_grid


def test_image_grid_layout_and_red_wrong_predictions():
    images = np.random.default_rng(0).integers(0, 256, size=(5, 8, 8), dtype=np.uint8)
    fig = render(
        plots.image_grid(
            images,
            labels=[0, 1, 2, 1, 0],
            predictions=[0, 2, 2, 1, 1],
            class_names=["cat", "dog", "frog"],
            ncols=3,
            title="pets",
        )
    )
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 6
    assert len(visible_axes(fig)) == 5
    titles = [ax.title for ax in fig.axes[:5]]
    assert titles[1].get_text() == "true: dog\npred: frog"
    wrong = [to_rgba(t.get_color()) == RED for t in titles]
    assert wrong == [False, True, False, False, True]
    assert fig.get_suptitle() == "pets"


@pytest.mark.parametrize(
    "images",
    [
        np.zeros((3, 8, 8, 1), np.float32),
        np.random.default_rng(1).random((3, 8, 8, 3)).astype(np.float32),
        np.random.default_rng(2).normal(size=(3, 8, 8, 3)),  # outside [0, 1]: stretched
    ],
)
def test_image_grid_accepts_grayscale_channel_and_rgb(images):
    fig = render(plots.image_grid(images))
    assert len(fig.axes) == 3
    assert all(len(ax.images) == 1 for ax in fig.axes)
    assert all(ax.get_title() == "" for ax in fig.axes)


def test_image_grid_predictions_only_are_not_red():
    fig = plots.image_grid(np.zeros((2, 4, 4)), predictions=[3, 4])
    assert fig.axes[0].get_title() == "pred: 3"
    assert to_rgba(fig.axes[0].title.get_color()) != RED


def test_image_grid_bad_input():
    images = np.zeros((4, 8, 8))
    with pytest.raises(
        ValueError, match=r"labels must have one entry per image: expected shape \(4"
    ):
        plots.image_grid(images, labels=[0, 1, 2])
    with pytest.raises(ValueError, match="predictions must have one entry per image"):
        plots.image_grid(images, labels=[0, 1, 2, 3], predictions=np.zeros((4, 10)))
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        plots.image_grid(np.zeros((8, 8)))
    with pytest.raises(ValueError, match="class_names"):
        plots.image_grid(images, labels=[0, 1, 2, 5], class_names=["a", "b", "c"])


# --------------------------------------------------------------------------- curves


def test_training_curves_from_dict_pairs_val_twin():
    history = {"loss": [1.0, 0.5, 0.3], "val_loss": [1.1, 0.7, 0.6], "accuracy": [0.5, 0.7, 0.8]}
    fig = render(plots.training_curves(history))
    assert len(fig.axes) == 2
    loss_ax, acc_ax = fig.axes
    assert loss_ax.get_title() == "loss" and len(loss_ax.lines) == 2
    assert acc_ax.get_title() == "accuracy" and len(acc_ax.lines) == 1
    np.testing.assert_array_equal(loss_ax.lines[1].get_ydata(), [1.1, 0.7, 0.6])
    np.testing.assert_array_equal(loss_ax.lines[0].get_xdata(), [1, 2, 3])


def test_training_curves_from_history_object_and_selection():
    class FakeHistory:  # the one attribute of keras.callbacks.History that is used
        history = {"loss": [1.0, 0.5], "val_loss": [1.2, 0.9], "mae": [3.0, 2.0]}

    fig = plots.training_curves(FakeHistory(), metrics=["mae"])
    assert [ax.get_title() for ax in fig.axes] == ["mae"]


def test_training_curves_bad_input():
    with pytest.raises(ValueError, match=r"history has no \['acc'\]; it logged \['loss'\]"):
        plots.training_curves({"loss": [1.0]}, metrics=["acc"])
    with pytest.raises(ValueError, match="keras History or a non-empty dict"):
        plots.training_curves([1.0, 0.5])


def test_curves_one_line_per_series():
    fig = render(
        plots.curves(
            {"lr=0.1": [3, 2, 1], "lr=0.01": [3, 2.9, 2.8]}, logy=True, title="learning rates"
        )
    )
    (ax,) = fig.axes
    assert len(ax.lines) == 2
    assert ax.get_yscale() == "log"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["lr=0.1", "lr=0.01"]
    with pytest.raises(ValueError, match="empty"):
        plots.curves({})
    with pytest.raises(ValueError, match=r"series\['a'\]"):
        plots.curves({"a": [[1, 2], [3, 4]]})


# --------------------------------------------------------------------------- keypoints


def test_keypoints_draws_true_and_pred_skipping_nan():
    images = np.zeros((3, 96, 96, 1), np.float32)
    true = np.full((3, 30), 48.0)
    true[0, :4] = np.nan
    pred = np.full((3, 30), 50.0)
    fig = render(plots.keypoints(images, true=true, pred=pred, ncols=2))
    assert len(fig.axes) == 4 and len(visible_axes(fig)) == 3
    first = fig.axes[0]
    scatters = [c for c in first.collections if isinstance(c, PathCollection)]
    assert len(scatters) == 2
    offsets = np.ma.compress_rows(np.ma.masked_invalid(scatters[0].get_offsets()))
    assert len(offsets) == 13  # 15 keypoints, 2 missing
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["true", "predicted"]


def test_keypoints_bad_input():
    images = np.zeros((2, 96, 96, 1))
    with pytest.raises(ValueError, match="true must have one entry per image"):
        plots.keypoints(images, true=np.zeros((3, 30)))
    with pytest.raises(ValueError, match="pred must have one entry per image"):
        plots.keypoints(images, pred=np.zeros(30))
    with pytest.raises(ValueError, match="column pairs"):
        plots.keypoints(images, true=np.zeros((2, 29)))


# --------------------------------------------------------------------------- segmentation


def test_segmentation_columns_overlays_and_legend():
    rng = np.random.default_rng(3)
    images = rng.random((2, 16, 16, 3)).astype(np.float32)
    masks = rng.integers(0, 3, size=(2, 16, 16), dtype=np.uint8)
    scores = rng.random((2, 16, 16, 3))
    fig = render(plots.segmentation(images, masks, scores, class_names=["pet", "bg", "border"]))
    assert len(fig.axes) == 6
    assert [ax.get_title() for ax in fig.axes[:3]] == ["image", "true mask", "predicted mask"]
    assert [len(ax.images) for ax in fig.axes[:3]] == [1, 2, 2]
    np.testing.assert_array_equal(fig.axes[5].images[1].get_array(), scores[1].argmax(axis=-1))
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["pet", "bg", "border"]


def test_segmentation_without_predictions_fixed_color_range():
    masks = np.zeros((1, 8, 8, 1), np.uint8)  # only class 0 present
    fig = plots.segmentation(np.zeros((1, 8, 8)), masks, class_names=["pet", "bg", "border"])
    assert len(fig.axes) == 2
    # The color scale spans all 3 classes even though only class 0 appears.
    assert fig.axes[1].images[1].get_clim() == (-0.5, 2.5)


def test_segmentation_bad_input():
    images = np.zeros((2, 8, 8, 3))
    with pytest.raises(
        ValueError, match=r"masks must be label maps \(N, H, W\) with one per image"
    ):
        plots.segmentation(images, np.zeros((3, 8, 8), int))
    with pytest.raises(ValueError, match="predictions must be label maps"):
        plots.segmentation(images, np.zeros((2, 8, 8), int), np.zeros((1, 8, 8), int))
    with pytest.raises(ValueError, match="masks are"):
        plots.segmentation(images, np.zeros((2, 4, 4), int))
    with pytest.raises(ValueError, match="class_names has 2 names"):
        plots.segmentation(images, np.full((2, 8, 8), 2), class_names=["a", "b"])


# --------------------------------------------------------------------------- CNN internals


def test_conv_filters_grayscale_symmetric_scale():
    kernel = np.random.default_rng(4).normal(size=(3, 3, 2, 5)).astype(np.float32)
    kernel[0, 0, 0, 0] = 4.0  # the largest magnitude; the scale must still reach -4
    fig = render(plots.conv_filters(kernel, ncols=4))
    filter_axes = [ax for ax in fig.axes if ax.images and ax.get_label() != "<colorbar>"]
    assert len(filter_axes) == 5
    assert len(fig.axes) == 8 + 1  # 2x4 grid (3 hidden) + colorbar
    assert filter_axes[0].images[0].get_clim() == (-4.0, 4.0)
    np.testing.assert_array_equal(filter_axes[2].images[0].get_array(), kernel[:, :, 0, 2])


def test_conv_filters_rgb():
    kernel = np.random.default_rng(5).normal(size=(5, 5, 3, 4))
    fig = render(plots.conv_filters(kernel))
    assert len(fig.axes) == 4
    shown = np.asarray(fig.axes[0].images[0].get_array())
    assert shown.shape == (5, 5, 3)
    assert shown.min() >= 0.0 and shown.max() <= 1.0


def test_conv_filters_bad_input():
    with pytest.raises(ValueError, match=r"get_weights\(\) returns \[kernel, bias\]"):
        plots.conv_filters(np.zeros((3, 3, 8)))


def test_feature_maps_limits_maps():
    activations = np.random.default_rng(6).random((1, 6, 6, 20))
    fig = render(plots.feature_maps(activations, max_maps=10, ncols=4))
    assert len(visible_axes(fig)) == 10 and len(fig.axes) == 12
    np.testing.assert_allclose(fig.axes[9].images[0].get_array(), activations[0, :, :, 9])
    assert len(plots.feature_maps(activations[0, :, :, :3]).axes) == 3


def test_feature_maps_bad_input():
    with pytest.raises(ValueError, match="hold 2 images"):
        plots.feature_maps(np.zeros((2, 4, 4, 3)))
    with pytest.raises(ValueError, match=r"\(H, W, C\)"):
        plots.feature_maps(np.zeros((4, 4)))


# --------------------------------------------------------------------------- confusion matrix


def test_confusion_matrix_annotations_and_normalize():
    cm = np.array([[3, 1], [0, 4]])
    fig = render(plots.confusion_matrix(cm, class_names=["cat", "dog"]))
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.texts] == ["3", "1", "0", "4"]
    assert ax.get_xlabel() == "predicted" and ax.get_ylabel() == "true"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["cat", "dog"]
    normalized = plots.confusion_matrix(cm, normalize=True).axes[0]
    assert [t.get_text() for t in normalized.texts] == ["0.75", "0.25", "0.00", "1.00"]


def test_confusion_matrix_bad_input():
    with pytest.raises(ValueError, match="square"):
        plots.confusion_matrix(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="class_names has 3 names for 2 classes"):
        plots.confusion_matrix(np.eye(2), class_names=["a", "b", "c"])


def test_figures_are_not_left_open_in_pyplot():
    from matplotlib import pyplot as plt

    before = plt.get_fignums()
    plots.image_grid(np.zeros((2, 4, 4)))
    plots.curves({"a": [1, 2]})
    assert plt.get_fignums() == before


def test_confusion_matrix_text_contrasts_with_cell():
    # Normalised: 0.6 lies in the dark half of the 0..1 scale, 0.4 in the light half.
    ax = plots.confusion_matrix(np.array([[6, 4], [4, 6]]), normalize=True).axes[0]
    colors = [to_rgba(t.get_color()) for t in ax.texts]
    assert colors == [to_rgba(c) for c in ("white", "black", "black", "white")]
