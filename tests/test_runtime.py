import json

import pytest

from course import runtime


def test_pick_follows_quick_mode(monkeypatch):
    monkeypatch.setenv("COURSE_QUICK", "1")
    assert runtime.quick() and runtime.pick(full=100, quick_value=2) == 2
    monkeypatch.setenv("COURSE_QUICK", "0")
    assert not runtime.quick() and runtime.pick(full=100, quick_value=2) == 100
    monkeypatch.delenv("COURSE_QUICK")
    assert runtime.pick(full=100, quick_value=2) == 100


def test_bad_flag_value_is_an_error_not_a_guess(monkeypatch):
    monkeypatch.setenv("COURSE_QUICK", "maybe")
    with pytest.raises(ValueError, match="COURSE_QUICK"):
        runtime.quick()


def test_data_source_argument_beats_environment(monkeypatch):
    monkeypatch.setenv("COURSE_DATA", "synthetic")
    assert runtime.data_source() == "synthetic"
    assert runtime.data_source("real") == "real"
    monkeypatch.delenv("COURSE_DATA")
    assert runtime.data_source() == "real"
    with pytest.raises(ValueError, match="unknown data source"):
        runtime.data_source("kaggle-please")


def test_cache_dir_moves_with_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_CACHE", str(tmp_path / "drive" / "cache"))
    assert runtime.cache_dir() == tmp_path / "drive" / "cache"
    assert runtime.cache_dir().is_dir()


def test_setup_seeds_and_summarises(monkeypatch, capsys):
    import numpy as np

    monkeypatch.setenv("COURSE_DATA", "synthetic")
    monkeypatch.setenv("COURSE_QUICK", "1")
    info = runtime.setup(seed=7)
    first = np.random.rand()
    runtime.setup(seed=7, verbose=False)
    assert np.random.rand() == first
    line = capsys.readouterr().out
    assert "data=synthetic" in line and "mode=quick" in line and "seed=7" in line
    assert info.quick and info.data == "synthetic"


def test_record_prints_and_stores(monkeypatch, tmp_path, capsys):
    target = tmp_path / "results.json"
    monkeypatch.setenv("COURSE_RESULTS", str(target))
    runtime.record("unit9.accuracy", 0.5)
    runtime.record("unit9.loss", 2)
    assert json.loads(target.read_text()) == {"unit9.accuracy": 0.5, "unit9.loss": 2.0}
    assert "[result] unit9.accuracy = 0.5" in capsys.readouterr().out


def test_setup_cell_installs_the_pinned_package_on_colab_only():
    import nbformat

    from course import __version__
    from course.notebooks import setup_cell

    nb = nbformat.v4.new_notebook()
    cell = setup_cell(nb)
    assert 'if "google.colab" in sys.modules:' in cell
    assert f'%pip install -q "dl-vision-course @ git+{runtime.REPO_URL}@v{__version__}"' in cell
    assert cell.rstrip().endswith("runtime_info = course.runtime.setup(drive=DRIVE)")
    nb.metadata["course"] = {"setup": ["keypoints"], "full_mode_minutes": {"gpu": 9, "cpu": 120}}
    keypoints = setup_cell(nb)
    assert 'KEYPOINTS_URL = ""' in keypoints and "keypoints_url=KEYPOINTS_URL" in keypoints
    assert "gpu_minutes=9" in keypoints and "cpu_minutes=120" in keypoints


@pytest.fixture
def fake_colab(monkeypatch, tmp_path):
    """A stand-in for google.colab: Drive mounts into tmp_path, secrets from a dict."""
    import sys
    import types

    mounted, secrets = [], {"KAGGLE_USERNAME": "ada", "KAGGLE_KEY": "k3y"}
    colab = types.ModuleType("google.colab")
    colab.drive = types.SimpleNamespace(mount=lambda path: mounted.append(path))

    def get(name):
        if name not in secrets:
            raise KeyError(name)
        return secrets[name]

    colab.userdata = types.SimpleNamespace(get=get)
    google = types.ModuleType("google")
    google.colab = colab
    monkeypatch.setitem(sys.modules, "google", google)
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    monkeypatch.setattr(runtime, "DRIVE_FOLDER", tmp_path / "MyDrive" / "dl-vision-course")
    for name in ("COURSE_CACHE", "COURSE_CHECKPOINTS", "KAGGLE_USERNAME", "KAGGLE_KEY",
                 "COURSE_KEYPOINTS_URL", "COURSE_KEYPOINTS_SHA256"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COURSE_DATA", "synthetic")
    monkeypatch.setenv("COURSE_QUICK", "1")
    return mounted, secrets


def test_on_colab_setup_keeps_data_and_checkpoints_on_drive(fake_colab, tmp_path, capsys):
    import os

    mounted, _ = fake_colab
    info = runtime.setup(drive=True)
    assert mounted == ["/content/drive"] and info.colab
    assert os.environ["COURSE_CACHE"] == str(tmp_path / "MyDrive" / "dl-vision-course" / "cache")
    assert runtime.checkpoint_dir("a2").parent == tmp_path / "MyDrive" / "dl-vision-course" / \
        "checkpoints"
    out = capsys.readouterr().out
    assert "Kaggle credentials from Colab's secrets" in out
    assert os.environ["KAGGLE_USERNAME"] == "ada"


def test_a_mirror_wins_over_kaggle_and_drive_can_be_left_alone(fake_colab, monkeypatch):
    import os

    mounted, _ = fake_colab
    runtime.setup(drive=False, keypoints_url="https://mirror.example/training.zip",
                  keypoints_sha256="ab" * 32)
    assert mounted == [] and "COURSE_CACHE" not in os.environ
    assert os.environ["COURSE_KEYPOINTS_URL"] == "https://mirror.example/training.zip"
    assert "KAGGLE_USERNAME" not in os.environ


def test_full_mode_without_a_gpu_says_so_with_the_expected_time(monkeypatch, capsys):
    monkeypatch.setenv("COURSE_DATA", "synthetic")
    monkeypatch.setenv("COURSE_QUICK", "0")
    info = runtime.setup(gpu_minutes=8, cpu_minutes=95)
    out = capsys.readouterr().out
    if info.gpus:
        pytest.skip("this machine has a GPU")
    assert "NO GPU" in out and "about 95 min on a 2-core CPU" in out and "about 8 min" in out
    monkeypatch.setenv("COURSE_QUICK", "1")
    runtime.setup()
    assert "NO GPU" not in capsys.readouterr().out


def test_precision_policy_is_scoped():
    import keras

    before = keras.mixed_precision.global_policy().name
    with runtime.precision_policy("mixed_float16") as policy:
        assert policy.name == "mixed_float16"
        assert keras.layers.Dense(2).dtype_policy.name == "mixed_float16"
    assert keras.mixed_precision.global_policy().name == before
