"""Sandboxed, parallel, resumable grading on top of nbgrader.

The ``course-grader`` command (:mod:`autograder.cli`) follows an instructor's
workflow: release, collect, grade, feedback, export, leaderboard, merge.
Student code only ever runs inside :mod:`autograder.runner`, started in a
sandbox (:mod:`autograder.sandbox`); everything that sees hidden labels or the
gradebook stays in the calling (trusted) process.
"""

__all__ = ["__version__"]
__version__ = "0.1.0"
