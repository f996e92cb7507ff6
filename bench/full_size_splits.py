"""Grading splits of the real sizes from the synthetic twins, for bench/grading_memory.py.

Oxford-IIIT Pet's test split holds 3669 photos and an A2 term holds back 500 faces;
the synthetic hidden splits are smaller, so their examples are repeated up to those
sizes (memory is what is measured here, not accuracy).
"""

import numpy as np

from autograder import splits
from autograder.splits import GradingSplit

FULL_SIZES = {"oxford_pets": 3669, "facial_keypoints": 500}


def load_grading_split(dataset, source=None, limit=None, hidden_dir=None):
    base = splits.load_grading_split(dataset, source="synthetic", hidden_dir=hidden_dir)
    size = FULL_SIZES.get(dataset, len(base.labels))
    index = np.arange(size) % len(base.labels)
    return GradingSplit(base.images[index], base.labels[index],
                        f"{base.description}, repeated to {size} examples")


def training_targets(dataset, source=None, limit=None):
    return splits.training_targets(dataset, source="synthetic", limit=limit)
