"""A local SMTP server (aiosmtpd) that stores every message it receives as an ``.eml`` file.

Run as its own process (``python -m devstack.smtp --dir D --port P``) so that tests can
stop and restart it like a real mail server. With ``tls_dir`` it offers STARTTLS (a
self-signed certificate made with the ``openssl`` command, whose file is also the client's
CA file) and refuses mail before it; with ``username``/``password`` it requires AUTH (LOGIN or
PLAIN) over TLS, like a relay. The password reaches the server through its environment, never
its command line.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import ssl
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from devstack.processes import free_port, spawn, stop, wait_for_port

PASSWORD_ENV = "DEVSTACK_SMTP_PASSWORD"


def self_signed_certificate(directory: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """A certificate for ``host`` (its own CA) and its key, made once under ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    if not cert.exists():
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "7", "-keyout", str(key),
             "-out", str(cert), "-subj", f"/CN={host}", "-addext", f"subjectAltName=IP:{host}",
             "-addext", "basicConstraints=critical,CA:TRUE"],
            check=True, capture_output=True,
        )
    return cert, key


class Authenticator:
    """Accepts one user and password (aiosmtpd's authenticator protocol)."""

    def __init__(self, username: str, password: str) -> None:
        self.username, self.password = username.encode(), password.encode()

    def __call__(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> Any:
        from aiosmtpd.smtp import AuthResult, LoginPassword

        ok = (isinstance(auth_data, LoginPassword) and auth_data.login == self.username
              and auth_data.password == self.password)
        return AuthResult(success=ok, handled=False)


class MaildirHandler:
    def __init__(self, directory: Path, data_delay_s: float = 0.0) -> None:
        self.directory = directory
        #: how long each DATA takes to be answered: a remote relay's round trip and its own work
        self.data_delay_s = data_delay_s
        directory.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.data_delay_s:
            await asyncio.sleep(self.data_delay_s)
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
    #: STARTTLS with a self-signed certificate made here (``cafile``), required before MAIL
    tls_dir: Path | None = None
    #: AUTH required (over TLS when ``tls_dir`` is set)
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    #: each DATA answered this much later (a remote relay, for the email benchmark)
    data_delay_ms: int = 0

    @property
    def cafile(self) -> Path | None:
        return self.tls_dir / "smtp-cert.pem" if self.tls_dir is not None else None

    def start(self) -> EmbeddedSmtp:
        import sys

        self.port = self.port or free_port()
        args = [sys.executable, "-m", "devstack.smtp", "--dir", str(self.directory), "--port", str(self.port)]
        env = dict(os.environ)
        if self.tls_dir is not None:
            cert, key = self_signed_certificate(self.tls_dir)
            args += ["--cert", str(cert), "--key", str(key)]
        if self.data_delay_ms:
            args += ["--data-delay-ms", str(self.data_delay_ms)]
        if self.username:
            args += ["--user", self.username]
            env[PASSWORD_ENV] = self.password or ""
        self.proc = spawn(args, log=self.log, env=env)
        wait_for_port(self.port, 30, self.proc)
        return self

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)
            self.proc = None


def _serve(directory: Path, port: int, cert: Path | None = None, key: Path | None = None,
           user: str | None = None, data_delay_ms: int = 0) -> None:
    from aiosmtpd.controller import Controller

    options: dict[str, Any] = {}
    if cert is not None and key is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        options.update(tls_context=context, require_starttls=True)
    if user:
        options.update(authenticator=Authenticator(user, os.environ.get(PASSWORD_ENV, "")), auth_required=True,
                       auth_require_tls=cert is not None)
    controller = Controller(MaildirHandler(directory, data_delay_ms / 1000), hostname="127.0.0.1", port=port,
                            **options)
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
    parser.add_argument("--cert", type=Path)
    parser.add_argument("--key", type=Path)
    parser.add_argument("--user")
    parser.add_argument("--data-delay-ms", type=int, default=0)
    ns = parser.parse_args()
    _serve(ns.dir, ns.port, ns.cert, ns.key, ns.user, ns.data_delay_ms)
