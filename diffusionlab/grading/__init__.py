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

Only tests that ran and passed count
------------------------------------
The parent expects a result for every test of its own collection (made by a worker before
any learner code exists). A test passes only on an explicit "passed" for it, signed with the
key of this exercise's run, from the plugin that called the test function itself and saw it
return. A skip, an xfail, ``unittest.SkipTest``, ``KeyboardInterrupt``, ``pytest.exit``,
``sys.exit``, ``os._exit``, a crash, a time-out or a missing result is "failing", with a message
that says which ("test_x - was skipped: pytest.skip or unittest.SkipTest in your code?",
"3 of 7 tests did not run: the test process ended early (exit code 0) in test_q_sample").

Threat model
------------
The adversary is a learner who wants "passed" without the work and may write anything in
their exercise file; the grader, the tests, the library and the machine are not theirs to
change (a learner who edits ``diffusionlab/grading/`` on their own clone grades themselves;
teachers grade from their own clone). Closed, each with a test in tests/test_grading.py:

- writing the verdict: results no longer go through a file named by an environment variable;
  they travel over a pipe opened before the learner's code, each line signed (HMAC-SHA256)
  with a key made for this run and sent only to the test process. A line without the
  signature (written to every fd, say) makes the exercise "failing";
- patching the grader, the tests' assertions, ``torch.allclose`` or pytest's reports: the
  verdict is made in the parent; in the test process the plugin runs each test function
  itself and, after each test, compares the attributes of torch, the library and the tests
  with a snapshot; pytest's reports are not read for the verdict;
- skipping, xfailing, interrupting or ending the tests: see above;
- doing no work: the library's answer (the suite's ``REFERENCE``) is named wherever the
  source mentions it, and wrapped so that a call from the learner's function of that name
  fails; the solutions may not be read, imported or mentioned;
- cheating the comparison: a Tensor subclass, ``__eq__`` and friends, editing the inputs
  (the schedule, the network) so that the reference agrees, leaving a thread behind;
- reaching the channel or its key: an audit hook (``sys.addaudithook``, not removable) vetoes
  and reports, when the learner's code starts them, frame and traceback access, ``gc``,
  ``ctypes``, processes, signals and opening files other than library sources; and the
  source check allows only torch, math, numpy and diffusionlab imports, no ``eval``/``exec``/
  ``getattr`` with computed names, no dunder attributes;
- one exercise breaking the next: one forked process per exercise, in its own session, killed
  with everything it started when it ends or runs out of time; torch's global state is
  reset before every test (tests/exercises/conftest.py); memory is capped so a (B,) x (B, N)
  broadcast fails instead of swapping.

What remains possible: Python offers no walls inside a process, so a determined learner can
still find the plugin's signing key in memory by a route none of these checks knows (numpy's
``__array_interface__`` on a guessed address, a C extension of their own through a library
that loads one), or out-guess the source check with a construct it does not list. Each such
route is far more work than the exercise, and the source that does it is in the file the
teacher can read. A learner process can also use the machine's CPU for the whole time limit.
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
