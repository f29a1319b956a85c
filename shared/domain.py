"""What every service's domain may raise. No I/O here."""

from __future__ import annotations


class Rejection(Exception):
    """A command is refused. It becomes ``CommandRejected{reason, message}`` and changes nothing."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
