"""Graded tests: one suite, run against the solutions or against a learner's folder.

    pytest tests/exercises                          # solutions/ (the default: proves the answers
                                                    # and that every mutant fails)
    pytest tests/exercises --exercises exercises    # your own work (all fail until you start)
    DIFFUSIONLAB_EXERCISES=path/to/folder pytest tests/exercises
    python -m diffusionlab grade [NN]               # the same tests, summed up per exercise

Adding exercise NN (the pattern every test_exNN_<topic>.py follows):

1. ``exercises/exNN_<topic>.py``: the functions with the library's signatures, a docstring
   with the equation (naming the paper equation) and a hint, body ``raise NotImplementedError``.
   Import only torch, math and diffusionlab (the grader's source check allows no more).
2. ``solutions/exNN_<topic>.py``: the same file, solved.
3. ``tests/exercises/test_exNN_<topic>.py``: plain test functions that take the ``exercise``
   fixture, ``ex = exercise("exNN_<topic>")``, call ``ex.some_function(...)`` and compare with
   the library (``diffusionlab.*``) or check a property, using ``expect_close`` /
   ``expect_tensor`` / ``expect_number`` from ``diffusionlab.grading`` (they check the type,
   shape and dtype, and print numbers with their relative error) or ``assert ..., "message"``.
   Messages say what is wrong in one line. Every test must call a stub (so it fails with
   NotImplementedError on the untouched stubs: the grader then says "not started") and each
   test should take well under a second. Statistical tests use samples shaped (n, 2), never
   (n,) or (n, 1): a (B,) coefficient that misses ``extract`` then fails to broadcast at
   once instead of building an (n, n) tensor. Right below the imports, declare the library's
   answer to each function, which the learner may not call (the grader names it, in the
   source and at run time)::

       REFERENCE = {
           "zero_conv": "diffusionlab.nn.controlnet.zero_conv",
           "inject": ("diffusionlab.nn.controlnet.ControlNet.forward",
                      "diffusionlab.nn.unet.UNet.forward"),
       }

4. ``tests/exercises/mutants/exNN_<topic>.py``: ``MUTANTS = {"what the learner did":
   (old, new), ...}``, at least five wrong answers learners actually write (a wrong sign, an
   off-by-one timestep, a missing square root, a constant from the docstring, a float64
   result, an ignored argument, the library called), each an edit of the solution
   (``old`` occurs once). ``test_mutants.py`` grades each one and fails while any passes:
   strengthen the suite until none does.

The grader finds the new files by their names; nothing else to register.

Every test starts from torch's defaults (``_fresh_torch_state``), and every function of the
learner's module is checked for changing its arguments in place (``_checked``).
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib.util
import inspect
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


def _held_tensors(value, path: str, out: list, depth: int = 0) -> None:
    """The tensors an argument holds, as (path, tensor): itself, a module's parameters and
    buffers, a dataclass's fields (a NoiseSchedule's betas), the items of a list or tuple."""
    if isinstance(value, torch.Tensor):
        out.append((path, value))
    elif isinstance(value, torch.nn.Module):
        out.extend((f"{path}.{k}", v) for k, v in value.state_dict(keep_vars=True).items())
    elif dataclasses.is_dataclass(value) and not isinstance(value, type) and depth < 2:
        for f in dataclasses.fields(value):
            _held_tensors(getattr(value, f.name), f"{path}.{f.name}", out, depth + 1)
    elif isinstance(value, (list, tuple)) and depth < 2:
        for i, item in enumerate(value):
            _held_tensors(item, f"{path}[{i}]", out, depth + 1)


def _modules_state(value) -> dict:
    """What a module argument is made of: submodules, their attributes and train/eval mode."""
    if not isinstance(value, torch.nn.Module):
        return {}
    return {name: (id(m), m.training, frozenset(vars(m))) for name, m in value.named_modules()}


def _checked(function):
    """``function`` that fails when it changes its arguments in place: an answer that edits
    the schedule or the network it is given could make the library's answer match its own."""
    signature = inspect.signature(function)

    @functools.wraps(function)
    def call(*args, **kwargs):
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError:
            return function(*args, **kwargs)
        held, modules = [], {}
        for name, value in bound.arguments.items():
            _held_tensors(value, name, held)
            modules[name] = _modules_state(value)
        saved = [(path, t, t.detach().clone()) for path, t in held]
        out = function(*args, **kwargs)
        for path, t, before in saved:
            if t.shape != before.shape or not torch.equal(t.detach(), before):
                pytest.fail(f"{function.__name__} changed its argument {path} in place: build "
                            f"new tensors (y = x * 2, not x *= 2)", pytrace=False)
        for name, value in bound.arguments.items():
            if modules[name] and _modules_state(value) != modules[name]:
                pytest.fail(f"{function.__name__} changed the module {name} it was given "
                            f"(its layers, attributes or train/eval mode): only call them",
                            pytrace=False)
        return out

    return call


class _Exercise:
    """The learner's module; a missing function is a clear failure, not an AttributeError, and
    each function is checked for changing its arguments in place."""

    def __init__(self, module, path: Path):
        self._module, self._path = module, path

    def __getattr__(self, name):
        try:
            value = getattr(self._module, name)
        except AttributeError:
            pytest.fail(f"{_shown(self._path)} has no `{name}` (keep the names the exercise gives)",
                        pytrace=False)
        if inspect.isfunction(value) and value.__module__ == self._module.__name__:
            return _checked(value)
        return value


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
def _fresh_torch_state():
    """Every graded test starts from torch's defaults, whatever the code of an earlier test
    left behind: gradients on, float32, seed 0, no anomaly mode; and one thread (graded tests
    use small tensors: one thread is fastest and immune to a busy machine)."""
    threads = torch.get_num_threads()
    torch.set_grad_enabled(True)
    torch.set_default_dtype(torch.float32)
    if torch.get_default_device().type != "cpu":
        torch.set_default_device(None)
    torch.autograd.set_detect_anomaly(False)
    if torch.are_deterministic_algorithms_enabled():       # (the call itself takes a second)
        torch.use_deterministic_algorithms(False)
    torch.manual_seed(0)
    torch.set_num_threads(1)
    yield
    torch.set_grad_enabled(True)
    torch.set_default_dtype(torch.float32)
    if torch.get_default_device().type != "cpu":
        torch.set_default_device(None)
    torch.set_num_threads(threads)
