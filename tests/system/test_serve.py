"""`jobtui serve`: the dashboard in a real headless Chromium (Debian's `chromium`, driven by Playwright), and
the refusal to listen beyond loopback without `--public`."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from jobtui.engine.db.store import Store
from jobtui.engine.domain.permissions import Actor
from jobtui.engine.service.actions import Actions
from tests.support.helpers import ROOT, definition, wait_for

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SERVE = [sys.executable, "-m", "jobtui", "serve", "--db"]
ESCAPES = re.compile(rb"\x1b\[[0-9;?$<>=]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(\x07|\x1b\\\\)|\x1b[()][0-9A-Za-z]")
# Where the run leaves its screenshot: docs/ when asked for the README's picture, else the test's folder.
DOCS_SCREENSHOT = ROOT / "docs" / "dashboard-in-browser.png"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("JOBTUI_POLICY", "JOBTUI_DB", "JOBTUI_LOG_DIR")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    env["JOBTUI_CONFIG"] = str(tmp_path / "no-config.toml")
    return env


def accepts(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def until(page: Any, predicate: Callable[[], bool], what: str, timeout_s: float = 30.0) -> None:
    """Wait inside the browser's event loop: Playwright hands over the page's events (the frames) only
    while one of its calls waits."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        page.wait_for_timeout(50)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[int, str]]:
    """A `jobtui serve` on a free loopback port, over a database with one job; (port, its name)."""
    db = f"sqlite:///{tmp_path / 'jobs.db'}"
    name = "served-in-a-browser"
    actions = Actions(Store(db), Actor("tester"))
    others = (("deploy-web", "payments"), ("nightly-report", "analytics"), ("patch-routers", "network"))
    for other, project in others:
        text = f'name = "{other}"\nproject = "{project}"\n[[run]]\nrun = "true"\n'
        actions.submit(definition(text), at="+3h")
    actions.submit(definition(f'name = "{name}"\n[[run]]\nrun = "true"\n'), at="+2h")
    port = free_port()
    server = subprocess.Popen(
        [*SERVE, db, "--port", str(port)],
        env=serve_env(tmp_path),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # the dashboards it starts go with it
    )
    try:
        wait_for(lambda: accepts(port) or server.poll() is not None, what="the server to listen")
        assert server.poll() is None, server.stderr.read().decode() if server.stderr else ""
        yield port, name
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium here (.ci/run installs Debian's package)")
def test_the_dashboard_in_a_browser_shows_the_job_table_and_answers_a_key(
    served: tuple[int, str], tmp_path: Path
) -> None:
    playwright = pytest.importorskip("playwright.sync_api", reason="playwright is in the test extra")
    port, name = served
    received: list[bytes] = []

    def on_frame(payload: str | bytes) -> None:
        received.append(payload if isinstance(payload, bytes) else payload.encode())

    def screen_says(text: str, since: int = 0) -> bool:
        # The terminal's output as the server streams it to the page, its escape sequences taken out: the
        # text the canvas paints.
        return text.encode() in ESCAPES.sub(b"", b"".join(received[since:]))

    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 800})
            page.on("websocket", lambda ws: ws.on("framereceived", on_frame))
            page.goto(f"http://127.0.0.1:{port}")
            until(page, lambda: screen_says(name) and screen_says("QUEUE RUNNING"), "the job table")
            until(page, lambda: screen_says("Owner:"), "the detail pane")  # for the picture
            page.wait_for_timeout(500)  # let the canvas paint what arrived (for the picture only)
            shot = DOCS_SCREENSHOT if os.environ.get("JOBTUI_DOCS_SCREENSHOT") else tmp_path / "browser.png"
            page.screenshot(path=str(shot))
            assert shot.stat().st_size > 10_000
            before = len(received)
            page.click("#terminal")  # the keys go to the terminal once it has the focus
            page.keyboard.press("2")
            until(page, lambda: screen_says("(no envelope)", before), "the envelopes view")
        finally:
            browser.close()


def test_a_host_beyond_loopback_is_refused_without_public_and_warned_with_it(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'jobs.db'}"
    env = serve_env(tmp_path)
    refused = subprocess.run(
        [*SERVE, db, "--host", "0.0.0.0", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 2
    assert "0.0.0.0 is not a loopback address" in refused.stderr and "--public" in refused.stderr
    assert "Traceback" not in refused.stderr
    port = free_port()
    server = subprocess.Popen(
        [*SERVE, db, "--host", "0.0.0.0", "--port", str(port), "--public"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert server.stderr is not None
        warning = server.stderr.readline()
        assert "WARNING" in warning and "anyone who reaches this port uses the dashboard as" in warning
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(10)
