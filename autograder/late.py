"""The course's late policy as an nbgrader late-submission plugin.

nbgrader computes how late a submission is from its timestamp and the
assignment's due date (both in the gradebook) and asks this plugin for the
penalty; ``course-grader grade`` configures it from the ``[submission]`` table
of the grading TOML, which the assignment notebooks also state.
"""

from __future__ import annotations

import math

from nbgrader.plugins import LateSubmissionPlugin
from traitlets import Float, Integer


class PenaltyPerDay(LateSubmissionPlugin):
    """A share of the score per started day late; nothing after ``days_max`` days."""

    fraction_per_day = Float(0.0, help="share of the score taken per started day").tag(
        config=True)
    days_max = Integer(-1, help="days after which the score is 0 (-1: no limit)").tag(
        config=True)

    def late_submission_penalty(self, student_id, score, total_seconds_late):
        if total_seconds_late <= 0:
            return None
        days = math.ceil(total_seconds_late / 86400)
        if 0 <= self.days_max < days:
            return score
        return min(score, score * self.fraction_per_day * days)
