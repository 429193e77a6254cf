"""The grader on the stubs, the solutions, broken work, work that tries to pass without doing
the work, and a class.

The command-line tests run ``python -m diffusionlab grade`` in a subprocess, as a learner or a
teacher would, and read its table. The attacks use the ``Grader`` API (one warm worker for
all), twice: with the source check on (what a learner meets) and off (proving the second
layer, the sandbox of the test process, on its own).
"""
import csv
import os
import shutil
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest
import torch

from diffusionlab import grading
from diffusionlab.grading import cli, runner
from diffusionlab.grading.source import check_source

REPO = grading.REPO
SOLUTION_01 = (grading.SOLUTIONS_DIR / "ex01_forward.py").read_text()
Q_SAMPLE_BODY = "    abar = extract(schedule.alphas_cumprod, t, x0)\n"
WRONG_01 = SOLUTION_01.replace("abar.sqrt() * x0", "abar * x0")   # a wrong q_sample (eq. 4)

pytestmark = pytest.mark.slow        # the grader runs child processes: not in `-m "not slow"`


def grade(*args, timeout=300):
    """Run the grader; return (exit code, output lines, seconds)."""
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "diffusionlab", "grade", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ, TQDM_DISABLE="1"))
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out, f"the grader printed a traceback:\n{out}"
    return proc.returncode, out.splitlines(), time.monotonic() - start


def row(lines, number):
    """The table line of exercise ``number``."""
    found = [ln for ln in lines if ln.startswith(f"{number} ") and not ln.endswith(" passed.")]
    assert len(found) == 1, f"no single line for exercise {number} in:\n" + "\n".join(lines)
    return found[0]


def broken_copy(folder, edits):
    """A copy of solutions/ in ``folder`` with ``edits`` {file: (old, new)} applied; files
    mapped to None are left out."""
    folder.mkdir(parents=True)
    for path in sorted(grading.SOLUTIONS_DIR.glob("ex[0-9][0-9]_*.py")):
        if path.name in edits and edits[path.name] is None:
            continue
        text = path.read_text()
        if path.name in edits:
            old, new = edits[path.name]
            assert old in text, f"{path.name} no longer contains {old!r}; update this test"
            text = text.replace(old, new, 1)
        (folder / path.name).write_text(text)
    return folder


# --------------------------------------------------------------------------------------------
# Learners: stubs, solutions, broken work (command line)
# --------------------------------------------------------------------------------------------

def test_untouched_stubs_are_not_started():
    numbers = [e.number for e in grading.find_exercises()]
    code, lines, _ = grade(*numbers)
    assert len(numbers) >= 9
    for n in numbers:
        assert row(lines, n).endswith("not started"), row(lines, n)
    assert code == 1


def test_solutions_pass():
    numbers = [e.number for e in grading.find_exercises()]
    code, lines, _ = grade("--exercises", "solutions")
    for n in numbers:
        assert " passed (" in row(lines, n), row(lines, n)
    assert lines[-1] == f"{len(numbers)} of {len(numbers)} passed."
    assert code == 0


def test_broken_work_is_reported_failing_with_a_reason(tmp_path):
    folder = broken_copy(tmp_path / "work", {
        "ex01_forward.py": ("abar.sqrt() * x0", "abar * x0"),                       # wrong value
        "ex02_schedules.py": ("    return torch.linspace(1e-4",
                              "    1 / 0\n    return torch.linspace(1e-4"),          # exception
        "ex03_noise_prediction.py": ("/ abar.sqrt()\n", "/ (abar.sqrt() - abar.sqrt())\n"),  # NaN
        "ex04_ddpm.py": ("    return mean + variance ** 0.5 * noise",
                         "    return (mean + variance ** 0.5 * noise)[0]"),        # wrong shape
        "ex05_ddim.py": ("def ddim_step(", "def ddim_step(:\n    "),                 # syntax
    })
    # exercise 01 half done: q_posterior back to the stub (NotImplementedError)
    ex01 = (folder / "ex01_forward.py").read_text()
    ex01 = ex01[:ex01.index("def q_posterior")] + "def q_posterior(schedule, x0, x_t, t):\n" \
        "    raise NotImplementedError\n"
    (folder / "ex01_forward.py").write_text(ex01)
    code, lines, _ = grade("01", "02", "03", "04", "05", "--exercises", str(folder))
    assert code == 1
    for n in ("01", "02", "03", "04", "05"):
        assert "failing" in row(lines, n), row(lines, n)
    # the first real mistake is named, not the unfinished function, with the relative error
    assert "test_q_sample_matches_eq4 - q_sample: should be sqrt(abar_t) x0 + sqrt(1 - abar_t) " \
        "noise; got" in row(lines, "01"), row(lines, "01")
    assert "relative" in row(lines, "01"), row(lines, "01")
    assert "ZeroDivisionError" in row(lines, "02") and "in linear_betas" in row(lines, "02"), \
        row(lines, "02")
    assert "x0_from_eps returned NaN or inf" in row(lines, "03"), row(lines, "03")
    assert "should return shape (3, 2, 4, 4), got (2, 4, 4)" in row(lines, "04"), row(lines, "04")
    text = (folder / "ex05_ddim.py").read_text()
    line = text[:text.index("def ddim_step(")].count("\n") + 1
    assert "cannot import" in row(lines, "05"), row(lines, "05")
    assert f"line {line}: SyntaxError" in row(lines, "05"), row(lines, "05")
    assert not (folder / "__pycache__").exists(), "grading wrote bytecode into the learner's folder"


