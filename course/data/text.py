"""IMDB movie reviews for 1-D convolutions over text (real via Keras, or a synthetic twin).

Both sources give reviews as fixed-length rows of word ids, the format
``keras.datasets.imdb`` uses: id 0 pads, 1 starts a review, 2 stands for a word
outside the ``num_words`` most frequent ones, and real words start at 3.
"""

from __future__ import annotations

import numpy as np

from course import runtime
from course.data import synthetic
from course.data._common import OFFLINE_HINT, DatasetNotFound, check_limit, take

Split = tuple[np.ndarray, np.ndarray]


def load_imdb(source: str | None = None, limit: int | None = None, num_words: int = 10_000,
              length: int = 200) -> tuple[Split, Split]:
    """Sentiment of movie reviews: ``((x_train, y_train), (x_test, y_test))``.

    ``x`` int32 ``(N, length)``: word ids, cut or zero-padded at the front
    (``keras.utils.pad_sequences``), ``y`` uint8 ``(N,)`` with 1 = positive.
    The real data holds 25 000 reviews per split (Keras downloads about 17 MB
    once). The synthetic twin writes reviews in which the sentiment lives in
    short phrases whose words also occur with the other sentiment, so word
    order matters, as it does for "not good".
    """
    limit = check_limit(limit)
    if num_words < synthetic.REVIEW_MIN_WORDS:
        raise ValueError(f"num_words must be at least {synthetic.REVIEW_MIN_WORDS}")
    if runtime.data_source(source) == "synthetic":
        return (synthetic.reviews("train", num_words, length, limit),
                synthetic.reviews("test", num_words, length, limit))
    import keras

    try:
        (x_train, y_train), (x_test, y_test) = keras.datasets.imdb.load_data(num_words=num_words)
    except Exception as err:  # Keras reports failed downloads as a bare Exception
        raise DatasetNotFound(
            f"Could not load IMDB with keras.datasets.imdb.load_data(): {err}. Keras downloads "
            "it once (about 17 MB) into ~/.keras/datasets; check the network connection, or "
            f"delete a half-downloaded imdb.npz there and retry. {OFFLINE_HINT}"
        ) from err

    def rows(sequences):
        return keras.utils.pad_sequences(sequences, maxlen=length).astype(np.int32)

    x_train, y_train = take(limit, x_train, y_train)
    x_test, y_test = take(limit, x_test, y_test)
    return ((rows(x_train), np.asarray(y_train, dtype=np.uint8)),
            (rows(x_test), np.asarray(y_test, dtype=np.uint8)))
