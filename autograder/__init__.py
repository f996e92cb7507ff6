"""Sandboxed, parallel, resumable grading on top of nbgrader.

The ``course-grader`` command (:mod:`autograder.cli`) follows an instructor's
workflow: release, collect, grade, feedback, export, leaderboard, merge.
Student code only ever runs inside :mod:`autograder.runner`, started in a
sandbox (:mod:`autograder.sandbox`); everything that sees hidden labels or the
gradebook stays in the calling (trusted) process.
"""

import sys

# jsonschema (under nbformat, nbclient and nbgrader) builds a large grammar for its
# optional "iri" format check when it is imported: about 3 s in every grader process
# (the CLI, the preflight probe, each submission's runner). Notebook validation never
# uses that check, so every process of the grader goes without it.
sys.modules.setdefault("rfc3987_syntax", None)

__all__ = ["__version__"]
__version__ = "0.1.0"
