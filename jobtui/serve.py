"""`jobtui serve`: the same dashboard in a browser, through textual-serve. Each browser tab runs its own
dashboard process, as the user who started the server: whoever reaches the port acts as that user, so it
listens on the loopback interface unless told otherwise (`--public`)."""

from __future__ import annotations

import ipaddress
import shlex
import socket
import sys
from collections.abc import Sequence

LOOPBACK_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost")


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


def dashboard_command(dashboard_args: Sequence[str]) -> str:
    """The shell command textual-serve runs for each browser session: this interpreter, this jobtui."""
    return shlex.join([sys.executable, "-m", "jobtui", *dashboard_args])


def serve(host: str, port: int, dashboard_args: Sequence[str], title: str = "jobtui") -> None:
    """Serve until SIGINT or SIGTERM."""
    from textual_serve.server import Server

    Server(dashboard_command(dashboard_args), host=host, port=port, title=title).serve()
