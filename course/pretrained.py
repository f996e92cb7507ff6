"""Pretrained ImageNet backbones from ``keras.applications``, never silently random.

Keras downloads the ImageNet weights once into ``$KERAS_HOME/models`` (by
default ``~/.keras/models``). Offline, behind a firewall or in the grader's
sandbox that download fails; the notebooks then go on with random weights,
and this module makes sure they say so in their output.
"""

from __future__ import annotations

from typing import NamedTuple


class Backbone(NamedTuple):
    model: object  # a keras.Model
    pretrained: bool  # False: random weights, nothing is transferred


def imagenet_backbone(name: str, **kwargs) -> Backbone:
    """``keras.applications.<name>(weights="imagenet", **kwargs)``, or random weights with a notice.

    Example: ``imagenet_backbone("MobileNetV2", input_shape=(96, 96, 3), include_top=False)``.
    """
    import keras

    constructor = getattr(keras.applications, name)
    try:
        model = constructor(weights="imagenet", **kwargs)
    except Exception as err:  # Keras reports failed downloads as a bare Exception
        reason = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
        print(f"NO PRETRAINED WEIGHTS: the ImageNet weights of {name} could not be loaded "
              f"({reason}). The model starts from RANDOM weights, so nothing is transferred "
              "and its accuracy says nothing about transfer learning. Run once with a network "
              "connection (Keras caches the file in ~/.keras/models) to use them.")
        return Backbone(constructor(weights=None, **kwargs), False)
    print(f"{name}: ImageNet weights loaded.")
    return Backbone(model, True)
