"""`jobtui serve`: the dashboard in a real headless Chromium (Debian's `chromium`, driven by Playwright), and
the refusal to listen beyond loopback without `--public`."""

from __future__ import annotations

import contextlib
import http.client
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

import psutil
import pytest

from jobtui.engine.db.store import Store
from jobtui.engine.domain.permissions import Actor
from jobtui.engine.service.actions import Actions
from tests.support.helpers import ROOT, definition, wait_for
from tests.support.template_db import migrated_sqlite

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


def until(
    page: Any, predicate: Callable[[], bool], what: str, shown: Callable[[], bytes], timeout_s: float = 30.0
) -> None:
    """Wait inside the browser's event loop: Playwright hands over the page's events (the frames) only
    while one of its calls waits."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; the screen's last text: {shown()[-3000:]!r}")
        page.wait_for_timeout(50)


class Served:
    """A running `jobtui serve`: its port, and the address it printed (token and all)."""

    def __init__(self, server: subprocess.Popen[str], port: int) -> None:
        self.server = server
        self.port = port
        assert server.stderr is not None
        self.lines: list[str] = []
        while not any("the dashboard on" in line for line in self.lines):
            line = server.stderr.readline()
            assert line, "".join(self.lines)  # it exited before saying where
            self.lines.append(line)
        self.address = re.findall(r"on (http://\S+)", self.lines[-1])[0]
        self.token = self.address.split("token=")[1]

    def stop(self) -> None:
        os.killpg(self.server.pid, signal.SIGTERM)
        try:
            self.server.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self.server.pid, signal.SIGKILL)
            self.server.wait()


@contextlib.contextmanager
def serving(tmp_path: Path, db: str, *options: str) -> Iterator[Served]:
    port = free_port()
    server = subprocess.Popen(
        [*SERVE, db, "--port", str(port), *options],
        env=serve_env(tmp_path),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # the dashboards it starts go with it
    )
    served = None
    try:
        served = Served(server, port)
        wait_for(lambda: accepts(port) or server.poll() is not None, what="the server to listen")
        assert server.poll() is None, "".join(served.lines)
        yield served
    finally:
        if served is not None:
            served.stop()
        else:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Served, str]]:
    """A `jobtui serve` on a free loopback port, over a database with one job; (it, the job's name)."""
    db = migrated_sqlite(tmp_path / "jobs.db")
    name = "served-in-a-browser"
    actions = Actions(Store(db), Actor("tester"))
    others = (("deploy-web", "payments"), ("nightly-report", "analytics"), ("patch-routers", "network"))
    for other, project in others:
        text = f'name = "{other}"\nproject = "{project}"\n[[run]]\nrun = "true"\n'
        actions.submit(definition(text), at="+3h")
    actions.submit(definition(f'name = "{name}"\n[[run]]\nrun = "true"\n'), at="+2h")
    with serving(tmp_path, db) as server:
        yield server, name


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="no chromium here (.ci/run installs Debian's package)")
def test_the_dashboard_in_a_browser_shows_the_job_table_and_answers_a_key(
    served: tuple[Served, str], tmp_path: Path
) -> None:
    playwright = pytest.importorskip("playwright.sync_api", reason="playwright is in the test extra")
    server, name = served
    received: list[bytes] = []

    def on_frame(payload: str | bytes) -> None:
        received.append(payload if isinstance(payload, bytes) else payload.encode())

    def screen(since: int = 0) -> bytes:
        # The terminal's output as the server streams it to the page, its escape sequences taken out: the
        # text the canvas paints.
        return ESCAPES.sub(b"", b"".join(received[since:]))

    def screen_says(text: str, since: int = 0) -> bool:
        return text.encode() in screen(since)

    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.on("websocket", lambda ws: ws.on("framereceived", on_frame))
            page.goto(server.address)
            until(page, lambda: screen_says(name) and screen_says("QUEUE RUNNING"), "the job table", screen)
            until(page, lambda: screen_says("Owner:"), "the detail pane", screen)  # for the picture
            page.wait_for_timeout(500)  # let the canvas paint what arrived (for the picture only)
            shot = DOCS_SCREENSHOT if os.environ.get("JOBTUI_DOCS_SCREENSHOT") else tmp_path / "browser.png"
            page.screenshot(path=str(shot))
            assert shot.stat().st_size > 10_000
            before = len(received)
            page.click("#terminal")  # the keys go to the terminal once it has the focus
            page.keyboard.press("2")
            until(page, lambda: screen_says("(no envelope)", before), "the envelopes view", screen)
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
        assert "WARNING" in warning and "uses the dashboard as" in warning and "unencrypted" in warning
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(10)


