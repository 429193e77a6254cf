"""The grader: ``python -m diffusionlab grade [NN ...]``, ``check("NN")`` in a notebook, and
``python -m diffusionlab grade --class DIR`` for a teacher.

Each exercise ``exercises/exNN_<topic>.py`` has graded tests in
``tests/exercises/test_exNN_<topic>.py``; the grader runs them on the learner's folder, one
exercise per process, and prints one line per exercise::

    01 forward          passed (8/8)
    02 schedules        failing (4/5): test_cosine_betas - cosine_betas: ...
    03 noise_prediction not started

Modules, read in this order:

- ``expect``: ``expect_tensor`` / ``expect_close`` / ``expect_number``, the graded tests'
  assertions, with messages that say what is wrong, with numbers;
- ``runner``: the parent: collects the tests, starts a worker, checks what comes back and
  decides passed / failing / not started (``Grader``, ``grade``, ``verdict``);
- ``child``: the worker, the test process it forks per exercise, the pytest plugin inside it
  and the signed channel between them;
- ``source`` and ``sandbox``: what a graded answer may not do, checked in its source before it
  runs and watched while it runs;
- ``cli``: the command line, ``check`` and the class table.
"""
from .child import describe_failure
from .cli import check, grade_class, main
from .expect import expect_close, expect_number, expect_tensor, gap
from .runner import (ENV_FOLDER, EXERCISES_DIR, REPO, SOLUTIONS_DIR, TESTS_DIR, Exercise, Grader,
                     GradingError, Result, find_exercises, grade, verdict)

__all__ = ["ENV_FOLDER", "EXERCISES_DIR", "REPO", "SOLUTIONS_DIR", "TESTS_DIR", "Exercise",
           "Grader", "GradingError", "Result", "check", "describe_failure", "expect_close",
           "expect_number", "expect_tensor", "find_exercises", "gap", "grade", "grade_class",
           "main", "verdict"]
