"""Prose cannot drift from the outputs: a measured number typed into a markdown cell must also
appear in an output of the same notebook (printed, or rendered with ``display(Markdown(...))``).

The rule (CONTRIBUTING.md, "The drift rule"). In a markdown cell these count as *measured
numbers*:

- a decimal: ``0.0044``, ``1.3``;
- a percent: ``9%``, ``100 %``;
- a ratio written with an attached x: ``1.6x``, ``48x`` (``32x32`` is a size, not a ratio);
- a number with a unit of time, size or signal: ``755 ms``, ``30 s``, ``36 dB``, ``4 MB``.

Not counted: plain integers (settings and definitions: T = 1000, 20 steps, rank 4, years, lesson
numbers), anything inside inline code or fenced code (that is code, not a claim), link targets,
references (``eq. 12``, ``section 4.3``, ``Table 1``, ``SD 1.5``, ``arXiv 2006.11239``), quoted
lines (``> ...``: the seeds' own words), and the ``**Runtime:**`` line (a budget, checked by
the notebook timings, not a measurement).

Each counted number must occur in some output of the notebook (a stream, ``text/plain``,
``text/markdown`` or ``text/html``), with the same unit, or be allowed: ``CONSTANTS`` for
numbers from the literature every lesson may quote, ``ALLOW[notebook]`` for a notebook's own
definitions. Keep both lists short; the fix is almost always to print the number.

The test only reads the .ipynb files, so it is fast and runs with ``pytest -m "not slow"``.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))

# Published constants any lesson may state without printing them (the paper is the source).
CONSTANTS = {
    "0.0001", "0.02",            # DDPM's linear beta_1, beta_T (Ho et al. 2020)
    "0.00085", "0.012",          # Stable Diffusion's scaled_linear beta range
    "0.008", "0.999",            # cosine schedule offset s and beta cap (Nichol & Dhariwal 2021)
    "0.18215",                   # SD 1.x's VAE latent scaling factor
    "7.5",                       # SD's default guidance scale (diffusers)
    "0.7",                       # guidance_rescale phi suggested by Lin et al. 2023
}

# Per notebook (file stem): definitions and settings the lesson states in prose.
# Each entry needs a reason; prefer printing the number.
ALLOW: dict[str, set[str]] = {
    # the KS test's critical value: D < 1.95 sqrt(2/N) with probability 99.9 % (a definition)
    "01_forward_process": {"1.95", "99.9 %", "0.5"},   # and the point x_0 = (1, -0.5), a setting
    # Nichol & Dhariwal's finding (skipping the first 20 % of the reverse process); 2x2 averaging
    # divides the noise variance by 4 (a definition)
    "02_noise_schedules": {"20 %", "4x"},
    # SD 1.x's caption dropout and its model card's scale range (literature); CFG's doubled
    # batch (a definition); the lesson's own thresholds for "clipped" and "off-palette"
    "09_classifier_free_guidance": {"10%", "1.5", "2x", "0.98", "0.3"},
    # SD's latent is 48x smaller than its image: 3*512*512 / (4*64*64), a definition
    "00_tour": {"48x"},
    "10_latent_diffusion_vae": {"48x"},
    # SD's inpainting training: caption dropout (literature)
    "14_inpainting": {"10%"},
}

# Notebooks whose prose is known to drift and is being fixed elsewhere: the test is expected to
# fail for them (strict: it turns into a failure the day they pass, so the entry gets removed).
PENDING: dict[str, str] = {}

# a number (not part of a longer number, name or version) with an optional unit
_TOKEN = re.compile(
    r"(?<![\w.])(?P<num>\d+(?:\.\d+)?)"
    r"(?:(?P<attached>[x×%])(?![\w\d])|\s?(?P<unit>%|dB|ms|µs|us|s|sec|min|MB|KB|kB|GB)(?![\w\d]))?"
    r"(?![\w]|\.\d)"
)
# words after which a number is a reference, not a measurement
_REFERENCE = re.compile(
    r"(?:\b(?:eq|eqs|equation|equations|section|sections|sec|table|tables|fig|figure|figures|"
    r"algorithm|appendix|lesson|lessons|sd|sdxl|diffusion|version|python|arxiv|clip|v|step|"
    r"steps|d31-q|d35-q|q)\.?|§)\s*\(?$",
    re.IGNORECASE,
)


def _prose(source: str) -> str:
    """The claim-bearing text of a markdown cell: code, links, quotes and the runtime line out."""
    text = re.sub(r"```.*?```", " ", source, flags=re.DOTALL)              # fenced code
    text = re.sub(r"`[^`\n]*`", " ", text)                                  # inline code
    text = re.sub(r"\]\([^)]*\)", "]", text)                                # link targets
    text = re.sub(r"<[^>\n]+>", " ", text)                                  # html tags
    lines = [ln for ln in text.splitlines()
             if not ln.lstrip().startswith(">") and not ln.lstrip(" *_").startswith("Runtime")]
    return "\n".join(lines)


def measured_numbers(source: str) -> list[str]:
    """The measured numbers a markdown cell states, as written (``'1.3'``, ``'9%'``, ``'755 ms'``)."""
    found = []
    text = _prose(source)
    for m in _TOKEN.finditer(text):
        num, unit = m.group("num"), m.group("attached") or m.group("unit")
        if unit is None and "." not in num:
            continue                                         # a plain integer: a setting
        if _REFERENCE.search(text[max(0, m.start() - 24):m.start()]):
            continue                                         # eq. 12, section 4.3, SD 1.5 ...
        if unit in ("x", "×") and re.match(r"\s*\d", text[m.end():m.end() + 2]):
            continue                                         # "32x 32": a size
        found.append(num + (unit if m.group("attached") else f" {unit}" if unit else ""))
    return found


def _outputs(nb: dict) -> str:
    parts = []
    for cell in nb["cells"]:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                parts.append("".join(out["text"]))
            for mime in ("text/plain", "text/markdown", "text/html"):
                value = out.get("data", {}).get(mime)
                if value is not None:
                    parts.append(value if isinstance(value, str) else "".join(value))
    return "\n".join(parts)


def appears_in(number: str, outputs: str) -> bool:
    """Whether ``number`` (as ``measured_numbers`` writes it) occurs in the outputs, same unit;
    ``9%`` also matches ``9 %`` and ``1.6x`` also matches ``1.6 x`` and ``1.6×``."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s?(.*)", number)
    num, unit = m.group(1), m.group(2)
    if unit in ("x", "×"):
        unit_pattern = r"\s?[x×]"
    elif unit:
        unit_pattern = r"\s?" + re.escape(unit)
    else:
        unit_pattern = ""
    pattern = r"(?<![\d.])" + re.escape(num) + unit_pattern + r"(?![\d]|\.\d)"
    return re.search(pattern, outputs) is not None


