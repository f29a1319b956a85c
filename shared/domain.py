"""What every service's domain may raise. No I/O here."""

from __future__ import annotations

from typing import Protocol


class Actor(Protocol):
    """Who sent a message, as a domain sees it: the envelope's principal is one."""

    @property
    def kind(self) -> str: ...

    @property
    def id(self) -> str: ...


class Rejection(Exception):
    """A command is refused. It becomes ``CommandRejected{reason, message}`` and changes nothing."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
