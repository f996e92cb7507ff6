"""course.diagrams.networks draws the promised neurons, connections and decision regions."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from matplotlib.collections import LineCollection, PathCollection
from matplotlib.figure import Figure
from matplotlib.patches import Circle

from course.diagrams import networks


def neurons(fig):
    return [patch for patch in fig.axes[0].patches if isinstance(patch, Circle)]


def connections(fig):
    (collection,) = [c for c in fig.axes[0].collections if isinstance(c, LineCollection)]
    return collection.get_segments()


def test_small_mlp_draws_every_neuron_and_every_connection():
    fig = networks.mlp([3, 4, 2])
    fig.canvas.draw()
    assert isinstance(fig, Figure)
    assert len(neurons(fig)) == 3 + 4 + 2
    assert len(connections(fig)) == 3 * 4 + 4 * 2
    captions = [text.get_text() for text in fig.axes[0].texts]
    assert "hidden 1\n4 units" in captions


def test_wide_layers_are_cut_to_max_shown_with_their_true_size_written():
    fig = networks.mlp([784, 800, 10], max_shown=6)
    fig.canvas.draw()
    assert len(neurons(fig)) == 6 * 3
    assert len(connections(fig)) == 6 * 6 * 2
    texts = [text.get_text() for text in fig.axes[0].texts]
    assert texts.count("⋮") == 3
    assert "input\n784 units" in texts and "output\n10 units" in texts


def test_connections_join_neighbouring_layers_only():
    fig = networks.mlp([2, 3, 2, 1])
    xs = {round(float(x), 6) for segment in connections(fig) for x, _ in segment}
    assert len(connections(fig)) == 2 * 3 + 3 * 2 + 2 * 1
    for start, end in connections(fig):
        assert end[0] - start[0] == pytest.approx(networks.LAYER_SPACING)
    assert len(xs) == 4


@pytest.mark.parametrize(("sizes", "names"), [([5], None), ([3, 0, 2], None), ([3, 2], ["a"])])
def test_mlp_rejects_bad_layers(sizes, names):
    with pytest.raises(ValueError):
        networks.mlp(sizes, names=names)


def half_plane_data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 2))
    return X, (X[:, 0] > 0).astype(int)


def test_decision_boundary_one_panel_per_model_with_accuracy_in_the_title():
    X, y = half_plane_data()
    models = {
        "right rule": lambda p: np.column_stack([-p[:, 0], p[:, 0]]),  # scores (N, 2)
        "always 0": lambda p: np.zeros(len(p), dtype=int),  # labels
        "probability": lambda p: 1 / (1 + np.exp(-10 * p[:, 0])),  # P(class 1)
    }
    fig = networks.decision_boundary(models, X, y, resolution=50)
    fig.canvas.draw()
    assert len(fig.axes) == 3
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[0] == "right rule: 100.0 % correct"
    assert titles[1] == f"always 0: {100 * np.mean(y == 0):.1f} % correct"
    assert titles[2] == "probability: 100.0 % correct"
    for ax in fig.axes:
        (points,) = [c for c in ax.collections if isinstance(c, PathCollection)]
        assert len(points.get_offsets()) == len(X)


def test_decision_boundary_regions_follow_the_model():
    X, y = half_plane_data()
    fig = networks.decision_boundary({"sign": lambda p: (p[:, 0] > 0).astype(int)}, X, y,
                                     resolution=40)
    ax = fig.axes[0]
    contour = next(c for c in ax.collections if not isinstance(c, PathCollection))
    # Two filled levels, one per class: the plane is split in two regions.
    assert len(contour.get_paths()) == 2


def test_decision_boundary_rejects_points_that_are_not_2d():
    with pytest.raises(ValueError, match=r"shape \(N, 2\)"):
        networks.decision_boundary({"m": lambda p: p[:, 0]}, np.zeros((5, 3)), np.zeros(5))
    with pytest.raises(ValueError, match="labels"):
        networks.decision_boundary({"m": lambda p: p[:, 0]}, np.zeros((5, 2)), np.zeros(4))
