"""inspector.py: bad input as one line (unknown run, port in use, bad host, missing extra), and the app in a
real headless Chromium: roll out an episode of a run trained here, move the step slider, see the frame,
the step's numbers and the step table.

The browser test needs Chromium (Debian's ``chromium``; .ci/run installs it) and Playwright (the dev
extra; it drives that binary, no browser download). It skips without Chromium only outside CI: where
GS_FORBID_SKIPS=1, a missing Chromium fails.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cli_helpers import REPO_ROOT, cli_env, one_error_line, run_code, run_script
from run_factory import make_run
from utils.config import load_config

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--disable-quic"]


def inspector(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return run_script("inspector.py", *args, cwd=cwd)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def cartpole(tmp_path):
    make_run(tmp_path, load_config("CartPole-v1", "ppo"), run_id="cart0001")
    return tmp_path


def test_unknown_run(cartpole):
    line = one_error_line(inspector("--run-id", "nope", cwd=cartpole))
    assert "run 'nope' not found" in line and "cart0001" in line


def test_no_runs_at_all(tmp_path):
    assert "no runs yet" in one_error_line(inspector(cwd=tmp_path))


def test_port_in_use(cartpole):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        line = one_error_line(inspector("--port", str(port), cwd=cartpole))
    assert f"127.0.0.1:{port}" in line and "in use" in line


@pytest.mark.parametrize("args, expected", [
    (["--host", "no-such-host.invalid"], "--host 'no-such-host.invalid' is not an address of this machine"),
    (["--host", "192.0.2.1"], "cannot serve on 192.0.2.1:"),
    (["--port", "70000"], "--port must be between 1 and 65535"),
    (["--port", "http"], "--port: invalid int value: 'http'"),
    (["--prot", "80"], "unknown option --prot (did you mean --port?)"),
])
def test_bad_host_and_port(cartpole, args, expected):
    assert expected in one_error_line(inspector(*args, cwd=cartpole))


def test_missing_extra_names_the_install_command(cartpole, monkeypatch, capsys):
    import importlib.util

    import inspector as app

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "gradio" else find_spec(name, *a))
    monkeypatch.chdir(cartpole)
    assert app.main([]) == 2
    assert capsys.readouterr().err.strip() == 'error: the inspector needs the inspector extra: pip install -e ".[inspector]"'


def test_only_the_inspector_imports_gradio():
    code = "import sys, play, train, utils.inspection; assert 'gradio' not in sys.modules"
    result = run_code(code, cwd=REPO_ROOT)
    assert result.returncode == 0, result.stderr


# --------------------------------------------------------------------------------------------------------
# In a browser


def chromium_or_skip() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    message = "needs Chromium (apt-get install -y chromium; .ci/run installs it)"
    if os.environ.get("GS_FORBID_SKIPS") == "1":
        pytest.fail(message)
    pytest.skip(message)


def wait_for_server(process: subprocess.Popen, url: str, deadline_s: float = 120) -> None:
    import urllib.request

    started = time.monotonic()
    while time.monotonic() - started < deadline_s:
        if process.poll() is not None:
            raise AssertionError(f"inspector exited with {process.returncode}: {process.stderr.read()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"inspector did not answer on {url}")


def test_inspector_in_headless_chromium(tmp_path, monkeypatch):
    pytest.importorskip("gradio", reason="needs the inspector extra: pip install -e '.[inspector]'")
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs the dev extra: pip install -e '.[dev]'")
    chromium = chromium_or_skip()
    import train

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VIBES_DISABLE_SESSION_LOGS", "1")
    assert train.main(["CartPole-v1:ppo", "--max-steps", "1024", "--eval_freq", "1024", "-q", "--video_freq", "off"]) == 0
    run_id = (tmp_path / "runs" / "@latest-run").resolve().name
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    server = subprocess.Popen([sys.executable, str(REPO_ROOT / "inspector.py"), "--port", str(port)], cwd=tmp_path,
                              env=cli_env(), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        wait_for_server(server, url)
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch_persistent_context(
                str(tmp_path / "chromium-profile"), executable_path=chromium, headless=True, args=CHROMIUM_FLAGS,
                viewport={"width": 1400, "height": 1500})
            page = browser.new_page()
            page.goto(url)
            page.wait_for_selector("#rollout-button", timeout=60_000)
            page.click("#rollout-button")
            page.wait_for_selector("#frame img", timeout=120_000)
            details = page.locator("#step-details")
            assert re.search(r"step\s+0 of (\d+)", details.inner_text())
            n_steps = int(re.search(r"0 of (\d+)", details.inner_text()).group(1)) + 1
            first_frame = page.locator("#frame img").get_attribute("src")
            # move the slider (its number box) to step 3
            box = page.locator("#step-slider input[type=number]")
            box.fill("3")
            box.press("Enter")
            page.wait_for_function("document.querySelector('#step-details').innerText.includes('3 of')", timeout=60_000)
            page.wait_for_function(f"document.querySelector('#frame img').src !== {first_frame!r}", timeout=60_000)
            # Play advances the step by itself; Pause stops it
            page.click("#play-button")
            page.wait_for_function("!document.querySelector('#step-details').innerText.includes('3 of')",
                                   timeout=60_000)
            page.click("#play-button")
            played_to = int(re.search(r"(\d+) of", details.inner_text()).group(1))
            table = page.locator("#steps-table").inner_text()
            summary = page.locator("#episode-summary").inner_text()
            page.screenshot(path=str(tmp_path / "inspector.png"), full_page=True)
            browser.close()
    finally:
        server.terminate()
        server.wait(30)
    assert server.returncode == 143 and "Traceback" not in server.stderr.read()  # SIGTERM stops it as Ctrl-C does
    assert f"run {run_id}" in summary and f"{n_steps} steps" in summary
    assert 3 < played_to < n_steps
    for column in ("step", "action", "value", "reward", "cumulative_return", "return_to_go", "advantage", "terminated"):
        assert column in table
    assert (tmp_path / "inspector.png").stat().st_size > 10_000
