"""A local SMTP server (aiosmtpd) that stores every message it receives as an ``.eml`` file.

Run as its own process (``python -m devstack.smtp --dir D --port P``) so that tests can
stop and restart it like a real mail server.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from devstack.processes import free_port, spawn, stop, wait_for_port


class MaildirHandler:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd API
        name = f"{time.time_ns()}-{uuid.uuid4().hex[:8]}.eml"
        tmp = self.directory / f".{name}.tmp"
        tmp.write_bytes(envelope.original_content or envelope.content)
        tmp.rename(self.directory / name)
        return "250 Message accepted for delivery"


def read_mail(directory: Path) -> list[EmailMessage]:
    if not directory.exists():
        return []
    return [
        message_from_bytes(p.read_bytes(), policy=policy.default)  # type: ignore[misc]
        for p in sorted(directory.glob("*.eml"))
    ]


@dataclass
class EmbeddedSmtp:
    directory: Path
    log: Path
    port: int = 0
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self) -> EmbeddedSmtp:
        import sys

        self.port = self.port or free_port()
        self.proc = spawn(
            [sys.executable, "-m", "devstack.smtp", "--dir", str(self.directory), "--port", str(self.port)],
            log=self.log,
        )
        wait_for_port(self.port, 30, self.proc)
        return self

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)
            self.proc = None


def _serve(directory: Path, port: int) -> None:
    from aiosmtpd.controller import Controller

    controller = Controller(MaildirHandler(directory), hostname="127.0.0.1", port=port)
    controller.start()
    done = asyncio.Event()

    async def wait() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, done.set)
        await done.wait()

    try:
        asyncio.run(wait())
    finally:
        controller.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    ns = parser.parse_args()
    _serve(ns.dir, ns.port)
