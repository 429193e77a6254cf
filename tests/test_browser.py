"""The course in a real browser: JupyterLab on 127.0.0.1, headless Chromium (Debian's
``chromium`` driven by Playwright's Python client), every cell of two fast lessons run from
the page, no error output, and a widget moved until its figure changes.

Slow (about a minute and a half; it starts a Jupyter server and a browser). It skips only when
Chromium or Playwright is missing locally; under CI (``DIFFUSIONLAB_CI=1``, set by ``.ci/run``,
which installs both) it fails instead, so a broken install cannot pass as a skip.
"""
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from diffusionlab.notebook_runner import NOTEBOOK_DIR, NOTEBOOK_ENV

pytestmark = pytest.mark.slow
CHROMIUM = os.environ.get("DIFFUSIONLAB_CHROMIUM", "/usr/bin/chromium")
LESSONS = ("02_noise_schedules.ipynb", "18_interview_review.ipynb")


def _require(condition: bool, reason: str):
    if condition:
        return
    if os.environ.get("DIFFUSIONLAB_CI"):
        pytest.fail(f"{reason} (under CI it must be installed: see .ci/run)")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server on a random free port of 127.0.0.1, with a token, serving a copy of
    notebooks/ (so nothing the browser does can touch the committed notebooks)."""
    root = tmp_path_factory.mktemp("lab")
    shutil.copytree(NOTEBOOK_DIR, root / "notebooks")
    port, token = _free_port(), secrets.token_hex(16)
    env = {**os.environ, **NOTEBOOK_ENV,
           "PYTHONPATH": os.pathsep.join([str(NOTEBOOK_DIR.parent), os.environ.get("PYTHONPATH", "")]),
           "JUPYTER_CONFIG_DIR": str(root / "config"), "JUPYTER_RUNTIME_DIR": str(root / "runtime")}
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
           f"--LabApp.workspaces_dir={root / 'workspaces'}", "--expose-app-in-browser",
           "--ServerApp.port_retries=0"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    log = open(root / "server.log", "w")
    server = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            try:
                urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if server.poll() is not None:
                    break
                time.sleep(0.5)
        else:
            pytest.fail("JupyterLab did not answer within 120 s")
        if server.poll() is not None:
            pytest.fail(f"JupyterLab exited: {(root / 'server.log').read_text()[-2000:]}")
        yield dict(url=url, token=token, root=root)
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


@pytest.fixture(scope="module")
def browser():
    _require(Path(CHROMIUM).is_file(), f"no Chromium at {CHROMIUM} (apt-get install -y chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _require(False, "the playwright package is not installed (pip install -r requirements.txt)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                              args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield b
        b.close()


RUN_ALL = """async () => {
    const app = window.jupyterapp;
    const panel = app.shell.currentWidget;
    await panel.context.ready;
    await panel.sessionContext.ready;
    return await app.commands.execute('notebook:run-all-cells');
}"""

CELL_STATE = """() => {
    const prompts = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt')];
    return {cells: prompts.length,
            done: prompts.filter(p => /\\[\\d+\\]/.test(p.textContent)).length,
            busy: prompts.filter(p => p.textContent.includes('*')).length,
            errors: document.querySelectorAll('.jp-Notebook [data-mime-type="application/vnd.jupyter.stderr"]').length,
            error_text: [...document.querySelectorAll('.jp-Notebook [data-mime-type="application/vnd.jupyter.stderr"]')]
                        .map(e => e.textContent.slice(0, 500)).join('\\n---\\n')};
}"""


def _open_and_run(browser, lab, name, shots):
    # a fresh browser context and a workspace of its own: no tab of another lesson is restored
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.goto(f"{lab['url']}/lab/workspaces/{Path(name).stem}/tree/notebooks/{name}"
              f"?token={lab['token']}")
    page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell.currentWidget "
                           "&& window.jupyterapp.shell.currentWidget.content", timeout=120_000)
    page.wait_for_selector(".jp-Notebook .jp-CodeCell", timeout=120_000)
    start = time.perf_counter()
    ok = page.evaluate(RUN_ALL)
    page.wait_for_function("() => { const p = [...document.querySelectorAll("
                           "'.jp-Notebook .jp-CodeCell .jp-InputPrompt')]; return p.length > 0 && "
                           "p.every(x => /\\[\\d+\\]/.test(x.textContent)); }", timeout=300_000)
    seconds = time.perf_counter() - start
    state = page.evaluate(CELL_STATE)
    if shots:
        page.screenshot(path=str(Path(shots) / f"{Path(name).stem}.png"), full_page=False)
    assert ok is not False, f"{name}: run-all reported a failure"
    assert state["done"] == state["cells"] and state["busy"] == 0, state
    assert state["errors"] == 0, f"{name}: error or stderr output in the browser:\n{state['error_text']}"
    print(f"{name}: {state['cells']} code cells run in the browser in {seconds:.0f} s, no error output")
    return page


def test_lessons_run_in_a_real_browser_and_widgets_respond(browser, lab):
    # (browser before lab: without Chromium it skips before starting a server)
    shots = os.environ.get("DIFFUSIONLAB_BROWSER_SHOTS")
    if shots:
        Path(shots).mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()

    # lesson 02: run every cell, then move its interact widget and watch the figure change
    page = _open_and_run(browser, lab, LESSONS[0], shots)
    interact = page.locator(".widget-interact").first
    interact.scroll_into_view_if_needed()
    figure = interact.locator(".widget-output img").first
    figure.wait_for(timeout=60_000)
    before = figure.get_attribute("src")
    interact.locator("select").first.select_option("linear")          # the schedule dropdown
    page.wait_for_function("([el, src]) => { const img = el.querySelector('.widget-output img');"
                           " return img && img.getAttribute('src') !== src; }",
                           arg=[interact.element_handle(), before], timeout=60_000)
    slider = interact.locator(".widget-slider .noUi-handle").first     # the timestep slider
    after_dropdown = figure.get_attribute("src")
    slider.focus()
    page.keyboard.press("PageUp")
    page.wait_for_function("([el, src]) => { const img = el.querySelector('.widget-output img');"
                           " return img && img.getAttribute('src') !== src; }",
                           arg=[interact.element_handle(), after_dropdown], timeout=60_000)
    page.context.close()

    # lesson 18: every cell, then the quiz: reveal a card, mark it known
    page = _open_and_run(browser, lab, LESSONS[1], shots)
    assert page.locator(".jp-Notebook .dl-card").count() >= 30               # the static cards
    page.locator(".jp-Notebook .jp-Cell").last.scroll_into_view_if_needed()
    reveal = page.get_by_role("button", name="Reveal")
    reveal.wait_for(timeout=60_000)
    quiz = reveal.locator("xpath=ancestor::div[contains(@class, 'widget-vbox')][1]")
    quiz.scroll_into_view_if_needed()
    assert "30-second answer" not in quiz.inner_text()
    reveal.click()
    quiz.locator(".dl-card").wait_for(timeout=30_000)
    assert "30-second answer" in quiz.inner_text()
    quiz.locator("button", has_text="I knew it").click()
    page.wait_for_function("(el) => el.innerText.includes('known: 1 / 30')",
                           arg=quiz.element_handle(), timeout=30_000)
    if shots:
        page.screenshot(path=str(Path(shots) / "18_quiz.png"))
    page.context.close()
    print(f"browser test: {time.perf_counter() - start:.0f} s for both lessons")
