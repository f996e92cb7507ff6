"""Shared test setup: offline data, quick mode, quiet TensorFlow, headless plots."""

import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")
# Under pytest-xdist every worker runs TensorFlow at the same time: the kernels and trainings
# of each get their share of the cores, not all of them (thread pools larger than their
# share spin against each other; one thread each was 7% faster for two units side by side).
# The grader sets its sandboxes' threads itself, from its own --workers.
if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    share = str(max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"])))
    for name in ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
        os.environ.setdefault(name, share)


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
