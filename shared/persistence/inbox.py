"""The inbox: the message ids a consumer group has handled, so a redelivery is skipped.

A claim inserts a batch's ids under the group's name; the ids that were not there yet are the
messages to handle. It is written as a CTE so it can share a statement with the outbox write.
"""

from __future__ import annotations

from shared.persistence.db import Conn


def claim_cte(consumer: int, message_ids: int) -> str:
    """A CTE named ``claimed`` that claims ``$<message_ids>`` (a text array) in ``$<consumer>``'s inbox
    and returns the ids (``message_id``) that were not there yet."""
    return f"""claimed AS (
    INSERT INTO inbox (consumer, message_id) SELECT ${consumer}, unnest(${message_ids}::text[])
    ON CONFLICT DO NOTHING RETURNING message_id)"""


async def claim(conn: Conn, consumer: str, message_ids: list[str]) -> list[str]:
    """Claim ``message_ids`` in ``consumer``'s inbox; return the ones that were not there yet."""
    rows = await conn.fetch(f"WITH {claim_cte(1, 2)} SELECT message_id FROM claimed", consumer, message_ids)
    return [r["message_id"] for r in rows]
