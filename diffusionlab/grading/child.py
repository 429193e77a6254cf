"""The grader's processes: a worker, the test process it forks for each exercise, and the
pytest plugin inside that test process.

    parent (runner.py) --stdin: requests--> worker --fork--> test process (one exercise)
    parent <--stdout: signed lines-- worker <--pipe: signed lines-- test process

The worker imports torch, pytest and the library once (a few seconds) and, on request,
collects the graded tests: before any learner code exists in any process, so this collection
is the list of tests the parent expects results for. For each exercise it forks a fresh test
process (a fraction of a second), in its own session, so nothing one exercise leaves behind
(torch settings, threads, patches, memory) reaches the next one. Where ``os.fork`` is missing
the parent starts one worker per exercise instead, which runs the exercise itself.

In the test process, before the learner's file is imported:

1. the source is checked (``source.py``); a problem ends the exercise there;
2. fds 0, 1 and 2 become /dev/null: results leave only through a pipe the learner's code was
   never told about, each line signed with HMAC-SHA256 under a key made by the parent for
   this exercise alone (it travels in the request, never in the environment or a file);
3. the plugin below takes over running each test function (``pytest_pyfunc_call``): a test
   has passed when the plugin itself called the function it collected and saw it return, and
   no guard of ``sandbox.py`` fired. Skips, xfails, interrupts and exits are reported as
   what they are.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import sys
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent
TESTS_DIR = REPO / "tests" / "exercises"
MAX_LINE = 1 << 20                       # longest line relayed from a test process
MEMORY_GB = 3.0                          # address space a test process may add to the worker's


# --------------------------------------------------------------------------------------------
# The channel: signed JSON lines
# --------------------------------------------------------------------------------------------

def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data):]


def signer(fd: int, key: bytes, source: str):
    """``send(body)`` writes "MAC SOURCE+N JSON" to ``fd``; N counts this source's lines."""
    mac = hmac.new(key, digestmod=hashlib.sha256)
    count = [0]

    def send(body: dict) -> None:
        text = json.dumps(body, separators=(",", ":"))
        head = f"{source}{count[0]}"
        count[0] += 1
        m = mac.copy()
        m.update(f"{head} {text}".encode())
        _write_all(fd, f"{m.hexdigest()} {head} {text}\n".encode())

    return send


def verifier(key: bytes):
    """``check(line)`` -> the body of a line signed with ``key``, in order, else ValueError."""
    mac = hmac.new(key, digestmod=hashlib.sha256)
    expected: dict[str, int] = {}

    def check(line: bytes) -> dict:
        try:
            digest, head, text = line.decode("utf-8").rstrip("\n").split(" ", 2)
            source, n = head[0], int(head[1:])
        except (UnicodeDecodeError, ValueError, IndexError):
            raise ValueError("a line that is not the grader's") from None
        m = mac.copy()
        m.update(f"{head} {text}".encode())
        if not hmac.compare_digest(m.hexdigest(), digest):
            raise ValueError("a line with a wrong signature")
        if n != expected.get(source, 0):
            raise ValueError("a line out of order")
        expected[source] = n + 1
        return json.loads(text)

    return check


# --------------------------------------------------------------------------------------------
# Describing a failure in one line
# --------------------------------------------------------------------------------------------

