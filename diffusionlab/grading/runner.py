"""The parent's side: start a worker (``child.py``), ask it to collect and run, and turn the
signed lines that come back into one verdict per exercise.

A verdict trusts nothing it did not check: the tests expected are those of the worker's own
collection (made before any learner code exists); every line must carry this exercise's
signature, in order; a test counts as passed only with an explicit "passed" for it. Anything
else (a skip, an xfail, an interrupt, an early exit, a missing result, a line the grader did
not sign, a violation seen by the sandbox, a problem found in the source) is "failing", with
a message that says which.
"""
from __future__ import annotations

import json
import os
import queue
import secrets
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Callable

from .child import MAX_LINE, REPO, TESTS_DIR, verifier
from .source import read_references

EXERCISES_DIR = REPO / "exercises"             # the learner's stubs (default for the grader)
SOLUTIONS_DIR = REPO / "solutions"             # the answers (default for `pytest tests/exercises`)
ENV_FOLDER = "DIFFUSIONLAB_EXERCISES"          # which folder tests/exercises/ imports from
STARTUP_LIMIT = 300.0                          # seconds a worker may take to start or collect
END_LIMIT = 20.0                               # seconds to wait for a killed test process


class GradingError(Exception):
    """A problem with what the grader was asked (unknown number, no such folder), or a
    worker that cannot run the graded tests at all."""


@dataclass
class Exercise:
    number: str          # "01"
    topic: str           # "forward"
    test_file: Path      # tests/exercises/test_ex01_forward.py

    @property
    def module(self) -> str:             # "ex01_forward"
        return self.test_file.stem[len("test_"):]

    @cached_property
    def references(self) -> dict[str, tuple[str, ...]]:
        """The suite's REFERENCE: the library functions the learner may not call."""
        return read_references(self.test_file)


@dataclass
class Result:
    exercise: Exercise
    status: str = "failing"              # passed / failing / not started / missing
    detail: str = ""
    passed: int = 0
    total: int = 0
    first_failing: str = ""              # the test named in `detail`, if any
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == "passed"


def find_exercises(numbers=()) -> list[Exercise]:
    """The exercises with graded tests, optionally only the given numbers ("01", "1", 1)."""
    if not TESTS_DIR.is_dir():
        raise GradingError(f"the graded tests are not here ({TESTS_DIR}); grade from a clone of "
                           f"the repository")
    found = [Exercise(p.stem[7:9], p.stem[10:], p)
             for p in sorted(TESTS_DIR.glob("test_ex[0-9][0-9]_*.py"))]
    if not numbers:
        return found
    wanted = []
    for n in numbers:
        text = str(n).strip().lower().removeprefix("ex")
        if not text.isdigit():
            raise GradingError(f"exercise numbers look like 01 or 5, got {n!r}")
        wanted.append(text.zfill(2))
    known = {e.number: e for e in found}
    unknown = [n for n in wanted if n not in known]
    if unknown:
        raise GradingError(f"no exercise {', '.join(unknown)} (there are: "
                           f"{' '.join(sorted(known))})")
    return [known[n] for n in dict.fromkeys(wanted)]


# --------------------------------------------------------------------------------------------
# A worker process
# --------------------------------------------------------------------------------------------

def _kill_group(pid: int | None) -> None:
    """Kill a test process and everything it started (its own session)."""
    if not pid:
        return
    try:
        if os.name == "posix":
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:          # not yet in its own session
                os.kill(pid, signal.SIGKILL)
        else:
            os.kill(pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError, OSError):
        pass


