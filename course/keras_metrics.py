"""Keras-side metrics, to watch during ``model.fit`` (``course.metrics`` re-exports them)."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="course")
class KeypointRMSE(keras.metrics.Metric):
    """Keras metric: keypoint RMSE in pixels over the present (non-``NaN``) targets.

    It accumulates the sum of squared errors and the number of present
    coordinates over an epoch, so its value equals ``course.metrics.keypoint_rmse`` on all
    the data seen, not an average of per-batch RMSEs.

    Args:
        scale: factor from the model's target units to pixels. A model trained
            on targets normalised as ``(pixels - 48) / 48`` uses ``scale=48``
            to report pixels. The default 1 means targets are already pixels.
        name: the name shown in logs and in ``history.history``.

    Example::

        model.compile(optimizer="adam", loss=..., metrics=[KeypointRMSE(scale=48.0)])
    """

    def __init__(self, scale: float = 1.0, name: str = "keypoint_rmse", **kwargs):
        super().__init__(name=name, **kwargs)
        self.scale = float(scale)
        self.squared_error_sum = self.add_variable(
            shape=(), initializer="zeros", dtype="float32", name="squared_error_sum"
        )
        self.present_count = self.add_variable(
            shape=(), initializer="zeros", dtype="float32", name="present_count"
        )

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = ops.convert_to_tensor(y_true, dtype="float32")
        y_pred = ops.convert_to_tensor(y_pred, dtype="float32")
        present = ops.logical_not(ops.isnan(y_true))
        # where() keeps the NaN targets out of the sum (NaN * 0 would still be NaN).
        error = ops.where(present, y_true - y_pred, 0.0) * self.scale
        weight = ops.cast(present, "float32")
        if sample_weight is not None:
            # One weight per example, broadcast over its coordinates.
            sample_weight = ops.reshape(ops.cast(sample_weight, "float32"), (-1, 1))
            weight = weight * sample_weight
        self.squared_error_sum.assign_add(ops.sum(weight * ops.square(error)))
        self.present_count.assign_add(ops.sum(weight))

    def result(self):
        return ops.sqrt(ops.divide_no_nan(self.squared_error_sum, self.present_count))

    def reset_state(self):
        self.squared_error_sum.assign(0.0)
        self.present_count.assign(0.0)

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}


def mean_iou_metric(num_classes: int, name: str = "mean_iou") -> keras.metrics.MeanIoU:
    """A ``keras.metrics.MeanIoU`` for a model whose output is per-pixel class scores.

    The model outputs ``(N, H, W, C)`` softmax scores and the targets are label
    maps ``(N, H, W)``; the metric takes the argmax itself
    (``sparse_y_pred=False``). It averages the IoU over the
    classes present in truth or prediction.
    """
    return keras.metrics.MeanIoU(
        num_classes=num_classes, sparse_y_true=True, sparse_y_pred=False, name=name
    )
