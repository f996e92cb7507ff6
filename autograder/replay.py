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


class ApplyTrustedScores(NbGraderPreprocessor):
    """Set the points the grader computed outside the sandbox, after nbgrader's SaveAutoGrades.

    nbgrader scores a test cell by the absence of errors in its outputs, which
    student code could fake. Here every graded cell whose points the grader
    decided (graded cases, hidden-set metrics) gets them as its ``auto_score``,
    before nbgrader's late penalty is computed from the notebook's score. A
    grader's edit in formgrader lands in ``manual_score``, next to it, so
    ``export`` can show every score a person changed.
    """

    scores = Dict({}, help="grade_id -> points decided by the trusted grader").tag(config=True)

    def preprocess(self, nb, resources):
        from nbgrader.api import Gradebook

        info = resources["nbgrader"]
        with Gradebook(info["db_url"]) as gb:
            for grade_id, points in self.scores.items():
                grade = gb.find_grade(grade_id, info["notebook"], info["assignment"],
                                      info["student"])
                grade.auto_score = float(points)
                grade.needs_manual_grade = False
            gb.db.commit()
        return nb, resources


def autograde_preprocessors() -> list:
    """nbgrader's Autograde list with ``Execute`` swapped for the replay and the trusted
    scores set right after SaveAutoGrades (so late penalties see them)."""
    from nbgrader.converters import Autograde
    from nbgrader.preprocessors import SaveAutoGrades

    default = Autograde.class_traits()["autograde_preprocessors"].default()
    steps = [ReplaySandboxOutputs if pp is Execute else pp for pp in default]
    position = steps.index(SaveAutoGrades) + 1
    return steps[:position] + [ApplyTrustedScores] + steps[position:]
