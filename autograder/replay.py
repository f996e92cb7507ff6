"""The preprocessor that takes the place of nbgrader's ``Execute``.

nbgrader's Autograde converter runs ``Execute`` in-process. Here the notebook
was already executed in the sandbox (in parallel, by :mod:`autograder.runner`),
so this preprocessor copies those outputs into the sanitized notebook, after
checking that the executed cells are exactly the cells that were sent in.
The rest of nbgrader's pipeline (LimitOutput, SaveAutoGrades, late
penalties) then runs unchanged.
"""

from __future__ import annotations

import nbformat
from nbgrader.preprocessors import Execute, NbGraderPreprocessor
from traitlets import Dict, Unicode


class ExecutionMismatch(RuntimeError):
    """The executed notebook's cells differ from the notebook that was sent in."""


class ReplaySandboxOutputs(NbGraderPreprocessor):
    executed_notebook = Unicode("", help="Path of the notebook executed in the sandbox").tag(
        config=True)
    notes = Dict({}, help="grade_id -> grader note appended to that cell's outputs").tag(
        config=True)

    def preprocess(self, nb, resources):
        executed = nbformat.read(self.executed_notebook, as_version=4)
        sent = [(c.cell_type, c.source) for c in nb.cells]
        got = [(c.cell_type, c.source) for c in executed.cells]
        if sent != got:
            raise ExecutionMismatch(
                "the executed notebook does not match the submission that was sent to the "
                "sandbox (cells added, removed or edited during execution)")
        for cell, ran in zip(nb.cells, executed.cells, strict=True):
            if cell.cell_type != "code":
                continue
            cell.outputs = ran.get("outputs", [])
            cell.execution_count = ran.get("execution_count")
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
            if grade_id in self.notes:
                cell.outputs.append(nbformat.v4.new_output(
                    "stream", name="stdout", text=self.notes[grade_id] + "\n"))
        return nb, resources


def autograde_preprocessors() -> list:
    """nbgrader's own Autograde list with ``Execute`` swapped for the replay."""
    from nbgrader.converters import Autograde

    default = Autograde.class_traits()["autograde_preprocessors"].default()
    return [ReplaySandboxOutputs if pp is Execute else pp for pp in default]
