"""Dates in the dialogs: the operator's zone, and stored times read back as UTC."""

from __future__ import annotations

from datetime import datetime

import pendulum
from pendulum.tz.local_timezone import get_local_timezone

Zone = pendulum.Timezone | pendulum.FixedTimezone


def _zone(tz: str | None) -> Zone:
    return pendulum.Timezone(tz) if tz else get_local_timezone()


def _utc(when: datetime) -> pendulum.DateTime:
    # The store hands back aware datetimes; a naive one can only be UTC, which is how it was written.
    return pendulum.instance(when, tz="UTC").in_tz("UTC")


def _absolute(when: datetime, zone: Zone) -> str:
    local = _utc(when).in_tz(zone)
    return local.format("YYYY-MM-DD HH:mm:ss zz" if local.second else "YYYY-MM-DD HH:mm zz")


def _stamp(at: object, zone: Zone) -> str:
    """A stored time (ISO text, as the service's JSON has it) as the rest of the dashboard shows one."""
    if not isinstance(at, str) or not at:
        return "-"
    parsed = pendulum.parse(at)
    if not isinstance(parsed, pendulum.DateTime):
        return at
    return _utc(parsed).in_tz(zone).format("YYYY-MM-DD HH:mm:ss")