def test_endless_loop_huge_tensor_and_missing_file_do_not_stop_the_grader(tmp_path):
    folder = broken_copy(tmp_path / "work", {
        "ex01_forward.py": ("    if noise is None:\n        noise = torch.randn_like(x_prev)",
                            "    while True:\n        pass"),                          # endless
        "ex02_schedules.py": ("    return torch.linspace(1e-4",
                              "    torch.ones(60000, 60000)\n"
                              "    return torch.linspace(1e-4"),                    # 14 GB
        "ex03_noise_prediction.py": None,                                           # missing
    })
    code, lines, seconds = grade("01", "02", "03", "--exercises", str(folder), "--timeout", "5")
    assert code == 1
    assert "failing (0/8): time limit of 5 s exceeded in test_q_step_matches_eq2" \
        in row(lines, "01"), row(lines, "01")
    assert "test_linear_betas - RuntimeError" in row(lines, "02") and \
        "allocate" in row(lines, "02"), row(lines, "02")
    assert "missing (no file" in row(lines, "03"), row(lines, "03")
    assert seconds < 120


def test_bad_requests_are_one_line_errors(capsys, tmp_path):
    assert grading.main(["99"]) == 2
    assert grading.main(["x1"]) == 2
    assert grading.main(["01"], exercises="/no/such/folder") == 2
    assert grading.main(["01"], timeout=0) == 2
    assert grading.grade_class("/no/such/class") == 2
    assert grading.grade_class(tmp_path) == 2                  # no student folders
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("grade: no exercise 99 (there are: 01 02")
    assert out[1] == "grade: exercise numbers look like 01 or 5, got 'x1'"
    assert out[2] == "grade: no folder /no/such/folder"
    assert out[3].startswith("grade: the time limit must be a positive number")
    assert out[4] == "grade: no folder /no/such/class"
    assert out[5].startswith("grade: no student folders in ")


def test_check_grades_one_exercise(monkeypatch):
    calls = []
    monkeypatch.setattr(cli, "main", lambda numbers, exercises=None, summary=True:
                        calls.append((list(numbers), exercises, summary)) or 1)
    assert grading.check("03") is None
    assert calls == [(["03"], None, False)]


# --------------------------------------------------------------------------------------------
# Attacks: answers that try to pass without doing the work
# --------------------------------------------------------------------------------------------

def in_q_sample(code: str, base: str = WRONG_01) -> str:
    """``base`` with ``code`` run first thing in q_sample."""
    lines = "".join(f"    {ln}\n" for ln in code.splitlines())
    return base.replace(Q_SAMPLE_BODY, lines + Q_SAMPLE_BODY, 1)


