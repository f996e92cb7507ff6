"""Probes: turn what a student's function returns into plain data for the grader.

Some answers are objects (a Keras model) rather than numbers. A case names a
probe, which runs in the sandbox right after the call and describes the
object in plain values; the grader then judges that description. A probe is
only as trustworthy as the process it runs in, so the grader checks its
output like any other untrusted reply.
"""

from __future__ import annotations

import numpy as np


def keras_model(model, inputs=None) -> dict:
    """Structure of a Keras model and, given ``inputs``, what it predicts for them."""
    import keras

    if not isinstance(model, keras.Model):
        return {"is_model": False, "type": type(model).__name__}
    description = {
        "is_model": True,
        "input_shape": [None if d is None else int(d) for d in model.input_shape],
        "output_shape": [None if d is None else int(d) for d in model.output_shape],
        "layers": [type(layer).__name__ for layer in model.layers],
        "compiled": bool(model.compiled),
        "loss": str(getattr(model, "loss", None)),
        "parameters": int(model.count_params()),
    }
    if inputs is not None:
        description["predictions"] = np.asarray(model.predict(inputs, verbose=0))
    return description


PROBES = {"keras_model": keras_model}
