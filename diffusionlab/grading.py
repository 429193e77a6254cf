"""The grader: ``python -m diffusionlab grade [NN ...]`` and ``check("NN")`` in a notebook.

Each exercise ``exercises/exNN_<topic>.py`` has graded tests in
``tests/exercises/test_exNN_<topic>.py``. The grader runs those tests with
pytest in a child process, on the learner's folder, and prints one line per
exercise::

    01 forward          passed (7/7)
    02 schedules        failing (4/5): test_cosine_betas - cosine_betas: abar[500] ...
    03 noise_prediction not started

It survives whatever the learner writes: exceptions, syntax errors, wrong
shapes, NaN, a crash of the interpreter and endless loops (each exercise has a
time limit; the child's whole process group is killed when it runs over and
the remaining exercises go on in a fresh process).

This module has four parts, read top to bottom:

1. ``expect_tensor`` / ``expect_close``: assertions for the graded tests, with
   messages that say what is wrong.
2. A small pytest plugin (the ``pytest_*`` functions, loaded in the child with
   ``-p diffusionlab.grading``) that logs every test's start and result as a
   JSON line, with a one-line description of any failure.
3. ``grade``: runs the child, watches the log and the clock, and sums up.
4. ``main`` (the command line) and ``check`` (notebooks).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import pluggy           # comes with pytest; its marker is pytest.hookimpl without importing pytest

if TYPE_CHECKING:
    import torch

hookimpl = pluggy.HookimplMarker("pytest")

REPO = Path(__file__).resolve().parent.parent
TESTS_DIR = REPO / "tests" / "exercises"       # test_exNN_<topic>.py, one per exercise
EXERCISES_DIR = REPO / "exercises"             # the learner's stubs (default for the grader)
SOLUTIONS_DIR = REPO / "solutions"             # the answers (default for `pytest tests/exercises`)

ENV_FOLDER = "DIFFUSIONLAB_EXERCISES"          # which folder tests/exercises/ imports from
ENV_LOG = "DIFFUSIONLAB_GRADE_LOG"             # where the plugin writes its JSON lines
STARTUP_LIMIT = 300.0                          # seconds pytest may take to reach the first test


# --------------------------------------------------------------------------------------------
# 1. Assertions for graded tests
# --------------------------------------------------------------------------------------------

def _fmt(x: float) -> str:
    return f"{x:.4g}"


def expect_tensor(name: str, got, shape=None) -> torch.Tensor:
    """Fail unless ``got`` is a finite floating-point tensor (of ``shape`` when given).

    ``name`` is what the learner wrote, e.g. "q_sample" or "q_posterior (variance)".
    """
    __tracebackhide__ = True
    import torch
    if got is None:
        raise AssertionError(f"{name} returned None: did you forget `return`?")
    if not isinstance(got, torch.Tensor):
        raise AssertionError(f"{name} should return a torch.Tensor, got {type(got).__name__}")
    if not got.is_floating_point():
        raise AssertionError(f"{name} should return a floating-point tensor, got dtype {got.dtype}")
    if shape is not None and tuple(got.shape) != tuple(shape):
        raise AssertionError(f"{name} should return shape {tuple(shape)}, got {tuple(got.shape)}")
    bad = ~torch.isfinite(got.detach())
    if bool(bad.any()):
        raise AssertionError(f"{name} returned NaN or inf in {int(bad.sum())} of {got.numel()} "
                             f"entries (a division by zero? sqrt of a negative number?)")
    return got


def expect_close(name: str, got, expected: torch.Tensor, what: str = "", *, atol: float = 1e-5,
                 rtol: float = 1e-4, t=None) -> torch.Tensor:
    """Fail unless ``got`` has ``expected``'s shape and values:
    |got - expected| <= atol + rtol |expected| everywhere.

    ``what`` names the right answer ("sqrt(abar_t) x0 + sqrt(1 - abar_t) eps", "DDPM eq. 4");
    ``t`` (the timesteps of the batch) adds "at t=..." to the message for the worst element.
    """
    __tracebackhide__ = True
    import torch

    got = expect_tensor(name, got, expected.shape)
    g, e = got.detach().double().cpu(), expected.detach().double().cpu()
    err = (g - e).abs()
    excess = err - (atol + rtol * e.abs())
    if bool((excess > 0).any()):
        flat = int(excess.reshape(-1).argmax())
        idx = tuple(int(i) for i in torch.unravel_index(torch.tensor(flat), e.shape)) \
            if e.ndim else ()
        where = f" at index {idx}" if idx else ""
        t_all = torch.as_tensor(t).reshape(-1) if t is not None else torch.zeros(0)
        if idx and (t_all.numel() == 1 or idx[0] < t_all.numel()):
            where += f" (t={int(t_all[idx[0]] if t_all.numel() > 1 else t_all[0])})"
        should = f" should be {what};" if what else ""
        raise AssertionError(f"{name}:{should} got {_fmt(float(g[idx]))}, expected "
                             f"{_fmt(float(e[idx]))}{where}; "
                             f"largest error {_fmt(float(err.max()))}")
    return got


# --------------------------------------------------------------------------------------------
# 2. The plugin inside the child pytest process (only active with -p diffusionlab.grading)
# --------------------------------------------------------------------------------------------

def _log(record: dict) -> None:
    path = os.environ.get(ENV_LOG)
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")


def _shown(path: Path) -> str:
    """A path as the learner typed it: relative to the current folder when inside it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _learner_frame(exc: BaseException, folder: Path | None):
    """The deepest traceback entry inside the learner's folder: (file, line, function) or None."""
    found = None
    if folder is None:
        return None
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        path = Path(frame.f_code.co_filename)
        if path.parent.resolve() == folder:
            found = (path, lineno, frame.f_code.co_name)
    return found


