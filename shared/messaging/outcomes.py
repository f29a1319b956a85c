"""What a batch's transaction did to each message, counted in the metrics only once it commits."""

from __future__ import annotations

from shared.messaging.decoding import Inbound
from shared.observability import metrics


class Outcomes:
    """Noted as the handlers run; reported at commit, dropped with a pass that is rolled back."""

    def __init__(self, group_id: str) -> None:
        self.group_id = group_id
        #: (topic, type, outcome, dead-letter or rejection reason) per message
        self._noted: list[tuple[str, str, str, str | None]] = []

    def clear(self) -> None:
        self._noted = []

    def note(self, items: list[Inbound], outcome: str, reason: str | None = None) -> None:
        self._noted += [(item.record.topic, item.type or "?", outcome, reason) for item in items]

    def report(self) -> None:
        for topic, message_type, outcome, reason in self._noted:
            metrics.MESSAGES_HANDLED.labels(self.group_id, topic, message_type, outcome).inc()
            if reason is None:
                continue
            if outcome == "rejected":  # a CommandRejected emitted
                metrics.COMMANDS_REJECTED.labels(self.group_id, message_type, reason).inc()
            else:
                metrics.DEAD_LETTERED.labels(topic, reason).inc()
        self._noted = []
