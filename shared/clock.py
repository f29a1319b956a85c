"""Clocks. Services take the time from an injectable ``Clock`` so tests never sleep for days.

``CLOCK=system`` (the default) is the wall clock. ``CLOCK=file:/path`` reads an ISO 8601
instant from that file (tests write it to move time forward); a missing file means now.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from shared.contract.envelope import utcnow


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return utcnow()


class FileClock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._cache: tuple[float, datetime] | None = None

    def now(self) -> datetime:
        try:
            mtime = self.path.stat().st_mtime
        except FileNotFoundError:
            return utcnow()
        if self._cache is None or self._cache[0] != mtime:
            self._cache = (mtime, datetime.fromisoformat(self.path.read_text().strip()))
        return self._cache[1]


def aware_now(clock: Clock) -> datetime:
    """The clock's time, always aware: a reading without an offset (a clock file written without one) is UTC."""
    now = clock.now()
    return now if now.tzinfo is not None else now.replace(tzinfo=UTC)


def clock_from_env() -> Clock:
    spec = os.environ.get("CLOCK", "system")
    if spec.startswith("file:"):
        return FileClock(Path(spec.removeprefix("file:")))
    return SystemClock()
