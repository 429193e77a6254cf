"""The executed course as static HTML: ``python -m diffusionlab site --out DIR``.

Every lesson is converted by nbconvert from the outputs stored in its ``.ipynb`` (nothing is
re-executed, so the pages show exactly what the tests check), figures inline as PNG data, and
an ``index.html`` lists the lessons and the question map (``diffusionlab.review``). Open
``DIR/index.html`` in any browser; no Jupyter, no Python needed to read it.
"""
from __future__ import annotations

import html
import re
from pathlib import Path

from .notebook_runner import find_notebooks, notebook_number

_STYLE = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}
table{border-collapse:collapse;font-size:90%}td,th{border:1px solid #ccc;padding:4px 6px;
vertical-align:top}th{background:#f4f4f4}"""


def _title(nb) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return ""


def convert(path: Path, out_dir: Path) -> Path:
    """One executed notebook -> ``out_dir/<name>.html`` from its stored outputs."""
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(path, as_version=4)
    body, _ = HTMLExporter(template_name="lab").from_notebook_node(nb)
    # links between lessons point at their pages, not at the .ipynb files
    body = re.sub(r'href="(\d\d[a-z]?_[\w-]+)\.ipynb', r'href="\1.html', body)
    target = out_dir / (path.stem + ".html")
    target.write_text(body, encoding="utf-8")
    return target


def build_site(out, numbers=()) -> Path:
    """Write every lesson (or ``numbers``) and the index into ``out``; returns the index path."""
    import nbformat
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    from .review import QUESTIONS, question_map

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"out must be a folder, got the file {out}")
    out.mkdir(parents=True, exist_ok=True)
    paths = find_notebooks(numbers)
    rows = []
    for path in paths:
        page = convert(path, out)
        title = _title(nbformat.read(path, as_version=4)) or path.stem
        rows.append(f'<li><a href="{page.name}">{html.escape(title)}</a></li>')
        print(f"  {notebook_number(path):>3}  {page.name}")
    index = out / "index.html"
    index.write_text(
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>diffusionlab</title>"
        f"<style>{_STYLE}</style></head><body><h1>diffusionlab: the course, executed</h1>"
        "<p>Every lesson as it was executed and tested (stored outputs, figures inline). "
        "To run them yourself: <code>pip install -r requirements.txt && jupyter lab "
        "notebooks/</code>.</p>"
        f"<h2>Lessons</h2><ul>{''.join(rows)}</ul>"
        f"<h2>Question map ({len(QUESTIONS)} interview questions)</h2>"
        + markdown2html_mistune(question_map(html_links=True)) + "</body></html>",
        encoding="utf-8")
    return index
