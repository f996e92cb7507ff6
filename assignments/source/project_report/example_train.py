"""A worked example of the code a project hands in with its report.

It trains two models on MNIST, a dense baseline and a small CNN (one controlled change:
the convolutional front end), and logs every epoch of each with ``keras.callbacks.CSVLogger``
into ``example_<name>_log.csv`` next to this file. The report template's example figures
read those logs with ``read_log``, so re-running the report redraws them without training.

Run it from this folder: ``python example_train.py``. The logs committed with the template
were written by ``COURSE_DATA=synthetic COURSE_QUICK=1 python example_train.py`` (the
course's synthetic digits, a few epochs), so the example also works offline.
"""

from __future__ import annotations

import keras
from keras import layers

from course import data, runtime

EXPERIMENTS = {
    "dense": [layers.Flatten(), layers.Dense(64, activation="relu")],
    "cnn": [layers.Reshape((28, 28, 1)), layers.Conv2D(16, 3, activation="relu"),
            layers.MaxPooling2D(2), layers.Flatten()],
}


def train(name: str, x_train, y_train, epochs: int) -> None:
    runtime.seed_everything(0)  # the same initial draw and batch order for every experiment
    model = keras.Sequential([keras.Input((28, 28)), layers.Rescaling(1 / 255),
                              *EXPERIMENTS[name], layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    # Validation data come from the training split: the test split is kept for the end.
    model.fit(x_train, y_train, validation_split=0.2, epochs=epochs, batch_size=64, verbose=2,
              callbacks=[keras.callbacks.CSVLogger(f"example_{name}_log.csv")])


def main() -> None:
    runtime.setup(seed=0, drive=False)
    (x_train, y_train), _ = data.load_mnist(limit=runtime.pick(full=10_000, quick_value=2_000))
    for name in EXPERIMENTS:
        train(name, x_train, y_train, epochs=runtime.pick(full=10, quick_value=4))


if __name__ == "__main__":
    main()
