"""Child processes this code started, ended by their own pid and nothing else."""

from __future__ import annotations

import atexit
import contextlib
import os
import random
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

_started: list[subprocess.Popen[bytes]] = []


_handed_out: set[int] = set()
#: ports below the kernel's ephemeral range and above the well-known services'
_LOWEST_PORT = 10_000


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32_768, 60_999  # Linux's default


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A port nothing listens on, for a server that binds it a moment later.

    It is taken from below the kernel's ephemeral range: a port from inside it (what binding
    port 0 gives) can become the source port of any outgoing connection on the machine before
    the server binds it, and the server then fails to start. A port is never handed out twice
    by one process, so services started together cannot be given the same one.
    """
    low, _ = _ephemeral_range()
    if low - _LOWEST_PORT >= 1_000:
        rng = random.SystemRandom()
        for _ in range(200):
            port = rng.randrange(_LOWEST_PORT, low)
            if port not in _handed_out and _bindable(port):
                _handed_out.add(port)
                return port
    with socket.socket() as s:  # no room below the ephemeral range: the kernel's choice
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float = 30.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process {proc.args!r} exited with {proc.returncode}")
        with socket.socket() as s:
            s.settimeout(0.2)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def spawn(
    args: Sequence[str], *, log: Path, env: dict[str, str] | None = None, user: str | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    log.parent.mkdir(parents=True, exist_ok=True)
    out = open(log, "ab")  # noqa: SIM115 - the child owns it
    proc = subprocess.Popen(
        list(args), stdout=out, stderr=subprocess.STDOUT, env=env, user=user, cwd=cwd, start_new_session=True
    )
    out.close()
    _started.append(proc)
    return proc


def stop(proc: subprocess.Popen[bytes], *, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int | None:
    """Signal one process we started; kill it if it does not end in time."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait(5)
    if proc in _started:
        _started.remove(proc)
    return proc.returncode


def tail(log: Path, lines: int = 15) -> str:
    """The last lines of a log, for an error that would otherwise point at a file gone with a test's tmp dir."""
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"(unreadable: {exc})"


@atexit.register
def _stop_all() -> None:
    for proc in reversed(list(_started)):
        stop(proc, timeout=5)