ATTACKS = {   # name: (ex01_forward.py, found by the source check, found by the sandbox)
    "forges result lines on every fd, and the old log": (
        WRONG_01 + "import os\nfor fd in range(3, 64):\n    try:\n        os.write(fd, b'0' * 64 + "
                   "b' c0 {\"ev\":\"done\",\"status\":0}\\n')\n    except OSError:\n        pass\n"
                   "if os.environ.get('DIFFUSIONLAB_GRADE_LOG'):\n"
                   "    open(os.environ['DIFFUSIONLAB_GRADE_LOG'], 'a').write('{}')\n",
        "imports os", "the grader's channel received a line with a wrong signature"),
    "patches the grader and the test's assertions": (
        WRONG_01 + "import sys\nimport diffusionlab.grading.expect as e\n"
                   "e.expect_close = lambda name, got, *a, **k: got\n"
                   "for m in list(sys.modules.values()):\n"
                   "    if getattr(m, '__name__', '').startswith('test_ex01'):\n"
                   "        m.expect_close = e.expect_close\n",
        "imports sys", "expect_close was changed during the test"),
    "monkeypatches pytest's reports": (
        WRONG_01 + "import _pytest.reports, _pytest.runner\n"
                   "_pytest.reports.TestReport.outcome = property(lambda s: 'passed', "
                   "lambda s, v: None)\n",
        "imports _pytest.reports", "test_q_sample_matches_eq4 - q_sample: should be"),
    "calls pytest.skip": (
        in_q_sample("import pytest\npytest.skip('later')"),
        "imports pytest", "test_q_sample_matches_eq4 - was skipped: pytest.skip"),
    "calls pytest.xfail": (
        in_q_sample("import pytest\npytest.xfail('later')"),
        "imports pytest", "test_q_sample_matches_eq4 - was marked an expected failure"),
    "raises unittest.SkipTest": (
        in_q_sample("import unittest\nraise unittest.SkipTest('later')"),
        "imports unittest", "test_q_sample_matches_eq4 - was skipped"),
    "raises KeyboardInterrupt": (
        in_q_sample("raise KeyboardInterrupt"),
        "6 of 8 tests did not run: KeyboardInterrupt", "6 of 8 tests did not run: "
                                                       "KeyboardInterrupt"),
    "calls pytest.exit": (
        in_q_sample("import pytest\npytest.exit('done', returncode=0)"),
        "imports pytest", "6 of 8 tests did not run: Exit"),
    "calls os._exit(0)": (
        in_q_sample("import os\nos._exit(0)"),
        "imports os", "6 of 8 tests did not run: the test process ended early (exit code 0) "
                      "in test_q_sample_matches_eq4"),
    "calls sys.exit(0) when imported": (
        "import sys\nsys.exit(0)\n" + WRONG_01,
        "imports sys", "cannot import"),
    "replaces torch.allclose": (
        WRONG_01 + "torch.allclose = lambda *a, **k: True\n",
        "changes torch.allclose", "torch.allclose was changed during the test"),
    "calls the library's q_sample through a re-export": (
        SOLUTION_01.replace(Q_SAMPLE_BODY + "    return abar.sqrt() * x0 + (1.0 - abar).sqrt() "
                                            "* noise",
                            "    from diffusionlab.losses import q_sample as qs\n"
                            "    return qs(schedule, x0, t, noise)"),
        "uses diffusionlab.forward.q_sample, the library's answer: write it yourself",
        "your ex01_forward.q_sample calls diffusionlab.forward.q_sample: write it yourself"),
    "reads the solution file": (
        f"exec(open({str(grading.SOLUTIONS_DIR / 'ex01_forward.py')!r}).read())\n",
        "calls exec()", "ex01_forward.py) (line 1)"),
    "imports the solution module": (
        "import importlib\nm = importlib.import_module('solutions.ex01_forward')\n"
        "q_step, q_sample, q_posterior = m.q_step, m.q_sample, m.q_posterior\n",
        "imports importlib", "solutions"),
    "walks the garbage collector": (
        WRONG_01 + "import gc\nobjects = gc.get_objects()\n",
        "imports gc", "your code uses gc.get_objects"),
    "climbs the stack through a traceback": (
        in_q_sample("try:\n    raise ValueError\nexcept ValueError as e:\n"
                    "    frame = e.__traceback__.tb_frame.f_back"),
        "uses .__traceback__", "your code uses the attribute tb_frame"),
    "edits the schedule it is given": (
        SOLUTION_01.replace(Q_SAMPLE_BODY + "    return abar.sqrt() * x0 + (1.0 - abar).sqrt() "
                                            "* noise",
                            "    schedule.betas.zero_()\n    return x0.clone()"),
        "changed its argument schedule.betas in place",
        "changed its argument schedule.betas in place"),
    "returns a Tensor subclass": (
        WRONG_01.replace("    return abar * x0 + (1.0 - abar).sqrt() * noise",
                         "    return (abar * x0 + (1.0 - abar).sqrt() * noise).as_subclass(Liar)")
        + "\nclass Liar(torch.Tensor):\n    pass\n",
        "class Liar subclasses torch.Tensor", "should return a plain torch.Tensor, got a Liar"),
    "leaves a thread running": (
        WRONG_01 + "import threading, time\n"
                   "threading.Thread(target=time.sleep, args=(1000,), daemon=True).start()\n",
        "imports threading", "a thread was left running"),
}


