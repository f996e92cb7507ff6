"""A reference horizontal flip for facial keypoints, used only by the tests.

It lives here, not in ``course.data``, because writing it is part of
assignment A2.
"""

import numpy as np

from course.data import FLIP_PAIRS


def flip_horizontal(images: np.ndarray, keypoints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mirror faces left-right: x -> W - 1 - x and every left/right pair swapped."""
    width = images.shape[2]
    flipped = np.array(keypoints, dtype=np.float32, copy=True)
    flipped[:, 0::2] = width - 1 - flipped[:, 0::2]
    points = flipped.reshape(len(flipped), -1, 2)
    for left, right in FLIP_PAIRS:
        points[:, [left, right]] = points[:, [right, left]]
    return images[:, :, ::-1].copy(), points.reshape(len(flipped), -1)