def describe_failure(exc: BaseException, folder: Path | None = None) -> str:
    """One line that says what went wrong, never a traceback."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    where = _learner_frame(exc, folder)
    at = f" ({_shown(where[0])}, line {where[1]}, in {where[2]})" if where else ""
    if isinstance(exc, NotImplementedError) and where:
        return f"{where[2]} is not implemented yet{at}"
    if isinstance(exc, AssertionError) and not where:
        return first or "assertion failed"        # the graded test's own message
    if type(exc).__name__ == "Failed":            # pytest.fail(...), e.g. "cannot import ..."
        return first
    return f"{type(exc).__name__}: {first}{at}" if first else f"{type(exc).__name__}{at}"


def _folder_from_env() -> Path | None:
    value = os.environ.get(ENV_FOLDER)
    return Path(value).resolve() if value else None


def pytest_runtest_logstart(nodeid, location):
    _log({"event": "start", "nodeid": nodeid, "file": Path(location[0]).name})


@hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.failed:
        exc = call.excinfo.value if call.excinfo is not None else None
        _log({"event": "result", "nodeid": report.nodeid, "file": item.path.name,
              "outcome": "failed", "not_implemented": isinstance(exc, NotImplementedError),
              "message": describe_failure(exc, _folder_from_env()) if exc is not None
              else "failed"})
    elif report.when == "call":
        _log({"event": "result", "nodeid": report.nodeid, "file": item.path.name,
              "outcome": report.outcome})
    return report


def pytest_collectreport(report):
    if report.failed:
        lines = [ln.strip() for ln in str(report.longrepr).splitlines() if ln.strip()]
        _log({"event": "collect_error", "nodeid": report.nodeid,
              "file": Path(str(report.fspath)).name,
              "message": lines[-1].lstrip("E ").strip() if lines else "collection failed"})


def pytest_sessionfinish(session, exitstatus):
    _log({"event": "done"})


# --------------------------------------------------------------------------------------------
# 3. Running the graded tests in a child process
# --------------------------------------------------------------------------------------------

class GradingError(Exception):
    """A problem with what the grader was asked (unknown number, no such folder)."""


@dataclass
class Exercise:
    number: str          # "01"
    topic: str           # "forward"
    test_file: Path      # tests/exercises/test_ex01_forward.py

    @property
    def module(self) -> str:             # "ex01_forward"
        return self.test_file.stem[len("test_"):]


@dataclass
class Result:
    exercise: Exercise
    status: str = "failing"              # passed / failing / not started / missing
    detail: str = ""
    passed: int = 0
    total: int = 0

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


def _summarize(exercise: Exercise, records: list[dict]) -> Result:
    """Turn one exercise's log records into passed / failing / not started."""
    res = Result(exercise)
    errors = [r for r in records if r["event"] == "collect_error"]
    if errors:
        res.detail = f"the graded tests could not be collected: {errors[0]['message']}"
        return res
    outcome: dict[str, dict] = {}
    for r in records:                    # a test's first failure wins (setup, call or teardown)
        if r["event"] != "result":
            continue
        before = outcome.get(r["nodeid"])
        if before is None or (r["outcome"] == "failed" and before["outcome"] != "failed"):
            outcome[r["nodeid"]] = r
    failed = [r for r in outcome.values() if r["outcome"] == "failed"]
    res.total = len(outcome)
    res.passed = res.total - len(failed)
    if res.total == 0:
        res.detail = "no graded test ran"
    elif not failed:
        res.status = "passed"
    elif res.passed == 0 and all(r["not_implemented"] for r in failed):
        res.status = "not started"
    else:
        first = next((r for r in failed if not r["not_implemented"]), failed[0])
        if all(r["message"] == first["message"] for r in failed):    # e.g. a SyntaxError
            res.detail = first["message"]
        else:
            res.detail = f"{first['nodeid'].split('::')[-1]} - {first['message']}"
    return res


