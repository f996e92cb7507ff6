"""Every unit notebook and every source assignment runs top to bottom in quick mode."""

import pytest

from course.notebooks import QUICK_ENV, ROOT, course_notebooks, execute

# Quick mode promises about a minute per notebook on 2 cores; the margin absorbs
# a loaded CI machine. bench/notebooks.py prints the measured times.
NOTEBOOK_TIME_LIMIT_S = 180

NOTEBOOKS = course_notebooks()


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.relative_to(ROOT).as_posix() for p in NOTEBOOKS])
def test_notebook_runs_in_quick_mode(path, tmp_path):
    work = tmp_path / path.name
    work.write_bytes(path.read_bytes())  # run a copy: weights and archives land in tmp
    for extra in path.parent.iterdir():
        if extra.is_file() and extra.suffix != ".ipynb":
            (tmp_path / extra.name).write_bytes(extra.read_bytes())
    result = execute(work, timeout=NOTEBOOK_TIME_LIMIT_S, cell_timeout=NOTEBOOK_TIME_LIMIT_S,
                     env=QUICK_ENV)
    assert result.ok, f"{path.name} failed after {result.seconds:.0f} s:\n{result.error}"


def test_there_are_six_units():
    names = [p.name for p in (ROOT / "units").glob("*.ipynb")]
    assert len(names) == 6, names
