"""Shared test setup: offline data, quick mode, quiet TensorFlow, headless plots."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")
