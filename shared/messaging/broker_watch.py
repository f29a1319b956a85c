"""Whether the Kafka cluster answers, asked on a timer and reported to readiness and metrics.

Neither the consumer nor the producer says when its brokers went away (they retry quietly), so an
operator would see nothing on ``/readyz``. The watch asks the cluster for its description (one
small metadata request) every ``every_s`` and reports the answer. A broker that is down does not
make the service unready: its outbox keeps what it would send, and a restart would not help.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import structlog
from aiokafka.admin import AIOKafkaAdminClient

from shared.messaging.broker import aiokafka_security
from shared.settings import KafkaSettings

log = structlog.get_logger(__name__)


class BrokerWatch:
    def __init__(self, settings: KafkaSettings, report: Callable[[bool], None], *, every_s: float = 5.0) -> None:
        self.settings = settings
        self.report = report
        self.every_s = every_s
        self.answered: bool | None = None
        self._admin: AIOKafkaAdminClient | None = None

    async def run(self) -> None:
        try:
            while True:
                await self.check()
                await asyncio.sleep(self.every_s)
        finally:
            await self._close_admin()

    async def check(self) -> bool:
        try:
            admin = await self._admin_client()
            await asyncio.wait_for(admin.describe_cluster(), self.every_s)
            answered = True
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if self.answered is not False:
                log.warning("kafka_unavailable", error=repr(exc))
            answered = False
            await self._close_admin()
        if answered and self.answered is False:
            log.info("kafka_available")
        self.answered = answered
        self.report(answered)
        return answered

    async def _admin_client(self) -> AIOKafkaAdminClient:
        if self._admin is None:
            admin = AIOKafkaAdminClient(bootstrap_servers=self.settings.bootstrap_servers,
                                        request_timeout_ms=int(self.every_s * 1000),
                                        **aiokafka_security(self.settings))
            try:
                await admin.start()
            except BaseException:
                with contextlib.suppress(Exception):
                    await admin.close()
                raise
            self._admin = admin
        return self._admin

    async def _close_admin(self) -> None:
        admin, self._admin = self._admin, None
        if admin is not None:
            with contextlib.suppress(Exception):
                await admin.close()
