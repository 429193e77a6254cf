"""Assertions for the graded tests: one line that says what is wrong, with numbers.

    expect_tensor("q_sample", got, shape, dtype)   a plain floating-point tensor, finite,
                                                   of that shape (and dtype, when given)
    expect_close("q_sample", got, want, "what")    ... of want's shape and dtype, close to it
    expect_number("psnr", got, want, "what")       a Python float (or int) close to want
    gap(got, want)                                 "got 0.1817, expected 0.1818 (5e-4 relative,
                                                   check float64)"

Numbers are printed with as many digits as it takes to tell them apart (at least 4), and
always with their relative error: two values that agree to 4 digits are shown as such, with
the usual cause (float32 arithmetic where float64 was needed, a rounded constant).
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

NEAR_MISS = 1e-3          # a relative error below this is a precision problem, not a formula


def _digits(a: float, b: float) -> tuple[str, str]:
    """``a`` and ``b`` with 4 significant digits, or as many more as tell them apart."""
    for p in range(4, 13):
        sa, sb = f"{a:.{p}g}", f"{b:.{p}g}"
        if sa != sb:
            return sa, sb
    return f"{a:.4g}", f"{b:.4g}"


def _short(x: float) -> str:
    """1 significant digit, exponent without padding: 5e-4, 0.03, 2."""
    text = f"{x:.0e}" if 0 < abs(x) < 0.01 else f"{x:.1g}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        text = f"{mantissa}e{int(exponent)}"
    return text


def gap(got: float, want: float) -> str:
    """"got 0.1817, expected 0.1818 (5e-4 relative, check float64)": the two values and how
    far apart they are."""
    g, e = _digits(float(got), float(want))
    err = abs(float(got) - float(want))
    if want == 0 or not math.isfinite(err):
        return f"got {g}, expected {e} (error {_short(err)})"
    rel = err / abs(float(want))
    hint = ", check float64" if rel < NEAR_MISS else ""
    return f"got {g}, expected {e} ({_short(rel)} relative{hint})"


def expect_tensor(name: str, got, shape=None, dtype=None) -> torch.Tensor:
    """Fail unless ``got`` is a plain, finite, floating-point torch.Tensor (of ``shape`` and
    ``dtype`` when given). ``name`` is what the learner wrote, e.g. "q_sample"."""
    __tracebackhide__ = True
    import torch
    if got is None:
        raise AssertionError(f"{name} returned None: did you forget `return`?")
    if not isinstance(got, torch.Tensor):
        raise AssertionError(f"{name} should return a torch.Tensor, got {type(got).__name__}")
    if type(got) is not torch.Tensor and type(got) is not torch.nn.Parameter:
        raise AssertionError(f"{name} should return a plain torch.Tensor, got a "
                             f"{type(got).__name__} (a subclass of Tensor)")
    if not got.is_floating_point():
        raise AssertionError(f"{name} should return a floating-point tensor, got dtype {got.dtype}")
    if shape is not None and tuple(got.shape) != tuple(shape):
        raise AssertionError(f"{name} should return shape {tuple(shape)}, got {tuple(got.shape)}")
    if dtype is not None and got.dtype != dtype:
        hint = " (a float64 value mixed in: `extract` casts schedule values, or .to(x.dtype))" \
            if got.dtype == torch.float64 and dtype == torch.float32 else ""
        raise AssertionError(f"{name} should return dtype {dtype}, got {got.dtype}{hint}")
    bad = ~torch.isfinite(got.detach())
    if bool(bad.any()):
        raise AssertionError(f"{name} returned NaN or inf in {int(bad.sum())} of {got.numel()} "
                             f"entries (a division by zero? sqrt of a negative number?)")
    return got


def expect_close(name: str, got, expected: torch.Tensor, what: str = "", *, atol: float = 1e-5,
                 rtol: float = 1e-4, t=None, dtype="expected") -> torch.Tensor:
    """Fail unless ``got`` has ``expected``'s shape and dtype and its values:
    |got - expected| <= atol + rtol |expected| everywhere.

    ``what`` names the right answer ("sqrt(abar_t) x0 + sqrt(1 - abar_t) eps");
    ``t`` (the timesteps of the batch) adds "(t=...)" for the worst element;
    ``dtype=None`` accepts any floating dtype (the values are compared in float64).
    """
    __tracebackhide__ = True
    import torch

    want_dtype = expected.dtype if dtype == "expected" else dtype
    got = expect_tensor(name, got, expected.shape, want_dtype)
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
        largest = f"; largest error {_short(float(err.max()))}" if e.numel() > 1 else ""
        raise AssertionError(f"{name}:{should} {gap(float(g[idx]), float(e[idx]))}{where}"
                             f"{largest}")
    return got


def expect_number(name: str, got, expected: float, what: str = "", *, rel: float = 1e-6,
                  abs_tol: float = 0.0) -> float:
    """Fail unless ``got`` is a Python float or int (not a tensor) within
    ``abs_tol + rel |expected|`` of ``expected``."""
    __tracebackhide__ = True
    if type(got) not in (float, int):
        kind = "a tensor: use float(...) or .item()" if type(got).__name__ == "Tensor" \
            else type(got).__name__
        raise AssertionError(f"{name} should return a Python float, got {kind}")
    if not math.isfinite(got):
        raise AssertionError(f"{name} returned {got} (a division by zero? log of 0?)")
    if abs(got - expected) > abs_tol + rel * abs(expected):
        should = f" should be {what};" if what else ""
        raise AssertionError(f"{name}:{should} {gap(got, expected)}")
    return float(got)
