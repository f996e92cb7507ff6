"""Committed notebooks are clean: valid, no outputs, shared setup cell, Colab badge."""

import json
import os
import re

import nbformat
import pytest

from course.notebooks import (
    ROOT,
    colab_url,
    course_notebooks,
    execute,
    problems,
    readme_problems,
    setup_cell,
    sync,
    unit_notebooks,
)

NOTEBOOKS = course_notebooks()
IDS = [p.relative_to(ROOT).as_posix() for p in NOTEBOOKS]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_committed_notebook_is_clean(path):
    assert problems(path) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_has_colab_badge_and_no_todo_cells(path):
    nb = nbformat.read(path, as_version=4)
    title = nb.cells[0]
    assert title.cell_type == "markdown" and "colab.research.google.com" in title.source
    for cell in nb.cells:
        text = cell.source.strip()
        assert text.upper() not in ("TODO", "# TODO", "TBD"), f"placeholder cell in {path.name}"


def _notebook_with_outputs(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Title"),
        nbformat.v4.new_code_cell("print('hi')", execution_count=1,
                                  outputs=[nbformat.v4.new_output("stream", text="hi\n")]),
    ]
    path = tmp_path / "dirty.ipynb"
    nbformat.write(nb, path)
    return path


def test_problems_reports_outputs_and_stale_setup_then_sync_fixes_them(tmp_path):
    path = _notebook_with_outputs(tmp_path)
    found = problems(path)
    assert any("outputs" in p for p in found) and any("setup cell" in p for p in found)
    assert sync(path) is True
    assert problems(path) == []
    nb = nbformat.read(path, as_version=4)
    assert nb.cells[1].source == setup_cell(nb)
    assert sync(path) is False  # idempotent


def test_problems_reports_invalid_json(tmp_path):
    path = tmp_path / "broken.ipynb"
    path.write_text(json.dumps({"cells": "not a list"}))
    assert "not a valid notebook" in problems(path)[0]


def test_readme_links_open_this_releases_notebooks(tmp_path):
    assert readme_problems() == []
    stale = tmp_path / "README.md"
    good = colab_url("units/01_tensorflow_linear_regression.ipynb")
    old = good.replace("/blob/v", "/blob/main-v")
    stale.write_text(f"[a]({good}) [b]({old})\n")
    assert readme_problems(stale) == [
        f"README.md: {old} is not the Colab link of a notebook of v"
        f"{good.split('/blob/v')[1].split('/')[0]}"]


@pytest.mark.parametrize("path", unit_notebooks(), ids=lambda p: p.stem)
def test_exercise_skeletons_name_the_exercise_they_sit_under(path):
    """A skeleton's NotImplementedError names the exercise whose heading it follows."""
    heading, misnamed, named = None, [], 0
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type == "markdown":
            found = re.findall(r"^#+ (Exercise \d+\.\d+)", cell.source, flags=re.M)
            heading = found[-1] if found else heading
            continue
        for exercise in re.findall(r'NotImplementedError\("(Exercise \d+\.\d+)', cell.source):
            named += 1
            if exercise != heading:
                misnamed.append(f"{exercise} under the heading {heading}")
    assert named and misnamed == []


def test_execute_leaves_no_kernel_behind(tmp_path):
    """Each run shuts its kernel down (nbclient keeps alive a kernel whose manager it was given)."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import os\nprint(os.getpid())")]
    path = tmp_path / "pid.ipynb"
    nbformat.write(nb, path)
    result = execute(path, timeout=120, cell_timeout=60)
    assert result.ok, result.error
    pid = int(result.notebook.cells[0].outputs[0]["text"])
    try:
        os.kill(pid, 0)
        alive = not open(f"/proc/{pid}/stat").read().split(") ")[1].startswith("Z")
    except (ProcessLookupError, FileNotFoundError):
        alive = False
    assert not alive, f"the kernel (pid {pid}) is still running after execute()"
