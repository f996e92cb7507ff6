"""Find what a student did to the notebook's structure before nbgrader repairs it.

nbgrader's sanitize pass (DeduplicateIds, OverwriteCells with
``add_missing_cells``) restores locked and test cells and re-adds deleted
grade cells, but only logs warnings. This module reports the same problems in
words an instructor can act on, from the gradebook's source cells.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import nbformat
from nbformat.reader import NotJSONError
from nbgrader.preprocessors import NbGraderPreprocessor
from nbgrader.utils import compute_checksum

from autograder.gradebook import SourceCellInfo


class InvalidNotebook(ValueError):
    """The submitted file is not a readable nbformat-4 notebook."""


def read_submission(path: Path) -> nbformat.NotebookNode:
    try:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
    except (NotJSONError, json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InvalidNotebook(f"{path.name} is not valid JSON") from err
    except nbformat.ValidationError as err:
        raise InvalidNotebook(f"{path.name} is not a valid notebook: {err.message}") from err
    except Exception as err:  # nbformat raises several types for unreadable files
        raise InvalidNotebook(f"{path.name} cannot be read as a notebook: {err}") from err
    return nb


def released_checksums(release_nb: nbformat.NotebookNode | None) -> dict[str, str]:
    """Checksums of the locked cells as students received them (hidden tests removed)."""
    if release_nb is None:
        return {}
    return {
        cell.metadata.nbgrader["grade_id"]: compute_checksum(cell)
        for cell in release_nb.cells
        if cell.metadata.get("nbgrader", {}).get("locked")
    }


def structure_issues(nb: nbformat.NotebookNode, source: list[SourceCellInfo],
                     release_nb: nbformat.NotebookNode | None = None) -> list[str]:
    """Duplicated ids, deleted/retyped cells and edited locked cells, as sentences.

    Locked cells are compared with the released notebook, not the gradebook:
    the gradebook's copy of a test cell still holds its hidden tests.
    """
    issues = []
    released = released_checksums(release_nb)
    cells_by_id: dict[str, list] = {}
    for cell in nb.cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id:
            cells_by_id.setdefault(grade_id, []).append(cell)
    counts = Counter({k: len(v) for k, v in cells_by_id.items()})
    for grade_id, count in sorted(counts.items()):
        if count > 1:
            issues.append(f"cell {grade_id!r} appears {count} times (duplicated); "
                          "nbgrader keeps the last copy")
    for expected in source:
        found = cells_by_id.get(expected.name)
        if not found:
            issues.append(f"cell {expected.name!r} was deleted; nbgrader restored it")
            continue
        cell = found[-1]
        if cell.cell_type != expected.cell_type:
            issues.append(f"cell {expected.name!r} changed type {expected.cell_type} -> "
                          f"{cell.cell_type}; restored")
        elif expected.name in released and _checksum(cell) != released[expected.name]:
            issues.append(f"locked cell {expected.name!r} was edited; the original was restored")
    known = {c.name for c in source}
    for grade_id in sorted(set(cells_by_id) - known):
        issues.append(f"cell id {grade_id!r} is not in the assignment (ignored by nbgrader)")
    return issues


def _checksum(cell) -> str | None:
    try:
        return compute_checksum(cell)
    except (KeyError, ValueError, TypeError):
        return None  # metadata broken badly enough that the checksum cannot be computed


class DropEmptyNbgraderMetadata(NbGraderPreprocessor):
    """Finish what nbgrader's DeduplicateIds starts.

    DeduplicateIds empties the ``nbgrader`` metadata of a duplicated cell, and
    OverwriteCells (``add_missing_cells``) then fails with ``KeyError:
    'grade_id'`` on it, so one duplicated cell stops the whole submission.
    Removing the emptied metadata makes the copy an ordinary cell.
    """

    def preprocess_cell(self, cell, resources, cell_index):
        if "nbgrader" in cell.metadata and "grade_id" not in cell.metadata.nbgrader:
            del cell.metadata["nbgrader"]
        return cell, resources


def sanitize_preprocessors() -> list:
    """nbgrader's Autograde sanitize list with the repair right after DeduplicateIds."""
    from nbgrader.converters import Autograde
    from nbgrader.preprocessors import DeduplicateIds

    default = Autograde.class_traits()["sanitize_preprocessors"].default()
    position = default.index(DeduplicateIds) + 1
    return default[:position] + [DropEmptyNbgraderMetadata] + default[position:]