class _Worker:
    """``python -c "...worker_main()"``, its requests on stdin and its lines in a queue."""

    def __init__(self, spawn: bool):
        env = dict(os.environ, TQDM_DISABLE="1", PYTEST_ADDOPTS="", PYTHONDONTWRITEBYTECODE="1",
                   PYTEST_DISABLE_PLUGIN_AUTOLOAD="1", HF_HUB_OFFLINE="1",
                   PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
        env.pop(ENV_FOLDER, None)
        cmd = [sys.executable, "-c",
               "from diffusionlab.grading.child import worker_main; worker_main()"]
        kwargs = {"start_new_session": True} if os.name == "posix" else \
            {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}
        self.proc = subprocess.Popen(cmd + (["--spawn"] if spawn else []), cwd=REPO, env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, **kwargs)
        self.lines: queue.Queue = queue.Queue()
        self.tail = b""                  # the end of its stderr, to explain a failed start
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._drain, daemon=True).start()

    def _read(self) -> None:
        for line in iter(lambda: self.proc.stdout.readline(MAX_LINE + 200), b""):
            self.lines.put(line)
        self.lines.put(None)

    def _drain(self) -> None:
        for chunk in iter(lambda: self.proc.stderr.read1(4096), b""):
            self.tail = (self.tail + chunk)[-4096:]

    def send(self, request: dict) -> None:
        try:
            self.proc.stdin.write(json.dumps(request).encode() + b"\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            pass                         # it died: its lines end with None

    def next_line(self, timeout: float):
        """The next line, None when the worker has ended; queue.Empty after ``timeout``."""
        return self.lines.get(timeout=max(timeout, 0.0))

    def why_dead(self) -> str:
        lines = [ln for ln in self.tail.decode("utf-8", "replace").splitlines() if ln.strip()]
        return lines[-1].strip() if lines else f"exit code {self.proc.poll()}"

    def close(self) -> None:
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        _kill_group(self.proc.pid)
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass


# --------------------------------------------------------------------------------------------
# One run and its verdict
# --------------------------------------------------------------------------------------------

@dataclass
class _Run:
    """What came back from one exercise's test process."""
    pid: int | None = None
    ready: bool = False
    static: list = field(default_factory=list)
    running: str = ""                   # the test that started last
    results: dict = field(default_factory=dict)
    violations: list = field(default_factory=list)
    interrupted: str = ""
    done: int | None = None             # pytest's exit status, when it got to the end
    exit_code: int | None = None        # the process's
    tampered: str = ""
    timed_out: bool = False


def _test(nodeid: str) -> str:
    return nodeid.split("::")[-1]


def verdict(exercise: Exercise, expected: list[str], run: _Run, timeout: float) -> Result:
    """passed / failing / not started, with the first thing that went wrong."""
    res = Result(exercise, total=len(expected))
    outcome = {i: run.results[i]["outcome"] for i in expected if i in run.results}
    res.passed = sum(o == "passed" for o in outcome.values())

    def fail(detail: str, test: str = "") -> Result:
        res.detail, res.first_failing = (f"{_test(test)} - {detail}" if test else detail), \
            _test(test)
        return res

    if run.tampered:
        return fail(f"the grader's channel received {run.tampered}: did your code write to it?")
    if run.static:
        more = f" (and {len(run.static) - 1} more)" if len(run.static) > 1 else ""
        res.passed = 0
        return fail(f"{exercise.module}.py {run.static[0]}{more}")
    if run.violations:
        first = run.violations[0]
        return fail(first["message"], first.get("id", ""))
    strangers = [i for i in run.results if i not in expected]
    if strangers:
        return fail(f"results came for tests the grader did not collect ({_test(strangers[0])})")
    if run.timed_out:
        return fail(f"time limit of {timeout:g} s exceeded"
                    + (f" in {_test(run.running)}" if run.running else "") + " (an endless loop?)")
    missing = [i for i in expected if i not in outcome]
    if not missing and res.passed == res.total and run.done == 0:
        res.status = "passed"
        return res
    if res.passed == 0 and not missing and all(
            run.results[i].get("not_implemented") for i in expected):
        res.status = "not started"
        return res
    failed = [i for i in expected if outcome.get(i) == "failed"]
    real = [i for i in failed if not run.results[i].get("not_implemented")]
    if failed and not missing and res.passed == 0 and \
            len({run.results[i]["message"] for i in failed}) == 1 and len(failed) == len(expected):
        return fail(run.results[failed[0]]["message"])       # e.g. a SyntaxError: said once
    for i in expected:                                       # the first problem, in test order
        o = outcome.get(i)
        if o == "passed" or (o == "failed" and real and i not in real):
            continue
        if o is None:
            return fail(f"{len(missing)} of {len(expected)} tests did not run: "
                        + _why_missing(run, i))
        message = run.results[i]["message"]
        if o == "skipped":
            return fail(f"was skipped: pytest.skip or unittest.SkipTest in your code? ({message})",
                        i)
        if o == "xfailed":
            return fail(f"was marked an expected failure: pytest.xfail in your code? ({message})",
                        i)
        if o == "interrupted":
            return fail(f"was interrupted: {message}", i)
        return fail(message, i)
    return fail(f"the test process ended with exit code {run.exit_code} after the tests")


def _why_missing(run: _Run, first_missing: str) -> str:
    where = f" in {_test(run.running)}" if run.running else ""
    if run.interrupted:
        return f"{run.interrupted} stopped them{where}"
    code = run.exit_code
    if code is not None and code < 0:
        return f"the test process died (signal {-code}){where}"
    if run.done is None:
        return f"the test process ended early (exit code {code}){where}: os._exit, sys.exit " \
               f"or a crash in your code?"
    return f"pytest stopped (exit status {run.done}){where}"


# --------------------------------------------------------------------------------------------
# The grader
# --------------------------------------------------------------------------------------------

class Grader:
    """Grades folders of exercises. Keeps one worker warm between exercises (and folders):
    use ``with Grader(exercises) as g: g.grade(folder)``.

    ``spawn=True`` starts a fresh worker per exercise instead of forking (the default where
    os.fork is missing); ``static=False`` skips the source check (to test the sandbox).
    """

    def __init__(self, exercises: list[Exercise], timeout: float = 60.0, *,
                 spawn: bool | None = None, static: bool = True):
        self.exercises, self.timeout, self.static = list(exercises), float(timeout), static
        self.spawn = (not hasattr(os, "fork") or sys.platform != "linux") if spawn is None \
            else spawn
        self._worker: _Worker | None = None
        self._expected: dict | None = None
        self._running: int | None = None       # the test process of the exercise being graded

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        _kill_group(self._running)           # e.g. after Ctrl-C: no test process left behind
        self._running = None
        if self._worker is not None:
            self._worker.close()
            self._worker = None

    def _fresh_worker(self) -> _Worker:
        if self.spawn or self._worker is None or self._worker.proc.poll() is not None:
            self.close()
            self._worker = _Worker(self.spawn)
        return self._worker

    def expected(self) -> dict:
        """{test file name: {"ids": [...], "error": ""}}, collected once by a worker."""
        if self._expected is None:
            worker = self._fresh_worker()
            key = secrets.token_bytes(32)
            check = verifier(key)
            worker.send({"op": "collect", "key": key.hex(),
                         "files": [str(e.test_file) for e in self.exercises]})
            deadline = time.monotonic() + STARTUP_LIMIT
            while self._expected is None:
                try:
                    line = worker.next_line(deadline - time.monotonic())
                except queue.Empty:
                    self.close()
                    raise GradingError(f"the grader's worker did not collect the tests in "
                                       f"{STARTUP_LIMIT:g} s") from None
                if line is None:
                    raise GradingError(f"the grader's worker could not start: "
                                       f"{worker.why_dead()}")
                self._expected = check(line)["files"]
            if self.spawn:
                self.close()
        return self._expected

    def grade(self, folder: Path, emit: Callable[[Result], None] = lambda r: None
              ) -> list[Result]:
        """Grade every exercise in ``folder``; ``emit`` sees each result as soon as it is known."""
        results = []
        for e in self.exercises:
            results.append(self.grade_one(e, folder))
            emit(results[-1])
        return results

    def grade_one(self, exercise: Exercise, folder: Path) -> Result:
        start = time.monotonic()
        folder = Path(folder).resolve()
        path = folder / f"{exercise.module}.py"
        if not path.is_file():
            return Result(exercise, status="missing", detail=f"no file {_shown(path)}")
        collected = self.expected().get(exercise.test_file.name, {"ids": [], "error": "?"})
        if collected["error"] or not collected["ids"]:
            return Result(exercise, detail=f"the graded tests could not be collected: "
                                           f"{collected['error'] or 'no tests'}")
        run = self._run(exercise, folder)
        result = verdict(exercise, collected["ids"], run, self.timeout)
        result.seconds = time.monotonic() - start
        return result

    def _run(self, exercise: Exercise, folder: Path) -> _Run:
        worker = self._fresh_worker()
        key = secrets.token_bytes(32)
        check, run = verifier(key), _Run()
        worker.send({"op": "run", "key": key.hex(), "test_file": str(exercise.test_file),
                     "folder": str(folder), "module": exercise.module,
                     "references": exercise.references, "static": self.static,
                     "timeout": self.timeout})
        del key
        deadline = time.monotonic() + STARTUP_LIMIT
        while True:
            try:
                line = worker.next_line(deadline - time.monotonic())
            except queue.Empty:
                if run.exit_code is not None or run.timed_out:   # killed, the worker is stuck
                    self.close()
                    break
                run.timed_out = True
                _kill_group(run.pid)
                deadline = time.monotonic() + END_LIMIT
                continue
            if line is None:                                      # the worker has ended
                if self.spawn:
                    run.exit_code = worker.proc.wait()         # negative: killed by a signal
                elif run.exit_code is None and not run.timed_out:
                    raise GradingError(f"the grader's worker died: {worker.why_dead()}")
                self.close()
                break
            try:
                body = check(line)
            except ValueError as err:
                run.tampered = run.tampered or str(err)
                continue
            ev = body.get("ev")
            if ev == "started":
                run.pid = self._running = body["pid"]
            elif ev == "ready":
                run.ready = True
                if not run.timed_out:
                    deadline = time.monotonic() + self.timeout
            elif ev == "static":
                run.static = body["problems"]
            elif ev == "start":
                run.running = body["id"]
            elif ev == "result":
                run.results.setdefault(body["id"], body)
            elif ev == "violation":
                run.violations.append(body)
            elif ev == "interrupted":
                run.interrupted = body["message"]
            elif ev == "done":                 # every result is in: no need to wait for
                run.done = body["status"]          # pytest to tidy up
                _kill_group(run.pid)
            elif ev == "ended":
                run.exit_code = body["code"]
                break
        _kill_group(run.pid)                 # whatever the learner's code left running
        self._running = None
        return run


def _shown(path: Path) -> str:
    """A path as the learner typed it: relative to the current folder when inside it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def grade(exercises: list[Exercise], folder: Path, timeout: float = 60.0,
          emit: Callable[[Result], None] = lambda r: None, **options) -> list[Result]:
    """Grade ``exercises`` found in ``folder`` (see ``Grader`` for the options)."""
    with Grader(exercises, timeout, **options) as grader:
        return grader.grade(folder, emit)