def _shown(path: Path) -> str:
    """A path as the learner typed it: relative to the current folder when inside it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def learner_frame(exc: BaseException, folder: Path | None):
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
    where = learner_frame(exc, folder)
    at = f" ({_shown(where[0])}, line {where[1]}, in {where[2]})" if where else ""
    if isinstance(exc, NotImplementedError) and where:
        return f"{where[2]} is not implemented yet{at}"
    if isinstance(exc, AssertionError) and not where:
        return first or "assertion failed"        # the graded test's own message
    if type(exc).__name__ == "Failed":            # pytest.fail(...), e.g. "cannot import ..."
        return first
    if isinstance(exc, RuntimeError) and "must match the size of tensor" in first:
        at += " (a (B,) coefficient against a (B, ...) batch? `extract` reshapes it)"
    return f"{type(exc).__name__}: {first}{at}" if first else f"{type(exc).__name__}{at}"


def _outcome(exc: BaseException, folder: Path) -> dict:
    """What an exception from a test means: failed, skipped, xfailed or interrupted."""
    import unittest

    from _pytest.outcomes import Exit, Skipped, XFailed

    where = learner_frame(exc, folder)
    at = f" ({_shown(where[0])}, line {where[1]}, in {where[2]})" if where else ""
    if isinstance(exc, XFailed):
        return {"outcome": "xfailed", "message": f"pytest.xfail{at}"}
    if isinstance(exc, (Skipped, unittest.SkipTest)):
        return {"outcome": "skipped", "message": f"{type(exc).__name__}{at}"}
    if isinstance(exc, (KeyboardInterrupt, Exit)):
        return {"outcome": "interrupted", "message": f"{type(exc).__name__}{at}"}
    return {"outcome": "failed", "message": describe_failure(exc, folder),
            "not_implemented": isinstance(exc, NotImplementedError)}


# --------------------------------------------------------------------------------------------
# The plugin inside a test process
# --------------------------------------------------------------------------------------------

def pytest_args(files, *extra) -> list[str]:
    return [*map(str, files), *extra, "--rootdir", str(REPO), "-o", "addopts=",
            "--capture=no", "-p", "no:cacheprovider", "-p", "no:debugging", "-p", "no:terminal",
            "-p", "no:nbval", "-p", "no:stepwise"]


def make_plugin(send, folder: Path, module: str, references: dict):
    """The pytest plugin of one graded run; ``send`` is the signed channel."""
    import pytest

    from . import sandbox

    frames = sandbox.Frames(folder, [sandbox.GRADER_DIR, REPO / "tests"])
    state = {"snapshot": None, "functions": {}, "calls": {}, "problems": {}, "flagged": {},
             "current": None}

    def report(message: str) -> None:           # a violation: sent at once, fails the test
        test = state["current"] or ""
        state["flagged"].setdefault(test, message)
        send({"ev": "violation", "id": test, "message": message})

    class GradedRun:
        @pytest.hookimpl(trylast=True)
        def pytest_collection_finish(self, session):
            state["functions"] = {item.nodeid: item.obj for item in session.items}
            sandbox.watch_references(references, frames, module, report)
            sandbox.install_audit_hook(frames, report, folder / f"{module}.py")
            pytest.mark._config = None           # one way less from `pytest` to this plugin
            send({"ev": "ready", "ids": [item.nodeid for item in session.items]})

        def pytest_runtest_logstart(self, nodeid, location):
            state["current"] = nodeid
            send({"ev": "start", "id": nodeid})

        @pytest.hookimpl(tryfirst=True)
        def pytest_pyfunc_call(self, pyfuncitem):
            if state["snapshot"] is None:        # before the first line of learner code runs
                state["snapshot"] = sandbox.Snapshot(TESTS_DIR)
            nodeid = pyfuncitem.nodeid
            function = state["functions"][nodeid]
            args = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
            try:
                function(**args)
            except BaseException as exc:
                state["calls"][nodeid] = _outcome(exc, folder)
                raise
            else:
                state["calls"][nodeid] = {"outcome": "passed"}
            finally:
                changed = state["snapshot"].changed()
                if changed:
                    report(f"{changed} was changed during the test: graded answers must not "
                           f"change torch, the library or the tests")
            return True

        @pytest.hookimpl(wrapper=True)
        def pytest_runtest_makereport(self, item, call):
            rep = yield
            if call.when != "call" and call.excinfo is not None:     # setup or teardown
                state["problems"].setdefault(item.nodeid, _outcome(call.excinfo.value, folder))
            return rep

        def pytest_runtest_logfinish(self, nodeid, location):
            result = state["problems"].get(nodeid) or state["calls"].get(nodeid) or \
                {"outcome": "failed", "message": "the test function did not run"}
            if nodeid in state["flagged"]:
                result = {"outcome": "failed", "message": state["flagged"][nodeid]}
            send({"ev": "result", "id": nodeid, **result})
            state["current"] = None

        def pytest_keyboard_interrupt(self, excinfo):
            send({"ev": "interrupted", "message": _outcome(excinfo.value, folder)["message"]})

        def pytest_sessionfinish(self, session, exitstatus):
            send({"ev": "done", "status": int(exitstatus)})

    return GradedRun()


def _limit_resources(timeout: float) -> None:
    """Cap the address space, so that a (B,) x (B, N) broadcast fails instead of swapping;
    and the CPU time, a backstop should the parent die without killing an endless loop."""
    try:
        import resource
        with open("/proc/self/status") as f:
            size = next(int(ln.split()[1]) * 1024 for ln in f if ln.startswith("VmSize"))
        limit = size + int(MEMORY_GB * 2 ** 30)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        cpu = int(2 * timeout) + 60
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
    except (ImportError, OSError, StopIteration, ValueError):
        pass


def run_exercise(request: dict, fd: int) -> int:
    """Grade one exercise in this process, reporting on ``fd``; returns pytest's exit code."""
    import pytest

    from .source import check_source

    send = signer(fd, bytes.fromhex(request.pop("key")), "c")
    folder, module = Path(request["folder"]), request["module"]
    references = {k: tuple(v) for k, v in request["references"].items()}
    if request.get("static", True):
        problems = check_source(folder / f"{module}.py", references)
        if problems:
            send({"ev": "static", "problems": problems})
            return 0
    _limit_resources(float(request.get("timeout", 60.0)))
    plugin = make_plugin(send, folder, module, references)
    return int(pytest.main(pytest_args([request["test_file"]], "--exercises", str(folder)),
                           plugins=[plugin]))


