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


def test_bootstrap_installs_only_on_colab():
    assert 'if "google.colab" in sys.modules:' in runtime.BOOTSTRAP_CELL
    assert runtime.REPO_URL in runtime.BOOTSTRAP_CELL
    assert runtime.BOOTSTRAP_CELL.rstrip().endswith("= course.runtime.setup()")