def test_the_address_is_printed_only_once_the_port_is_bound(tmp_path: Path) -> None:
    """QA: with the port held by another program, `serve` printed the address, token and all, then failed
    to bind: whoever opened it sent the token to that program. A host it cannot listen on (a name that
    does not resolve) did the same. Now: one line saying why, exit 2, and no token."""
    db = f"sqlite:///{tmp_path / 'jobs.db'}"
    env = serve_env(tmp_path)
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        taken = subprocess.run(
            [*SERVE, db, "--port", str(port)], env=env, capture_output=True, text=True, timeout=60
        )
    assert taken.returncode == 2, taken.stderr
    assert taken.stderr == f"serve: cannot listen on 127.0.0.1:{port}: Address already in use\n"
    nowhere = subprocess.run(
        [*SERVE, db, "--port", str(free_port()), "--public", "--host", "nosuchhost.invalid"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert nowhere.returncode == 2, nowhere.stderr
    assert nowhere.stderr.startswith("serve: cannot listen on nosuchhost.invalid:"), nowhere.stderr
    for said in (taken.stderr, nowhere.stderr):
        assert "token" not in said and "http://" not in said and "Traceback" not in said


def ask(served: Served, path: str, headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
    """One GET to the server, as given (no cookie, no redirect followed)."""
    connection = http.client.HTTPConnection("127.0.0.1", served.port, timeout=30)
    connection.request("GET", path, headers=headers or {})
    response = connection.getresponse()
    response.read() if response.status != 101 else None
    return response


WEBSOCKET = {
    "Connection": "Upgrade",
    "Upgrade": "websocket",
    "Sec-WebSocket-Version": "13",
    "Sec-WebSocket-Key": "a2V5a2V5a2V5a2V5a2V5a2==",
}


def test_the_server_lets_in_only_who_holds_the_printed_address(tmp_path: Path) -> None:
    with serving(tmp_path, f"sqlite:///{tmp_path / 'jobs.db'}") as served:
        # Another user of this machine reaching the port: nothing but the page's own scripts.
        for path in ("/", "/?token=guess", "/ws", f"/ws?token={served.token[:-1]}", "/download/x"):
            refused = ask(served, path, WEBSOCKET if path.startswith("/ws") else None)
            assert refused.status == 403, path
        assert ask(served, "/static/js/textual.js").status == 200
        assert ask(served, "/static/").status in (403, 404)  # no listing
        # The printed address swaps its token for a cookie only the server's page reads.
        entry = ask(served, f"/?token={served.token}")
        assert entry.status == 302 and entry.getheader("Location") == "/"
        cookie = entry.getheader("Set-Cookie") or ""
        assert served.token in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
        session = {"Cookie": cookie.split(";")[0]}
        page = http.client.HTTPConnection("127.0.0.1", served.port, timeout=30)
        # As the browser reached it through `ssh -L 9000:localhost:PORT`: the page points there.
        page.request("GET", "/", headers={**session, "Host": "localhost:9000"})
        body = page.getresponse().read().decode()
        assert 'data-session-websocket-url="ws://localhost:9000/ws"' in body
        assert "<title>jobtui</title>" in body and "googleapis" not in body
        # A web page of another site open in the user's browser (its cookie goes with it where the
        # browser allows): its WebSocket is refused.
        foreign = ask(served, "/ws", {**WEBSOCKET, **session, "Origin": "http://evil.example"})
        assert foreign.status == 403
        # A name an attacker's DNS points at 127.0.0.1: refused even with the token.
        rebound = ask(served, f"/?token={served.token}", {"Host": f"evil.example:{served.port}"})
        assert rebound.status == 403
        # Behind a proxy that says which address the browser used: the page points there, its WebSocket
        # comes from there.
        page.request("GET", "/", headers={**session, "X-Forwarded-Host": "jobs.example"})
        assert 'data-session-websocket-url="ws://jobs.example/ws"' in page.getresponse().read().decode()
        proxied = {
            **WEBSOCKET,
            **session,
            "Origin": "https://jobs.example",
            "X-Forwarded-Host": "jobs.example",
        }
        assert ask(served, "/ws?width=0", proxied).status == 101
        # The address of a later run of `serve`, opened in a browser holding this run's cookie.
        stale = {"Cookie": f"jobtui-serve-{served.port}=an-earlier-runs-token"}
        assert ask(served, f"/?token={served.token}", stale).status == 302
        # Nonsense is refused or ignored, never an error page.
        assert ask(served, "/", {"Host": "[::1"}).status == 403
        assert ask(served, "/?fontsize=%C2%B2", session).status == 200


def test_the_server_s_log_holds_no_traceback_no_escape_and_no_token(tmp_path: Path) -> None:
    """Found by review: a header the HTTP parser refused (anyone reaching the port, no token needed) put
    textual-serve's traceback on the terminal, with the request's bytes and every local variable, and
    each access line printed the printed address's token in full."""
    with serving(tmp_path, f"sqlite:///{tmp_path / 'jobs.db'}") as served:
        with socket.create_connection(("127.0.0.1", served.port), timeout=30) as raw:
            raw.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: \x1b]0;owned\x07\r\n\r\n")
            assert b" 400 " in raw.recv(100)
        assert ask(served, "/%1b%5b31mred").status == 403
        assert ask(served, f"/?token={served.token}").status == 302
    assert served.server.stderr is not None  # stopped: what it logged is all in the pipe
    logged = served.server.stderr.read()
    assert "Error handling request from 127.0.0.1: BadHttpMessage: 400" in logged
    assert "GET /^[[31mred 403" in logged and "GET / 302" in logged
    assert "Traceback" not in logged and "\x1b" not in logged and "\a" not in logged
    assert served.token not in logged
    assert all(line.startswith("serve: ") for line in logged.splitlines())


def test_the_database_password_reaches_no_command_line(tmp_path: Path) -> None:
    secret = "hunter2-not-in-ps"
    db = f"postgresql://jobtui:{secret}@127.0.0.1:9/nowhere"
    with serving(tmp_path, db) as served:
        assert secret not in "".join(served.lines)
        own = {"Cookie": f"jobtui-serve-{served.port}={served.token}"}
        connection = http.client.HTTPConnection("127.0.0.1", served.port, timeout=30)
        connection.request(
            "GET",
            "/ws?width=80&height=24",
            headers={**WEBSOCKET, **own},
        )
        assert connection.getresponse().status == 101
        server = psutil.Process(served.server.pid)

        def command_lines() -> list[str]:
            # (A child forked but not yet exec'd shows the server's command line, as its user typed it.)
            lines = []
            for process in server.children(recursive=True):
                with contextlib.suppress(psutil.NoSuchProcess):
                    lines.append(" ".join(process.cmdline()))
            return [line for line in lines if line != " ".join(server.cmdline())]

        wait_for(lambda: any(" -m jobtui" in line for line in command_lines()), what="the tab's dashboard")
        assert not [line for line in command_lines() if secret in line]
        connection.close()
