"""A real photograph for the convolution and filter demos."""

from __future__ import annotations

import numpy as np


def sample_image() -> np.ndarray:
    """Grace Hopper's portrait shipped with matplotlib, grayscale float32 in [0, 1].

    Shape ``(600, 512)``. It needs no download, so the kernel demos work
    offline and in synthetic mode too.
    """
    import matplotlib.cbook
    import matplotlib.image

    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as file:
        rgb = matplotlib.image.imread(file, format="jpg").astype(np.float32) / 255.0
    luminance = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R BT.601 weights
    return np.clip(rgb[..., :3] @ luminance, 0.0, 1.0)