def drift(path: Path) -> list[str]:
    nb = json.loads(path.read_text(encoding="utf-8"))
    outputs = _outputs(nb)
    allowed = CONSTANTS | ALLOW.get(path.stem, set())
    problems = []
    for index, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "markdown":
            continue
        source = "".join(cell["source"])
        for number in measured_numbers(source):
            if number in allowed or number.split()[0] in allowed or appears_in(number, outputs):
                continue
            line = next((ln.strip() for ln in source.splitlines() if number.split()[0] in ln), "")
            problems.append(f"{path.name}, markdown cell {index}: '{number}' is in the prose but in "
                            f"no output of the notebook\n      ...{line[:110]}...")
    return problems


@pytest.mark.parametrize("path", [
    pytest.param(p, marks=pytest.mark.xfail(reason=PENDING[p.stem], strict=True)) if p.stem in PENDING
    else p for p in NOTEBOOKS], ids=[p.stem for p in NOTEBOOKS])
def test_markdown_states_no_number_that_no_output_shows(path):
    problems = drift(path)
    assert not problems, (
        "prose states measured numbers that the notebook never prints:\n  "
        + "\n  ".join(problems)
        + "\nFix: print the number from the cell that measures it, or render the sentence from the "
          "values with display(Markdown(f'...')), or say it without the number. A published "
          "constant or a definition goes in CONSTANTS / ALLOW in tests/test_prose_drift.py, with "
          "its reason (see CONTRIBUTING.md, 'The drift rule')."
    )


@pytest.mark.parametrize("text, expected", [
    ("about one second (0.8 to 1.3 s) beside", ["0.8", "1.3 s"]),
    ("the signal is 9% of it, FID 1.6x the floor, 36 dB, 755 ms", ["9%", "1.6x", "36 dB", "755 ms"]),
    ("20 steps, rank 4, T = 1000, in 2020, lesson 05", []),
    ("32x32 images, a 4 x 8 x 8 latent, SD 1.5 and SD 2.x, eq. 12, section 4.3", []),
    ("`beta = 0.02` in code, [a link](https://arxiv.org/abs/2006.11239)", []),
    ("> the seed says 7.5 and 0.3\n**Runtime:** about 30 s", []),
    ("scores MSE 0.0044 at t=10; ratio 2.7.", ["0.0044", "2.7"]),
    ("a range 0.8-1.3 s, a mean of -0.4, a table | 13.36 | 4.67 |", ["0.8", "1.3 s", "0.4", "13.36", "4.67"]),
    ("SD 1.x, v1.5, torch==2.14.1, 1e-4, $3\\cdot10^{-3}$, ## 3. Claim", []),
])
def test_the_rule_counts_measurements_and_skips_settings(text, expected):
    assert measured_numbers(text) == expected


def test_a_number_matches_only_the_same_number_and_unit():
    outputs = "MSE 0.0044 at t=10, prompt accuracy 9 %, FID 1.6x the floor (7.3), 755 ms"
    assert appears_in("0.0044", outputs) and appears_in("9%", outputs)
    assert appears_in("1.6x", outputs) and appears_in("755 ms", outputs)
    assert not appears_in("0.004", outputs) and not appears_in("7.3%", outputs)
    assert not appears_in("1.6", "11.6") and not appears_in("55 ms", outputs)


def test_a_drifted_notebook_fails_with_cell_and_number(tmp_path):
    nb = {"cells": [
        {"cell_type": "code", "source": ["print(1)"], "outputs": [
            {"output_type": "stream", "name": "stdout", "text": ["loss 0.25\n"]}]},
        {"cell_type": "markdown", "source": ["The loss is 0.25, down 40% from before."]},
    ]}
    path = tmp_path / "99_example.ipynb"
    path.write_text(json.dumps(nb))
    problems = drift(path)
    assert len(problems) == 1 and "markdown cell 1" in problems[0] and "'40%'" in problems[0]
