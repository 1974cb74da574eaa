"""What kind of engine a worker row is, as a dashboard tells it to its user: a daemon stays; a dashboard's
own engine stops when that dashboard closes (the next dashboard then starts its own)."""

from __future__ import annotations

DAEMON_ENGINE = "daemon"
DASHBOARD_ENGINE = "dashboard"
