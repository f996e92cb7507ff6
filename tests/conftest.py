"""Shared test setup: offline data, quick mode, quiet TensorFlow, headless plots."""

import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def colab_session(tmp_path_factory):
    """The Colab replica with this checkout's course package installed the way a setup cell
    installs it (once per test run, shared by the pytest-xdist workers)."""
    import fcntl
    import json

    import colab_replica

    if not colab_replica.kernel_python().exists():
        pytest.fail("the Colab replica is missing: run `make test` (or `make .venv-colab`), "
                    "which builds it from colab/pip-freeze.txt")
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if base.name.startswith("popen-gw") else base  # this run's folder
    record = shared / "colab-install.json"
    with open(shared / "colab-install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not record.exists():
            work = shared / "colab-install"
            work.mkdir(exist_ok=True)
            record.write_text(json.dumps(colab_replica.install_current_course(
                colab_replica.VENV, work)))
    return json.loads(record.read_text())
