"""nbgrader configuration of the course directory (this folder).

Run nbgrader from here, e.g. ``nbgrader generate_assignment a2_facial_keypoints --force``.
The trusted autograder reads the same file, so the paths below are relative to
this file rather than to the current working directory.
"""

from pathlib import Path

c = get_config()  # noqa: F821  (injected by traitlets when nbgrader loads this file)

COURSE_ROOT = Path(__file__).resolve().parent

c.CourseDirectory.course_id = "dl-vision-course"
c.CourseDirectory.root = str(COURSE_ROOT)
c.CourseDirectory.db_url = f"sqlite:///{COURSE_ROOT / 'gradebook.db'}"
# Files next to a source notebook are released with it, except these: trained weights
# and submission archives from the instructor's own run must not reach students.
c.CourseDirectory.ignore = [
    ".ipynb_checkpoints",
    "*.pyc",
    "__pycache__",
    "feedback",
    "*.weights.h5",
    "*_submission.zip",
]

# What students see in place of the instructor's solution.
c.ClearSolutions.code_stub = {
    "python": "# YOUR CODE HERE\nraise NotImplementedError()",
}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
c.ClearSolutions.begin_solution_delimeter = "BEGIN SOLUTION"
c.ClearSolutions.end_solution_delimeter = "END SOLUTION"
c.ClearSolutions.enforce_metadata = True

# Hidden tests stay in the instructor's source and in autograding only.
c.ClearHiddenTests.begin_test_delimeter = "BEGIN HIDDEN TESTS"
c.ClearHiddenTests.end_test_delimeter = "END HIDDEN TESTS"
c.ClearHiddenTests.enforce_metadata = True

# Released notebooks carry no outputs.
c.ClearOutput.enabled = True

# Execution during autograding: training cells restore weights (course.grading.fit_or_restore),
# so a per-cell limit of 10 minutes is generous; the autograder applies its own
# per-role timeouts on top (docs/contracts.md).
c.Execute.timeout = 600
c.Execute.interrupt_on_timeout = True
c.Execute.allow_errors = True
c.Execute.kernel_name = "python3"