@pytest.fixture(scope="module")
def graders():
    """{source check on?: Grader} over every exercise, each with one warm worker."""
    exercises = grading.find_exercises()
    with grading.Grader(exercises, timeout=30) as on, \
            grading.Grader(exercises, timeout=30, static=False) as off:
        yield {True: on, False: off}


def _ex(number):
    return grading.find_exercises([number])[0]


@pytest.mark.parametrize("static", [True, False], ids=["source check", "sandbox only"])
@pytest.mark.parametrize("name", list(ATTACKS))
def test_an_attack_is_not_a_pass_and_is_named(name, static, graders, tmp_path):
    source, by_source, by_sandbox = ATTACKS[name]
    (tmp_path / "ex01_forward.py").write_text(source)
    r = graders[static].grade_one(_ex("01"), tmp_path)
    assert r.status == "failing", f"{name}: {r.status} {r.detail}"
    assert (by_source if static else by_sandbox) in r.detail, f"{name}: {r.detail}"
    assert r.passed < r.total


def test_the_channel_is_not_in_the_environment_or_a_file(graders, tmp_path):
    """The test process gets no path or variable naming where results go: a learner's code
    that lists its environment and open files finds no channel to write to."""
    probe = in_q_sample("for k, v in __import__('os').environ.items():\n"
                        "    assert 'GRADE_LOG' not in k and 'diffusionlab-grade' not in v, k")
    (tmp_path / "ex01_forward.py").write_text(probe)
    r = graders[False].grade_one(_ex("01"), tmp_path)
    assert "test_q_sample_matches_eq4 - q_sample: should be" in r.detail, r.detail


def test_one_exercise_cannot_break_the_next(graders, tmp_path):
    """Global torch state, a busy thread and a slow end in exercise 01 do not reach 02 and 03:
    each runs in its own process, with its own time limit."""
    folder = broken_copy(tmp_path / "work", {"ex01_forward.py": (
        "import torch\n",
        "import torch\ntorch.set_default_dtype(torch.float64)\ntorch.set_grad_enabled(False)\n"
        "torch.manual_seed(123)\ntorch.set_num_threads(2)\nimport threading\n\n\n"
        "def spin():\n    while True:\n        pass\n\n\n"
        "threading.Thread(target=spin, daemon=True).start()\n")})
    results = {r.exercise.number: r for r in (graders[False].grade_one(_ex(n), folder)
                                              for n in ("01", "02", "03"))}
    assert results["01"].status == "failing", results["01"].detail
    assert results["02"].ok and results["03"].ok, (results["02"].detail, results["03"].detail)
    assert results["03"].seconds < 20, results["03"].seconds
    assert torch.get_default_dtype() == torch.float32 and torch.is_grad_enabled()


def test_spawned_workers_grade_like_forked_ones():
    """Where os.fork is missing, one fresh worker per exercise: same verdicts."""
    exercise = _ex("02")
    with grading.Grader([exercise], timeout=60, spawn=True) as grader:
        assert grader.grade_one(exercise, grading.SOLUTIONS_DIR).ok
        assert grader.grade_one(exercise, grading.EXERCISES_DIR).status == "not started"


# --------------------------------------------------------------------------------------------
# A class
# --------------------------------------------------------------------------------------------

