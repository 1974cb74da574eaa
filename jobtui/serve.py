"""`jobtui serve`: the same dashboard in a browser, through textual-serve. Each browser tab runs its own
dashboard process, as the user who started the server, so the server lets in only who holds its secret:

- the address it prints carries a token, which the page swaps for a cookie (HttpOnly, SameSite=Strict);
  every page, download and WebSocket asks for one or the other (only the page's scripts, styles and fonts
  do not), so another user of this machine reaching the port cannot drive the dashboard;
- a WebSocket whose Origin is not the page's own is refused, so a web page open in the user's browser
  cannot drive it either, and a request naming a host that is not loopback is refused (unless `--public`):
  a name an attacker points at 127.0.0.1 (DNS rebinding) reaches nothing;
- the database's URL reaches the dashboards in their environment, not on their command line, where `ps`
  would show any local user its password.

It listens on the loopback interface unless told otherwise (`--public`), and says where only once it
listens: an address announced before its socket was bound sent its token to whatever held the port.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import logging
import os
import secrets
import shlex
import socket
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jobtui.engine.domain.text import visible
from jobtui.engine.errors import BadInput

LOOPBACK_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost")
# What a page may load before it holds the cookie: the scripts, styles and fonts textual-serve ships.
OPEN_PREFIX = "/static/"
PAGE_FOLDER = Path(__file__).parent / "serve_page"
Handler = Callable[[Any], Awaitable[Any]]
# How many connections may wait to be accepted (aiohttp's own default).
BACKLOG = 128


class CannotListen(BadInput):
    """The address cannot be listened on (a port another program holds, a host that is not this
    machine's, a name that does not resolve); nothing was announced."""


def listen(host: str, port: int) -> list[socket.socket]:
    """Sockets bound and listening on every address `host` names, as asyncio's server would bind them,
    before the address is announced. Raises CannotListen, having bound nothing."""
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError as exc:  # socket.gaierror: a name that does not resolve
        raise CannotListen(f"serve: cannot listen on {where}: {exc.strerror or exc}") from exc
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _name, address in dict.fromkeys(found):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                # One socket an address: an IPv6 one leaves the IPv4 address to its own socket.
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(BACKLOG)
            sock.setblocking(False)
    except OSError as exc:
        for sock in sockets:
            sock.close()
        raise CannotListen(f"serve: cannot listen on {where}: {exc.strerror or exc}") from exc
    return sockets


def is_loopback(host: str) -> bool:
    """Whether `host` only ever names this machine's loopback interface (every address it resolves to)."""
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        found = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except OSError:
        return False
    return bool(found) and all(ipaddress.ip_address(str(address)).is_loopback for address in found)


def names_loopback(host_header: str) -> bool:
    """Whether a request's Host names loopback by itself: a loopback address or name, never a name looked
    up (one an attacker's DNS answers with 127.0.0.1 is how a page of theirs would reach this port)."""
    try:
        host = urlsplit(f"//{host_header}").hostname or ""
    except ValueError:  # no host at all ("[::1" without its bracket)
        return False
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def same_origin(origin: str, *hosts: str) -> bool:
    """Whether a browser's Origin is the page's own (scheme http or https, a host and port it was asked for
    by: the request's Host, or the one a proxy in front says it was asked for)."""
    try:
        parts = urlsplit(origin)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and parts.netloc.lower() in {
        host.lower() for host in hosts if host
    }


def dashboard_command(dashboard_args: Sequence[str]) -> str:
    """The shell command textual-serve runs for each browser session: this interpreter, this jobtui."""
    return shlex.join([sys.executable, "-m", "jobtui", *dashboard_args])


def new_token() -> str:
    return secrets.token_urlsafe(24)


class OneLine(logging.Handler):
    """The server's log on stderr, a line a record: never a traceback (textual-serve's showed the request's
    bytes and every local variable, cookies included, for any malformed request anyone sent), and what a
    line quotes of a request (a header, a path) shown visibly, never obeyed by the terminal."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
            if record.exc_info and record.exc_info[1] is not None:
                text += f": {type(record.exc_info[1]).__name__}: {record.exc_info[1]}"
        except Exception:  # a library's bad format arguments: its words, never the caller's failure
            text = str(record.msg)
        text = visible(" ".join(text.split()))  # aiohttp's messages span lines: one line each here
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.write(f"serve: {text}\n")
            sys.stderr.flush()


def quiet_logging() -> None:
    root = logging.getLogger()
    root.handlers[:] = [OneLine()]
    root.setLevel(logging.INFO)


def _access_line_class() -> type[Any]:
    from aiohttp.abc import AbstractAccessLogger

    class AccessLine(AbstractAccessLogger):  # type: ignore[misc]
        """A request as the access log says it: who, what, the answer. The path without its query, which
        holds the token of the printed address (the log was a copy of the secret for whoever reads it)."""

        def log(self, request: Any, response: Any, time: float) -> None:
            self.logger.info(
                "%s %s %s %s (%.0f ms)",
                request.remote,
                request.method,
                request.path,
                response.status,
                time * 1000,
            )

    return AccessLine


def make_server(command: str, host: str, port: int, token: str, public: bool, title: str = "jobtui") -> Any:
    """The textual-serve server, guarded as the module says (built here so textual-serve is imported only
    by `serve`)."""
    import aiohttp_jinja2
    import jinja2
    from aiohttp import web
    from textual_serve.server import Server

    cookie = f"jobtui-serve-{port}"  # cookies ignore ports: one name a server on this host

    def holds_secret(request: web.Request) -> bool:
        # The address's token first: a cookie left by an earlier run of `serve` is stale.
        given = request.query.get("token") or request.cookies.get(cookie) or ""
        return hmac.compare_digest(given.encode(), token.encode())

    def refused(reason: str) -> web.Response:
        return web.Response(status=403, text=f"jobtui serve: {reason}\n")

    class GuardedServer(Server):  # type: ignore[misc]
        async def _make_app(self) -> web.Application:
            app = web.Application(middlewares=[self.guard])
            aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(PAGE_FOLDER))
            app.add_routes(
                [
                    web.get("/", self.handle_index, name="index"),
                    web.get("/ws", self.handle_websocket, name="websocket"),
                    web.get("/download/{key}", self.handle_download, name="download"),
                    web.static("/static", self.statics_path, show_index=False, name="static"),
                ]
            )
            return app

        @web.middleware
        async def guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
            if not public and not names_loopback(request.host):
                return refused(f"this server answers to loopback addresses only, not {request.host!r}")
            if request.path.startswith(OPEN_PREFIX):
                return await handler(request)  # type: ignore[no-any-return]
            if not holds_secret(request):
                return refused("open the address `jobtui serve` printed (the one with ?token=)")
            origin = request.headers.get("Origin")
            # The address a proxy in front says the browser used (a page's WebSocket cannot set headers).
            forwarded = request.headers.get("X-Forwarded-Host", "")
            if (
                request.path == "/ws"
                and origin is not None
                and not same_origin(origin, request.host, forwarded)
            ):
                return refused(f"a page from {origin} may not open this dashboard")
            if request.path == "/" and "token" in request.query:
                # The token leaves the address bar (and the browser's history) for a cookie.
                found = web.HTTPFound("/")
                found.set_cookie(cookie, token, httponly=True, samesite="Strict", path="/")
                raise found
            return await handler(request)  # type: ignore[no-any-return]

        @aiohttp_jinja2.template("app_index.html")
        async def handle_index(self, request: web.Request) -> dict[str, Any]:
            # Addresses as the browser reached this server (through `ssh -L`, a proxy, or --public on
            # 0.0.0.0), not as it listens.
            reached = request.headers.get("X-Forwarded-Host") or request.host
            secure = request.secure or request.headers.get("X-Forwarded-Proto") == "https"
            font_size = request.query.get("fontsize", "16")
            readable = font_size.isascii() and font_size.isdigit() and 0 < int(font_size) < 100
            return {
                "font_size": int(font_size) if readable else 16,
                "app_websocket_url": f"{'wss' if secure else 'ws'}://{reached}/ws",
                "config": {"static": {"url": "/static/"}},
                "application": {"name": self.title},
            }

        async def on_startup(self, app: web.Application) -> None:
            """textual-serve's banner is left out: it prints the command, and `serve` says where to go."""

        def serve_on(self, sockets: list[socket.socket]) -> None:
            """`Server.serve` on sockets already listening (`listen`), until SIGINT or SIGTERM."""
            import asyncio
            import signal

            quiet_logging()
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            loop.add_signal_handler(signal.SIGINT, self.request_exit)
            loop.add_signal_handler(signal.SIGTERM, self.request_exit)
            web.run_app(
                self._make_app(),
                sock=sockets,
                handle_signals=False,
                loop=loop,
                print=lambda *args: None,
                access_log_class=_access_line_class(),
            )

    return GuardedServer(command, host=host, port=port, title=title)


def serve(
    host: str,
    port: int,
    dashboard_args: Sequence[str],
    db_url: str,
    public: bool,
    announce: Callable[[str], None],
) -> None:
    """Serve until SIGINT or SIGTERM; `announce` is told the address to open, token and all, once the port
    is bound (CannotListen before: nothing announced)."""
    os.environ["JOBTUI_DB"] = db_url  # each tab's dashboard inherits it (see the module's docstring)
    token = new_token()
    shown_host = f"[{host}]" if ":" in host else host
    server = make_server(dashboard_command(dashboard_args), host, port, token, public)
    sockets = listen(host, port)
    announce(f"http://{shown_host}:{port}/?token={token}")
    server.serve_on(sockets)
