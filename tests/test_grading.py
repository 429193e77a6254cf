"""The grader (`python -m diffusionlab grade`) on the stubs, the solutions and broken work.

Each test runs the grader as a learner would, in a subprocess, and reads its table.
"""
import os
import subprocess
import sys
import time

import pytest

from diffusionlab import grading

REPO = grading.REPO


def grade(*args, timeout=240):
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
    found = [ln for ln in lines if ln.startswith(f"{number} ")]
    assert len(found) == 1, f"no single line for exercise {number} in:\n" + "\n".join(lines)
    return found[0]


def broken_copy(tmp_path, edits):
    """A copy of solutions/ with ``edits`` {file: (old, new)} applied; files mapped to None
    are left out."""
    folder = tmp_path / "work"
    folder.mkdir()
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


@pytest.mark.slow
def test_untouched_stubs_are_not_started():
    numbers = [e.number for e in grading.find_exercises()]
    code, lines, _ = grade(*numbers)
    assert len(numbers) >= 5
    for n in numbers:
        assert row(lines, n).endswith("not started"), row(lines, n)
    assert code == 1


@pytest.mark.slow
def test_solutions_pass():
    code, lines, _ = grade("01", "02", "03", "04", "05", "--exercises", "solutions")
    for n in ("01", "02", "03", "04", "05"):
        assert " passed (" in row(lines, n), row(lines, n)
    assert lines[-1] == "5 of 5 passed."
    assert code == 0


@pytest.mark.slow
def test_broken_work_is_reported_failing_with_a_reason(tmp_path):
    folder = broken_copy(tmp_path, {
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
    # the first real mistake is named, not the unfinished function
    assert "test_q_sample_matches_eq4 - q_sample: should be sqrt(abar_t) x0 + sqrt(1 - abar_t) " \
        "noise; got" in row(lines, "01"), row(lines, "01")
    assert "ZeroDivisionError" in row(lines, "02") and "in linear_betas" in row(lines, "02"), \
        row(lines, "02")
    assert "x0_from_eps returned NaN or inf" in row(lines, "03"), row(lines, "03")
    assert "should return shape (3, 2, 4, 4), got (2, 4, 4)" in row(lines, "04"), row(lines, "04")
    text = (folder / "ex05_ddim.py").read_text()
    line = text[:text.index("def ddim_step(")].count("\n") + 1
    assert "cannot import" in row(lines, "05"), row(lines, "05")
    assert f"line {line}: SyntaxError" in row(lines, "05"), row(lines, "05")
    assert not (folder / "__pycache__").exists(), "grading wrote bytecode into the learner's folder"


@pytest.mark.slow
def test_endless_loop_crash_and_missing_file_do_not_stop_the_grader(tmp_path):
    folder = broken_copy(tmp_path, {
        "ex01_forward.py": ("    if noise is None:\n        noise = torch.randn_like(x_prev)",
                            "    while True:\n        pass"),                          # endless
        "ex02_schedules.py": ("    return torch.linspace(1e-4",
                              "    import os; os._exit(3)\n"
                              "    return torch.linspace(1e-4"),                    # crash
        "ex03_noise_prediction.py": None,                                           # missing
    })
    code, lines, seconds = grade("01", "02", "03", "--exercises", str(folder), "--timeout", "5")
    assert code == 1
    assert "failing: time limit of 5 s exceeded in test_q_step" in row(lines, "01"), \
        row(lines, "01")
    assert "failing: the test process died (exit code 3) in test_linear_betas" \
        in row(lines, "02"), row(lines, "02")
    assert "missing (no file" in row(lines, "03"), row(lines, "03")
    assert seconds < 200


def test_bad_requests_are_one_line_errors(capsys):
    assert grading.main(["99"]) == 2
    assert grading.main(["x1"]) == 2
    assert grading.main(["01"], exercises="/no/such/folder") == 2
    assert grading.main(["01"], timeout=0) == 2
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("grade: no exercise 99 (there are: 01 02")
    assert out[1] == "grade: exercise numbers look like 01 or 5, got 'x1'"
    assert out[2] == "grade: no folder /no/such/folder"
    assert out[3].startswith("grade: the time limit must be a positive number")


@pytest.mark.parametrize("failure, expected", [
    (NotImplementedError(), "NotImplementedError"),
    (AssertionError("q_sample: off by 0.3\nassert False"), "q_sample: off by 0.3"),
    (ValueError("bad\nmore"), "ValueError: bad"),
])
def test_describe_failure_is_one_line(failure, expected):
    assert grading.describe_failure(failure) == expected


def test_expect_close_says_where_and_by_how_much():
    import torch

    want = torch.zeros(2, 3)
    got = want.clone()
    got[1, 2] = 0.5
    with pytest.raises(AssertionError, match=r"^f: should be zero; got 0.5, expected 0 at index "
                                             r"\(1, 2\) \(t=7\); largest error 0.5$"):
        grading.expect_close("f", got, want, "zero", t=torch.tensor([3, 7]))
    with pytest.raises(AssertionError, match="f returned None: did you forget `return`"):
        grading.expect_close("f", None, want)
    with pytest.raises(AssertionError, match=r"f should return shape \(2, 3\), got \(3, 2\)"):
        grading.expect_close("f", got.T, want)
    bad = want.clone()
    bad[0, 1] = float("nan")
    with pytest.raises(AssertionError, match="f returned NaN or inf in 1 of 6 entries"):
        grading.expect_close("f", bad, want)


def test_check_grades_one_exercise(monkeypatch):
    calls = []
    monkeypatch.setattr(grading, "main", lambda numbers, exercises=None, summary=True:
                        calls.append((list(numbers), exercises, summary)) or 1)
    assert grading.check("03") is None
    assert calls == [(["03"], None, False)]