# --------------------------------------------------------------------------------------------
# The worker
# --------------------------------------------------------------------------------------------

def _collect(files: list[str]) -> dict:
    """{test file name: {"ids": [...], "error": message or ""}} from a collection in this
    process (no learner code involved: the tests import the learner's file when they run)."""
    import pytest

    found = {Path(f).name: {"ids": [], "error": ""} for f in files}

    class Collector:
        def pytest_collectreport(self, report):
            if report.failed:
                lines = [ln.strip() for ln in str(report.longrepr).splitlines() if ln.strip()]
                name = Path(str(report.fspath)).name
                if name in found:
                    found[name]["error"] = lines[-1].lstrip("E ").strip() if lines else "failed"

        def pytest_collection_finish(self, session):
            for item in session.items:
                name = item.path.name
                if name in found:
                    found[name]["ids"].append(item.nodeid)

    status = pytest.main(pytest_args(files, "--collect-only"), plugins=[Collector()])
    for entry in found.values():
        if not entry["ids"] and not entry["error"]:
            entry["error"] = f"pytest exit status {int(status)}"
    return found


def _to_null(*fds: int) -> None:
    null = os.open(os.devnull, os.O_RDWR)
    for fd in fds:
        os.dup2(null, fd)
    os.close(null)


def _run_forked(request: dict, out: int, send) -> None:
    """Fork a test process for ``request``, relay its lines to ``out``, report its exit."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:                                         # the test process
        code = 70
        try:
            os.setsid()
            os.close(r)
            os.close(out)
            _to_null(0, 1, 2)
            code = run_exercise(request, w)
        finally:
            os._exit(code)
    os.close(w)
    request.pop("key", None)
    try:
        send({"ev": "started", "pid": pid})
        with os.fdopen(r, "rb") as f:
            while True:
                line = f.readline(MAX_LINE)
                if not line:
                    break
                _write_all(out, line if line.endswith(b"\n") else line + b"\n")
    except BaseException:                                # the parent is gone: so is the child
        try:
            os.killpg(pid, 9)
        except OSError:
            os.kill(pid, 9)
        raise
    _, status = os.waitpid(pid, 0)
    send({"ev": "ended", "code": os.waitstatus_to_exitcode(status)})


def worker_main() -> None:
    """The worker: ``python -c "from diffusionlab.grading.child import worker_main;
    worker_main()" [--spawn]``. Reads JSON requests on stdin, one per line; answers with
    signed lines on stdout. With --spawn it runs (at most) one exercise itself."""
    out = os.dup(1)
    _to_null(1)                                          # stray prints must not reach `out`
    fork = hasattr(os, "fork") and "--spawn" not in sys.argv
    import torch                                         # the slow imports, once
    import pytest  # noqa: F401

    import tqdm

    from . import expect, sandbox, source  # noqa: F401
    torch.set_num_threads(1)
    tqdm.tqdm.monitor_interval = 0                       # no monitor thread in test processes
    for line in sys.stdin.buffer:
        request = json.loads(line)
        send = signer(out, bytes.fromhex(request["key"]), "w")
        if request["op"] == "collect":
            send({"ev": "collected", "files": _collect(request["files"])})
        elif request["op"] == "run" and fork:
            _run_forked(request, out, send)
        elif request["op"] == "run":
            send({"ev": "started", "pid": os.getpid()})
            _to_null(0, 2)
            code = 70
            try:
                code = run_exercise(request, out)
            finally:
                os._exit(code)
