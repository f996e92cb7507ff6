"""course.diagrams.convolution draws the cells, windows and arrows it promises, with right numbers."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from matplotlib.figure import Figure

from course.diagrams import convolution


def with_gid(fig, gid):
    return [patch for patch in fig.axes[0].patches if patch.get_gid() == gid]


def test_default_figure_has_padded_channels_windows_and_a_traced_output():
    fig = convolution.strided_convolution()  # 3 channels 5x5, P = 1, 3x3 filter, S = 2
    fig.canvas.draw()
    assert isinstance(fig, Figure)
    assert len(with_gid(fig, "input-cell")) == 3 * 5 * 5
    assert len(with_gid(fig, "padding-cell")) == 3 * (7 * 7 - 5 * 5)
    assert len(with_gid(fig, "kernel-cell")) == 3 * 3 * 3
    assert len(with_gid(fig, "output-cell")) == 3 * 3  # (5 - 3 + 2) / 2 + 1 = 3
    assert len(with_gid(fig, "window")) == 3
    assert len(with_gid(fig, "output-highlight")) == 1
    assert len(with_gid(fig, "arrow")) == 2 * 3 + 1


def test_windows_sit_where_the_stride_puts_them():
    fig = convolution.strided_convolution(size=6, channels=2, kernel=2, stride=2, padding=0,
                                          position=(2, 1))
    for window in with_gid(fig, "window"):
        assert window.get_x() == 1 * 2
        assert window.get_width() == window.get_height() == 2
    tops = sorted(window.get_y() for window in with_gid(fig, "window"))
    assert tops[1] - tops[0] == 6 + 1.5  # one channel further down: its height plus the gap
    assert tops[0] == 2 * 2


def test_printed_output_matches_tensorflow():
    tf = pytest.importorskip("tensorflow")
    rng = np.random.default_rng(3)
    image = rng.normal(size=(7, 7, 3))
    kernel = rng.normal(size=(3, 3, 3))
    ours = convolution.convolution_output(image, kernel, bias=0.5, stride=2, padding=1)
    theirs = tf.nn.conv2d(image[None], kernel[..., None], strides=2,
                          padding=[[0, 0], [1, 1], [1, 1], [0, 0]])[0, :, :, 0] + 0.5
    np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-10)


def test_title_states_the_traced_value():
    fig = convolution.strided_convolution(position=(0, 2), seed=4)
    rng = np.random.default_rng(4)
    image = rng.integers(0, 4, size=(5, 5, 3))
    kernel = rng.integers(-1, 2, size=(3, 3, 3))
    value = convolution.convolution_output(image, kernel, 1.0, 2, 1)[0, 2]
    assert fig.axes[0].get_title().endswith(f"+ bias = {value:g}")


@pytest.mark.parametrize(
    "kwargs",
    [dict(size=6, kernel=3, stride=2, padding=0),  # (6 - 3) / 2 is not whole
     dict(size=2, kernel=5, stride=1, padding=1),  # filter larger than the padded input
     dict(position=(3, 0))],  # outside the 3 x 3 output
)
def test_strided_convolution_rejects_sizes_that_do_not_tile(kwargs):
    with pytest.raises(ValueError):
        convolution.strided_convolution(**kwargs)


def test_identity_residual_block():
    fig = convolution.residual_block()
    fig.canvas.draw()
    assert len(with_gid(fig, "layer")) == 6  # conv, BN, ReLU, conv, BN, then ReLU after the add
    assert len(with_gid(fig, "add")) == 1
    assert len(with_gid(fig, "arrow")) == 8 + 1
    texts = [text.get_text() for text in fig.axes[0].texts]
    assert "identity shortcut: y = ReLU(F(x) + x)" in texts
    assert "3x3 conv\n64, stride 1" in texts


def test_projection_residual_block_has_a_1x1_convolution_on_the_shortcut():
    fig = convolution.residual_block(projection=True, filters=128)
    fig.canvas.draw()
    assert len(with_gid(fig, "layer")) == 6 + 2
    assert len(with_gid(fig, "arrow")) == 8 + 3
    texts = [text.get_text() for text in fig.axes[0].texts]
    assert "1x1 conv\n128, stride 2" in texts
    assert "3x3 conv\n128, stride 2" in texts
    assert any(text.startswith("projection shortcut") for text in texts)
