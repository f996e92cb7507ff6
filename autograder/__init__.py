"""Sandboxed, parallel, resumable grading on top of nbgrader.

The ``course-grader`` command (:mod:`autograder.cli`) follows an instructor's
workflow: release, collect, grade, feedback, export, leaderboard, merge.
Student code only ever runs inside :mod:`autograder.runner`, started in a
sandbox (:mod:`autograder.sandbox`); everything that sees hidden labels or the
gradebook stays in the calling (trusted) process.
"""

import sys

# jsonschema (under nbformat, nbclient and nbgrader) imports the libraries of its optional
# format checks when it is imported: rfc3987_syntax builds a large grammar for the "iri"
# format (about 3 s), the others cost about 60 ms more. Every grader process pays that (the
# CLI, the preflight probe, each submission's runner and case sessions), and notebook
# validation never checks formats, so every process of the grader goes without them. Only
# jsonschema imports these libraries.
for _checker in ("rfc3987_syntax", "fqdn", "isoduration", "jsonpointer", "rfc3339_validator",
                 "rfc3986_validator", "uri_template", "webcolors"):
    sys.modules.setdefault(_checker, None)

__all__ = ["__version__"]
__version__ = "0.1.0"
