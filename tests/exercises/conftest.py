"""Graded tests: one suite, run against the solutions or against a learner's folder.

    pytest tests/exercises                          # solutions/ (the default: proves the answers)
    pytest tests/exercises --exercises exercises    # your own work (all fail until you start)
    DIFFUSIONLAB_EXERCISES=path/to/folder pytest tests/exercises
    python -m diffusionlab grade [NN]               # the same tests, summed up per exercise

Adding exercise NN (the pattern every test_exNN_<topic>.py follows):

1. ``exercises/exNN_<topic>.py``: the functions with the library's signatures, a docstring
   with the equation (naming the paper equation) and a hint, body ``raise NotImplementedError``.
2. ``solutions/exNN_<topic>.py``: the same file, solved.
3. ``tests/exercises/test_exNN_<topic>.py``: plain test functions that take the ``exercise``
   fixture, ``ex = exercise("exNN_<topic>")``, call ``ex.some_function(...)`` and compare with
   the library (``diffusionlab.*``) or check a property, using ``expect_close`` /
   ``expect_tensor`` from ``diffusionlab.grading`` or ``assert ..., "message"``.
   Messages say what is wrong in one line. Every test must call a stub (so it fails with
   NotImplementedError on the untouched stubs: the grader then says "not started") and each
   test should take well under a second.
The grader finds the new file by its name; nothing else to register.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import traceback
from pathlib import Path

import pytest
import torch

from diffusionlab.grading import ENV_FOLDER, SOLUTIONS_DIR


def exercises_folder(config) -> Path:
    """--exercises DIR, else $DIFFUSIONLAB_EXERCISES, else the repo's solutions/."""
    value = config.getoption("--exercises", default=None) or os.environ.get(ENV_FOLDER)
    if not value:
        return SOLUTIONS_DIR
    path = Path(value).expanduser()
    if not path.is_absolute():
        path = Path(config.invocation_params.dir) / path
    return path.resolve()


def pytest_report_header(config):
    return f"graded exercises from: {exercises_folder(config)}"


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def load_exercise(path: Path):
    """Import ``path`` under a name unique to its folder; turn any import problem into a
    one-line test failure that names the file and the line."""
    if not path.is_file():
        pytest.fail(f"missing: there is no file {_shown(path)}", pytrace=False)
    digest = hashlib.sha1(str(path.parent).encode()).hexdigest()[:10]
    name = f"_graded_{digest}_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module               # dataclasses and pickling look modules up here
    problem = None
    dont_write = sys.dont_write_bytecode
    sys.dont_write_bytecode = True           # no __pycache__ in the learner's folder
    try:
        spec.loader.exec_module(module)
    except SyntaxError as err:               # also IndentationError, TabError
        problem = f"line {err.lineno}: {type(err).__name__}: {err.msg}"
    except (Exception, SystemExit) as err:
        lines = [ln for f, ln in traceback.walk_tb(err.__traceback__)
                 if Path(f.f_code.co_filename).resolve() == path]
        line = f"line {lines[-1]}: " if lines else ""
        text = str(err).strip().splitlines()
        problem = f"{line}{type(err).__name__}: {text[0] if text else ''}"
    finally:
        sys.dont_write_bytecode = dont_write
    if problem is not None:
        sys.modules.pop(name, None)
        pytest.fail(f"cannot import {_shown(path)}, {problem}".rstrip(": "), pytrace=False)
    return module


class _Exercise:
    """The learner's module; a missing function is a clear failure, not an AttributeError."""

    def __init__(self, module, path: Path):
        self._module, self._path = module, path

    def __getattr__(self, name):
        try:
            return getattr(self._module, name)
        except AttributeError:
            pytest.fail(f"{_shown(self._path)} has no `{name}` (keep the names the exercise gives)",
                        pytrace=False)


_cache: dict[tuple[Path, int], object] = {}


@pytest.fixture
def exercise(request):
    """``exercise("ex01_forward")`` -> the learner's (or the solution's) module."""
    folder = exercises_folder(request.config)

    def load(name: str):
        path = folder / f"{name}.py"
        key = (path, path.stat().st_mtime_ns if path.is_file() else -1)
        if key not in _cache:
            _cache[key] = _Exercise(load_exercise(path), path)
        return _cache[key]

    return load


@pytest.fixture(autouse=True)
def _one_thread():
    """Graded tests use small tensors: one thread is fastest and immune to a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
