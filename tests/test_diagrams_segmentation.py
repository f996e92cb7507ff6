"""The Unit 5 diagrams draw offline and show the structure they promise."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

import course.diagrams  # noqa: E402


def patches(fig, gid):
    return [patch for ax in fig.axes for patch in ax.patches if patch.get_gid() == gid]


def texts(ax):
    return [text.get_text() for text in ax.texts]


# --------------------------------------------------------------------------- U-Net


@pytest.mark.parametrize("depth", [2, 4])
def test_unet_has_one_box_per_feature_map_and_one_skip_per_level(depth):
    fig = course.diagrams.segmentation.unet(depth=depth, base_filters=16, size=64)
    assert isinstance(fig, Figure)
    fig.canvas.draw()  # renders headless

    assert len(patches(fig, "input")) == len(patches(fig, "output")) == 1
    assert len(patches(fig, "bottleneck")) == 1
    for gid in ("encoder", "decoder", "upsampled", "copy"):
        assert len(patches(fig, gid)) == depth, gid
    for gid in ("pool", "up-conv", "skip"):
        assert len(patches(fig, gid)) == depth, gid
    # One conv block per encoder level and per decoder level, one 1x1 head.
    assert len(patches(fig, "conv-block")) == depth + 1
    assert len(patches(fig, "head")) == 1


def test_unet_boxes_form_a_u_and_label_channels_and_sizes():
    depth = 4
    fig = course.diagrams.segmentation.unet(depth=depth, base_filters=64, size=128)
    (ax,) = fig.axes
    encoder = sorted(patches(fig, "encoder"), key=lambda p: p.get_x())
    decoder = sorted(patches(fig, "decoder"), key=lambda p: p.get_x())
    (bottom,) = patches(fig, "bottleneck")
    # Down on the left, up on the right, the bottleneck lowest and in between.
    assert [p.get_y() for p in encoder] == sorted((p.get_y() for p in encoder), reverse=True)
    assert [p.get_y() for p in decoder] == sorted(p.get_y() for p in decoder)
    assert bottom.get_y() < min(p.get_y() for p in encoder + decoder)
    assert encoder[-1].get_x() < bottom.get_x() < decoder[0].get_x()
    # Each skip joins an encoder box and a copy at the same height.
    for skip in patches(fig, "skip"):
        (x0, y0), (x1, y1) = skip._posA_posB
        assert y0 == pytest.approx(y1) and x1 > x0
    labels = texts(ax)
    assert "1024\n8x8" in labels  # 64 * 2**4 channels at 128 / 2**4 pixels
    assert "64\n128x128" in labels
    assert "3\n128x128" in labels  # the output: one channel per class


def test_unet_rejects_sizes_that_do_not_halve_evenly():
    with pytest.raises(ValueError, match="divisible by 2\\*\\*depth"):
        course.diagrams.segmentation.unet(depth=3, size=100)
    with pytest.raises(ValueError, match="at least 1 level"):
        course.diagrams.segmentation.unet(depth=0)


# --------------------------------------------------------------------------- transposed convolution


def panel_values(ax):
    """The numbers written in a grid panel, as a matrix (cells are unit squares)."""
    cells = {}
    for text in ax.texts:
        x, y = text.get_position()
        cells[(int(y), int(x))] = float(text.get_text())
    rows = 1 + max(i for i, _ in cells)
    cols = 1 + max(j for _, j in cells)
    return np.array([[cells[(i, j)] for j in range(cols)] for i in range(rows)])


def test_the_lecture_example_stamps_four_kernels_and_keeps_a_4x4_window():
    fig = course.diagrams.segmentation.transposed_convolution()
    fig.canvas.draw()
    stamps = patches(fig, "stamp")
    assert len(stamps) == 4  # one per input pixel
    # Input pixel (i, j) puts its stamp's corner at (i*2, j*2) (outlines are inset slightly).
    corners = sorted((round(p.get_y()), round(p.get_x())) for p in stamps)
    assert corners == [(0, 0), (0, 2), (2, 0), (2, 2)]
    assert {(p.get_width() > 2.5, p.get_height() > 2.5) for p in stamps} == {(True, True)}

    full = panel_values(fig.axes[2])
    np.testing.assert_array_equal(full, [[1, 1, 3, 2, 2], [1, 1, 3, 2, 2], [4, 4, 10, 6, 6],
                                         [3, 3, 7, 4, 4], [3, 3, 7, 4, 4]])
    output = panel_values(fig.axes[3])
    # Padding 1 cuts a row and a column at each side; output padding 1 gives the last ones back.
    np.testing.assert_array_equal(output, full[1:5, 1:5])
    (kept,) = patches(fig, "kept")
    assert kept.get_width() == pytest.approx(4.2) and kept.get_x() == pytest.approx(0.9)


def test_stamps_are_not_flipped():
    kernel = np.arange(1.0, 10.0).reshape(3, 3)
    impulse = np.array([[0.0, 0.0], [1.0, 0.0]])
    fig = course.diagrams.segmentation.transposed_convolution(impulse, kernel, stride=2,
                                                              padding=0, output_padding=0)
    full = panel_values(fig.axes[2])
    expected = np.zeros((5, 5))
    expected[2:5, 0:3] = kernel  # the pixel in row 1 stamps the kernel as it is, 2 rows down
    np.testing.assert_array_equal(full, expected)


def test_transposed_convolution_rejects_an_output_padding_of_a_whole_stride():
    with pytest.raises(ValueError, match="output_padding must lie in 0..stride-1"):
        course.diagrams.segmentation.transposed_convolution(stride=2, output_padding=2)