def _kill(proc: subprocess.Popen) -> None:
    """Kill the child and everything it started (its own process group / session)."""
    try:
        if os.name == "posix":
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.kill()
    except (ProcessLookupError, PermissionError, OSError):
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def _start_child(exercises: list[Exercise], folder: Path, log: Path):
    cmd = [sys.executable, "-m", "pytest", *[str(e.test_file) for e in exercises],
           "--capture=no", "--continue-on-collection-errors", "--rootdir", str(REPO),
           "-o", "addopts=", "-p", "no:terminal", "-p", "no:cacheprovider", "-p", "no:nbval",
           "-p", "diffusionlab.grading"]
    env = dict(os.environ, **{ENV_FOLDER: str(folder), ENV_LOG: str(log), "TQDM_DISABLE": "1",
                              "PYTEST_ADDOPTS": "", "PYTHONDONTWRITEBYTECODE": "1"})
    kwargs = {"start_new_session": True} if os.name == "posix" else \
        {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kwargs)
    tail = [b""]                        # the last few KB of the child's output, for diagnosis

    def drain():
        for chunk in iter(lambda: proc.stdout.read1(4096), b""):
            tail[0] = (tail[0] + chunk)[-8192:]

    threading.Thread(target=drain, daemon=True).start()
    return proc, tail


def _run_batch(exercises: list[Exercise], folder: Path, timeout: float,
               emit: Callable[[Result], None]) -> list[Exercise]:
    """Run one child on ``exercises``; emit each result in order; return those still to run
    (the ones after an exercise that ran out of time or crashed the child)."""
    by_file = {e.test_file.name: e for e in exercises}
    records: dict[str, list[dict]] = {e.number: [] for e in exercises}
    fd, log_name = tempfile.mkstemp(prefix="diffusionlab-grade-", suffix=".jsonl")
    os.close(fd)
    log = Path(log_name)
    proc, tail = _start_child(exercises, folder, log)
    started, offset, current, running_test, done = time.monotonic(), 0, -1, None, False
    clock = started
    emitted = 0

    def exercise_of(name: str) -> int:
        return exercises.index(by_file[name]) if name in by_file else max(current, 0)

    def emit_upto(k: int) -> None:
        nonlocal emitted
        while emitted < k:
            emit(_summarize(exercises[emitted], records[exercises[emitted].number]))
            emitted += 1

    try:
        while True:
            exited = proc.poll() is not None
            with open(log, "rb") as f:
                f.seek(offset)
                data = f.read()
            complete = data[:data.rfind(b"\n") + 1]
            offset += len(complete)
            for line in complete.decode("utf-8", "replace").splitlines():
                rec = json.loads(line)
                if rec["event"] == "done":
                    done = True
                    continue
                k = exercise_of(rec["file"])
                if rec["event"] == "collect_error":     # comes before any test runs
                    records[exercises[k].number].append(rec)
                    continue
                if k != current and k >= 0:
                    emit_upto(k)
                    current, clock = k, time.monotonic()
                if k >= 0:
                    records[exercises[k].number].append(rec)
                if rec["event"] == "start":
                    running_test = rec["nodeid"]
                elif rec["event"] == "result" and rec["nodeid"] == running_test:
                    running_test = None
            now = time.monotonic()
            if exited:
                break
            if current >= 0 and now - clock > timeout:
                _kill(proc)
                test = (running_test or "").split("::")[-1]
                emit_upto(current)
                emit(Result(exercises[current], detail=f"time limit of {timeout:g} s exceeded"
                            + (f" in {test}" if test else "") + " (an endless loop?)"))
                return exercises[current + 1:]
            if current < 0 and now - started > max(STARTUP_LIMIT, timeout):
                _kill(proc)
                raise GradingError(f"pytest did not reach the first test in "
                                   f"{max(STARTUP_LIMIT, timeout):g} s")
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            _kill(proc)
        elif os.name == "posix":             # leftovers the learner's code may have started
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError, OSError):
                pass
        log.unlink(missing_ok=True)
    if done:
        emit_upto(len(exercises))
        return []
    # The child died without finishing: blame the exercise whose test was running.
    output = tail[0].decode("utf-8", "replace").strip().splitlines()
    last = output[-1].strip() if output else ""
    if current < 0:
        raise GradingError(f"pytest could not run the graded tests (exit code {proc.returncode})"
                           + (f": {last}" if last else ""))
    test = (running_test or "").split("::")[-1]
    emit_upto(current)
    emit(Result(exercises[current], detail=f"the test process died (exit code {proc.returncode})"
                + (f" in {test}" if test else "")))
    return exercises[current + 1:]


