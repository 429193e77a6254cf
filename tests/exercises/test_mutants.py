"""The suites are proven by what they reject: every mutant fails.

``mutants/exNN_<topic>.py`` lists the wrong answers learners write for exercise NN, as edits
of ``solutions/exNN_<topic>.py``. Each mutant is graded by the grader itself (one warm worker,
a forked test process per mutant), and must come out "failing", naming the test that caught
it, not "passed", and not failing for a reason that has nothing to do with the mistake (a
patch that no longer applies, a file that no longer imports).

Runs against the solutions only: skipped when another folder is graded (``--exercises``).
"""
from __future__ import annotations

import re
import runpy
from pathlib import Path

import pytest

from diffusionlab import grading

pytestmark = pytest.mark.slow        # the grader in child processes: not in `-m "not slow"`

MUTANTS_DIR = Path(__file__).parent / "mutants"
MIN_MUTANTS = 5
EXERCISES = grading.find_exercises()


def load_mutants(exercise: grading.Exercise) -> dict[str, list[tuple[str, str]]]:
    """{name: [(old, new), ...]} from mutants/<module>.py."""
    path = MUTANTS_DIR / f"{exercise.module}.py"
    assert path.is_file(), (
        f"exercise {exercise.number} has no mutants: add {path.relative_to(grading.REPO)} with "
        f"MUTANTS = {{'what the learner did': (old, new)}}, the wrong answers learners write "
        f"(see tests/exercises/conftest.py)")
    mutants = runpy.run_path(str(path))["MUTANTS"]
    return {name: [edits] if isinstance(edits, tuple) else list(edits)
            for name, edits in mutants.items()}


def mutate(source: str, edits: list[tuple[str, str]], name: str) -> str:
    for old, new in edits:
        n = source.count(old)
        assert n == 1, f"mutant {name!r}: {old!r} occurs {n} times in the solution (must be once)"
        source = source.replace(old, new)
    return source


@pytest.fixture(scope="module")
def grader(request):
    if request.config.getoption("--exercises", default=None):
        pytest.skip("mutants are edits of the solutions: run without --exercises")
    with grading.Grader(EXERCISES, timeout=60) as g:
        yield g


@pytest.mark.parametrize("exercise", EXERCISES, ids=[e.module for e in EXERCISES])
def test_every_mutant_fails_its_suite(exercise, grader, tmp_path):
    mutants = load_mutants(exercise)
    assert len(mutants) >= MIN_MUTANTS, \
        f"{exercise.module}: only {len(mutants)} mutants, at least {MIN_MUTANTS} expected"
    solution = (grading.SOLUTIONS_DIR / f"{exercise.module}.py").read_text()
    survivors, wrong_reason = [], []
    for i, (name, edits) in enumerate(mutants.items()):
        folder = tmp_path / f"{i:02d}_{re.sub(r'[^a-z0-9]+', '_', name.lower())[:40]}"
        folder.mkdir()
        (folder / f"{exercise.module}.py").write_text(mutate(solution, edits, name))
        r = grader.grade_one(exercise, folder)
        if r.status == "passed":
            survivors.append(name)
        elif r.status != "failing" or "cannot import" in r.detail or not (
                r.first_failing or r.detail.startswith(f"{exercise.module}.py line")):
            wrong_reason.append(f"{name}: {r.status}: {r.detail}")
    assert not survivors, f"{exercise.module}: these mutants pass the suite: {survivors}"
    assert not wrong_reason, f"{exercise.module}: mutants failing for the wrong reason: " \
                             f"{wrong_reason}"


def test_every_exercise_declares_its_reference():
    for e in EXERCISES:
        assert e.references, \
            f"{e.test_file.name} has no REFERENCE = {{function: 'diffusionlab.module.name'}}"
        stub = (grading.EXERCISES_DIR / f"{e.module}.py").read_text()
        for function, names in e.references.items():
            assert re.search(rf"^def {function}\(", stub, re.M), \
                f"{e.test_file.name}: REFERENCE names {function}, which {e.module}.py lacks"
            for name in names:
                assert _resolves(name), f"{e.test_file.name}: REFERENCE {name} does not exist"


def _resolves(dotted: str) -> bool:
    from diffusionlab.grading.sandbox import _locate
    try:
        _locate(dotted)
        return True
    except (ImportError, AttributeError):
        return False