def test_a_class_is_graded_into_one_table(tmp_path):
    klass = tmp_path / "class"
    shutil.copytree(grading.SOLUTIONS_DIR, klass / "correct")
    partial = shutil.copytree(grading.EXERCISES_DIR, klass / "partial" / "exercises")
    shutil.copy(grading.SOLUTIONS_DIR / "ex01_forward.py", partial)
    ex02 = (grading.SOLUTIONS_DIR / "ex02_schedules.py").read_text()
    (partial / "ex02_schedules.py").write_text(ex02.replace("math.pi / 2) ** 2", "math.pi / 2)"))
    cheat = shutil.copytree(grading.EXERCISES_DIR, klass / "malicious")
    (cheat / "ex01_forward.py").write_text(
        "from diffusionlab.forward import q_step, q_sample, q_posterior\n")
    (cheat / "ex02_schedules.py").write_text(ex02.replace(
        "    return torch.linspace(1e-4",
        "    raise KeyboardInterrupt\n    return torch.linspace(1e-4"))
    (cheat / "ex03_noise_prediction.py").write_text(
        (grading.SOLUTIONS_DIR / "ex03_noise_prediction.py").read_text()
        + "torch.allclose = lambda *a, **k: True\n")
    for name in ("ex04_ddpm.py", "ex05_ddim.py"):
        (cheat / name).write_text(f"exec(open('{grading.SOLUTIONS_DIR / name}').read())\n")
    start = time.monotonic()
    code, lines, _ = grade("--class", str(klass), "--timeout", "30")
    seconds = time.monotonic() - start
    assert code == 0, "\n".join(lines)
    exercises = grading.find_exercises()
    table = {ln.split()[0]: ln.split()[1:] for ln in lines
             if ln.split() and ln.split()[0] in ("correct", "partial", "malicious")
             and "/" in ln.split()[-1] and len(ln.split()) == len(exercises) + 2}
    assert table["correct"] == ["pass"] * len(exercises) + [f"{len(exercises)}/{len(exercises)}"]
    assert table["partial"][:3] == ["pass", "FAIL", "----"], table["partial"]
    assert table["malicious"][-1] == f"0/{len(exercises)}", table["malicious"]
    assert "FAIL" in table["malicious"][:5] and "pass" not in table["malicious"], table
    with open(klass / "grades.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3 * len(exercises)
    got = {(r["student"], r["exercise"]): r for r in rows}
    assert got[("partial", "02")]["status"] == "failing"
    assert got[("partial", "02")]["first_failing_test"] == "test_cosine_betas"
    assert got[("partial", "03")]["status"] == "not started"
    assert "write it yourself" in got[("malicious", "01")]["detail"]
    assert "KeyboardInterrupt" in got[("malicious", "02")]["detail"]
    assert "torch.allclose" in got[("malicious", "03")]["detail"]
    assert "exec()" in got[("malicious", "04")]["detail"]
    print(f"class of 3 graded in {seconds:.1f} s")


# --------------------------------------------------------------------------------------------
# Messages, the source check and verdicts, in this process
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("failure, expected", [
    (NotImplementedError(), "NotImplementedError"),
    (AssertionError("q_sample: off by 0.3\nassert False"), "q_sample: off by 0.3"),
    (ValueError("bad\nmore"), "ValueError: bad"),
    (RuntimeError("The size of tensor a (6) must match the size of tensor b (4) at non-singleton "
                  "dimension 3"), "RuntimeError: The size of tensor a (6) must match the size of "
                                  "tensor b (4) at non-singleton dimension 3 (a (B,) coefficient "
                                  "against a (B, ...) batch? `extract` reshapes it)"),
])
def test_describe_failure_is_one_line(failure, expected):
    assert grading.describe_failure(failure) == expected


def test_expect_close_says_where_and_by_how_much():
    want = torch.zeros(2, 3)
    got = want.clone()
    got[1, 2] = 0.5
    with pytest.raises(AssertionError, match=r"^f: should be zero; got 0.5, expected 0 \(error "
                                             r"0.5\) at index \(1, 2\) \(t=7\); largest error "
                                             r"0.5$"):
        grading.expect_close("f", got, want, "zero", t=torch.tensor([3, 7]))
    with pytest.raises(AssertionError, match="f returned None: did you forget `return`"):
        grading.expect_close("f", None, want)
    with pytest.raises(AssertionError, match=r"f should return shape \(2, 3\), got \(3, 2\)"):
        grading.expect_close("f", got.T, want)
    with pytest.raises(AssertionError, match=r"f should return dtype torch.float32, got "
                                             r"torch.float64 \(a float64 value mixed in"):
        grading.expect_close("f", want.double(), want)
    bad = want.clone()
    bad[0, 1] = float("nan")
    with pytest.raises(AssertionError, match="f returned NaN or inf in 1 of 6 entries"):
        grading.expect_close("f", bad, want)


def test_numbers_that_agree_to_4_digits_are_shown_with_more():
    assert grading.gap(0.18172, 0.18181) == "got 0.1817, expected 0.1818 (5e-4 relative, " \
                                            "check float64)"
    assert grading.gap(0.181812, 0.181818) == "got 0.18181, expected 0.18182 (3e-5 relative, " \
                                              "check float64)"
    assert grading.gap(2.0, 1.0) == "got 2, expected 1 (1 relative)"
    with pytest.raises(AssertionError, match=r"^scaling_factor: should be 1 / std; got 0.1822, "
                                             r"expected 0.1818 \(2e-3 relative\)$"):
        grading.expect_number("scaling_factor", 0.18215, 0.1818, "1 / std", rel=1e-4)
    with pytest.raises(AssertionError, match="psnr should return a Python float, got a tensor"):
        grading.expect_number("psnr", torch.tensor(20.0), 20.0)
    assert grading.expect_number("psnr", 20.0000001, 20.0) == 20.0000001


def test_the_source_check_names_what_is_not_allowed(tmp_path):
    refs = {"q_sample": ("diffusionlab.forward.q_sample",)}

    def problems(text):
        (tmp_path / "ex.py").write_text(text)
        return check_source(tmp_path / "ex.py", refs)

    stub = (grading.EXERCISES_DIR / "ex01_forward.py").read_text()
    assert problems(stub) == [] and problems(SOLUTION_01) == []
    assert problems("import diffusionlab.forward as f\nx = f.q_sample\n") == [
        "line 2: uses diffusionlab.forward.q_sample, the library's answer: write it yourself"]
    assert problems("from diffusionlab.forward import *\n")[0].startswith(
        "line 1: imports * from diffusionlab.forward, which holds diffusionlab.forward.q_sample")
    assert "imports diffusionlab.grading" in problems("from diffusionlab import grading\n")[0]
    assert "calls getattr()" in problems("import torch\ngetattr(torch, 's' + 'ys')\n")[0]
    assert "uses .sys" in problems("import torch\ntorch.sys.exit()\n")[0]
    assert "uses __builtins__" in problems("__builtins__['exit']()\n")[0]
    assert "refers to the solutions" in problems("p = '../solutions/ex01_forward.py'\n")[0]
    assert "class A defines __eq__" in problems("class A:\n    def __eq__(s, o):\n"
                                                "        return True\n")[0]
    assert problems("def f(:\n") == []               # the import reports a SyntaxError


def _run(**fields):
    return runner._Run(**{"done": 0, **fields})


def _verdict(ids, run):
    exercise = SimpleNamespace(module="ex01_forward")
    return runner.verdict(exercise, ids, run, 60.0)


def test_only_tests_that_ran_and_passed_count():
    ids = [f"t.py::test_{i}" for i in range(7)]
    passed = {i: {"outcome": "passed"} for i in ids}
    assert _verdict(ids, _run(results=passed)).ok
    few = {i: passed[i] for i in ids[:4]}
    r = _verdict(ids, _run(results=few, done=None, exit_code=0, running=ids[4]))
    assert r.detail == "3 of 7 tests did not run: the test process ended early (exit code 0) " \
                       "in test_4: os._exit, sys.exit or a crash in your code?"
    skipped = dict(passed, **{ids[2]: {"outcome": "skipped", "message": "Skipped"}})
    r = _verdict(ids, _run(results=skipped))
    assert not r.ok and r.detail.startswith("test_2 - was skipped: pytest.skip") and \
        r.first_failing == "test_2"
    r = _verdict(ids, _run(results=passed, tampered="a line with a wrong signature"))
    assert not r.ok and "did your code write to it?" in r.detail
    r = _verdict(ids, _run(results=passed, violations=[{"id": ids[0], "message": "m"}]))
    assert not r.ok and r.detail == "test_0 - m"
    r = _verdict(ids, _run(results=dict(passed, **{"t.py::test_extra": {"outcome": "passed"}})))
    assert not r.ok and "did not collect" in r.detail
    stub = {i: {"outcome": "failed", "message": "q is not implemented yet",
                "not_implemented": True} for i in ids}
    assert _verdict(ids, _run(results=stub, done=1)).status == "not started"