def grade(exercises: list[Exercise], folder: Path, timeout: float = 60.0,
          emit: Callable[[Result], None] = lambda r: None) -> list[Result]:
    """Grade ``exercises`` found in ``folder``; ``emit`` sees each result as soon as it is known."""
    results: list[Result] = []

    def keep(r: Result) -> None:
        results.append(r)
        emit(r)

    todo = list(exercises)
    while todo:
        while todo and not (folder / f"{todo[0].module}.py").is_file():
            path = folder / f"{todo[0].module}.py"
            keep(Result(todo[0], status="missing", detail=f"no file {_shown(path)}"))
            todo.pop(0)
        batch = []
        for e in todo:                       # a missing file ends the batch, to keep the order
            if not (folder / f"{e.module}.py").is_file():
                break
            batch.append(e)
        if not batch:
            continue
        rest = _run_batch(batch, folder, timeout, keep)
        todo = rest + todo[len(batch):]
    return results


# --------------------------------------------------------------------------------------------
# 4. Command line and notebooks
# --------------------------------------------------------------------------------------------

def _line(r: Result, width: int) -> str:
    e = r.exercise
    head = f"{e.number} {e.topic:<{width}} "
    if r.status == "passed":
        return head + f"passed ({r.passed}/{r.total})"
    if r.status in ("not started", "missing"):
        return head + r.status + (f" ({r.detail})" if r.detail else "")
    counts = f" ({r.passed}/{r.total})" if r.total else ""
    detail = r.detail if len(r.detail) <= 300 else r.detail[:297] + "..."
    return head + f"failing{counts}: {detail}"


def main(numbers=(), exercises=None, timeout: float = 60.0, *, summary: bool = True) -> int:
    """Grade the exercises (all, or ``numbers``) in ``exercises`` (default: the repo's exercises/).

    Prints one line per exercise (with a header and a summary unless ``summary=False``) and
    returns 0 only when every one of them passed.
    """
    try:
        chosen = find_exercises(numbers)
        folder = Path(exercises).expanduser().resolve() if exercises else EXERCISES_DIR
        if not folder.is_dir():
            raise GradingError(f"no folder {exercises}")
        if not timeout or timeout <= 0:
            raise GradingError(f"the time limit must be a positive number of seconds, "
                               f"got {timeout}")
    except GradingError as err:
        print(f"grade: {err}")
        return 2
    if summary:
        print(f"Grading {_shown(folder)}/ (time limit {timeout:g} s per exercise)", flush=True)
    width = max((len(e.topic) for e in chosen), default=0)
    try:
        results = grade(chosen, folder, timeout, emit=lambda r: print(_line(r, width), flush=True))
    except GradingError as err:
        print(f"grade: {err}")
        return 2
    except KeyboardInterrupt:
        print("grade: interrupted")
        return 130
    except Exception as err:            # a bug of the grader itself: still one line, no traceback
        print(f"grade: internal error: {type(err).__name__}: {err}")
        return 3
    n_ok = sum(r.ok for r in results)
    if summary:
        print(f"{n_ok} of {len(results)} passed.")
    bad = [r for r in results if r.status == "failing"]
    if bad and summary:
        test = _shown(bad[0].exercise.test_file)
        print(f"Details: pytest {test} --exercises {_shown(folder)}")
    return 0 if n_ok == len(results) else 1


def check(number, exercises=None) -> None:
    """Grade one exercise from a notebook: ``check("01")`` prints its line of the table."""
    main([number], exercises=exercises, summary=False)
