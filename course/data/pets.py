"""Oxford-IIIT Pet segmentation (real via TensorFlow Datasets, or a synthetic twin).

TFDS splits the 7349 photos into ``train`` (3680) and ``test`` (3669). Students
get the ``train`` split only, divided into their own training and test parts by
a fixed rule on each photo's file name; the official ``test`` split is held
back for grading and never returned here.
"""

from __future__ import annotations

import hashlib

import numpy as np

from course import runtime
from course.data import synthetic
from course.data._common import OFFLINE_HINT, DatasetNotFound, check_limit, take

# Trimap classes after shifting the dataset's labels 1, 2, 3 down to 0, 1, 2.
PET_CLASSES = ("pet", "background", "border")
TRIMAP_VALUES = (1, 2, 3)
# One photo in eight of TFDS's train split forms the students' test part.
STUDENT_TEST_EVERY = 8

Split = tuple[np.ndarray, np.ndarray]


def load_oxford_pets(
    source: str | None = None, size: int = 128, limit: int | None = None
) -> tuple[Split, Split]:
    """Pet photos with trimaps: ``((x_train, m_train), (x_test, m_test))``.

    ``x`` float32 ``(N, size, size, 3)`` in [0, 1] (bilinear resize) and ``m``
    uint8 ``(N, size, size)`` indexing :data:`PET_CLASSES` (nearest-neighbour
    resize, so no invented in-between labels). The real data comes from TFDS's
    ``train`` split (3680 photos, about 800 MB with the test split, downloaded
    once into ``<cache>/tensorflow_datasets``): about 3220 for training and 460
    for testing, chosen by :func:`in_student_test_part`. TFDS's ``test`` split is
    kept for grading.
    """
    limit = check_limit(limit)
    if runtime.data_source(source) == "synthetic":
        return synthetic.scenes("train", size, limit), synthetic.scenes("test", size, limit)
    train = load_tfds_split("train", size, limit, keep=lambda name: not in_student_test_part(name))
    test = load_tfds_split("train", size, limit, keep=in_student_test_part)
    return train, test


def in_student_test_part(file_name: str) -> bool:
    """Whether a photo of TFDS's train split belongs to the students' test part (a fixed rule)."""
    digest = hashlib.sha256(file_name.encode()).digest()
    return digest[0] % STUDENT_TEST_EVERY == 0


# What a student runs when this runtime's TensorFlow Datasets cannot be imported.
TFDS_FIX = '%pip install -q "tensorflow-metadata<1.17"'


def import_tfds():
    """``tensorflow_datasets``, or an error that says why it cannot be imported and the fix.

    TFDS imports its dataset modules lazily and keeps going when one fails, so a broken
    dependency shows up later as a missing ``tfds.builder``. The known case is Colab's own
    package list (colab/pip-freeze.txt): tensorflow-metadata 1.21.0 is generated for
    protobuf 6.31 but the runtime has protobuf 5.29.6 (tensorflow/metadata#68)."""
    import tensorflow_datasets as tfds

    if hasattr(tfds, "builder"):
        return tfds
    try:
        import tensorflow_metadata.proto  # noqa: F401  (raises the real error, if it is this)
        cause = "its module `tensorflow_datasets.builder` did not load"
    except Exception as err:  # protobuf raises its own VersionError type
        cause = f"{type(err).__name__}: {err}"
    raise ImportError(
        f"TensorFlow Datasets cannot be imported in this runtime ({cause}). On Colab and "
        "wherever tensorflow-metadata is newer than the installed protobuf allows, run "
        f"`{TFDS_FIX}` once, restart the runtime (Runtime > Restart session) and run the "
        "notebook again; nothing else changes.")


def _builder():
    """The prepared TFDS builder of ``oxford_iiit_pet`` (downloads on first use)."""
    tfds = import_tfds()

    data_dir = runtime.cache_dir() / "tensorflow_datasets"
    try:
        builder = tfds.builder("oxford_iiit_pet", data_dir=str(data_dir))
        builder.download_and_prepare()
    except Exception as err:  # TFDS surfaces network and disk problems as many error types
        raise DatasetNotFound(
            f"Could not download or prepare the Oxford-IIIT Pet dataset with TensorFlow Datasets "
            f"into {data_dir}: {err}. Check the network connection and free disk space (about "
            "1.5 GB); a half-finished download is resumed on the next call. Set COURSE_CACHE "
            f"to keep the data somewhere else (e.g. Google Drive on Colab). {OFFLINE_HINT}"
        ) from err
    return builder


def load_tfds_split(split: str, size: int, limit: int | None, keep=None,
                    with_names: bool = False):
    """One TFDS split, resized: ``(images, masks)`` (and the file names with ``with_names``).

    ``keep(file_name)`` chooses photos; ``limit`` counts the kept ones. A trimap
    value outside 1, 2, 3 means the data is not Oxford-IIIT Pet as TFDS
    prepares it, and is refused rather than passed on as a class.
    """
    import tensorflow as tf

    def resize(example):
        image = tf.image.resize(tf.cast(example["image"], tf.float32) / 255.0, (size, size))
        mask = tf.image.resize(example["segmentation_mask"], (size, size), method="nearest")
        return tf.clip_by_value(image, 0.0, 1.0), mask[..., 0], example["file_name"]

    dataset = _builder().as_dataset(split=split)
    batches = dataset.map(resize, num_parallel_calls=tf.data.AUTOTUNE).batch(256)
    images, masks, names = [], [], []
    for image_batch, mask_batch, name_batch in batches.as_numpy_iterator():
        batch_names = [n.decode() for n in name_batch]
        chosen = np.array([keep is None or keep(n) for n in batch_names], dtype=bool)
        unexpected = sorted(set(np.unique(mask_batch[chosen]).tolist()) - set(TRIMAP_VALUES))
        if unexpected:
            raise ValueError(
                f"Oxford-IIIT Pet trimaps hold the values {TRIMAP_VALUES} (pet, background, "
                f"border), but this data has {unexpected}: it is not the dataset as TFDS "
                "prepares it. Delete <cache>/tensorflow_datasets/oxford_iiit_pet and load again.")
        images.append(image_batch[chosen])
        masks.append((mask_batch[chosen] - 1).astype(np.uint8))
        names.extend(n for n, c in zip(batch_names, chosen, strict=True) if c)
        if limit is not None and len(names) >= limit:
            break
    if not names:
        raise DatasetNotFound(f"the {split} split of Oxford-IIIT Pet holds no matching photo")
    result = take(limit, np.concatenate(images), np.concatenate(masks)) + (names[:limit],)
    return result if with_names else result[:2]
