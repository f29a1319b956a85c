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


def claim_alone_cte(consumer: int, message_ids: int) -> str:
    """``claim_cte`` for a statement that is its own transaction: CTEs named ``seen`` (one row if any of the ids
    was claimed before) and ``claimed``, which claims all of them or, if any was seen, none. A claim made
    meanwhile by another transaction makes the whole statement fail (no ``ON CONFLICT``), so it never claims
    a part of them."""
    return f"""seen AS (
    SELECT FROM inbox WHERE consumer = ${consumer} AND message_id = any(${message_ids}::text[]) LIMIT 1),
claimed AS (
    INSERT INTO inbox (consumer, message_id) SELECT ${consumer}, unnest(${message_ids}::text[])
    WHERE NOT EXISTS (SELECT FROM seen) RETURNING message_id)"""


#: the condition a statement claiming with ``claim_alone_cte`` puts on each of its writes
UNSEEN = "NOT EXISTS (SELECT FROM seen)"


async def claim(conn: Conn, consumer: str, message_ids: list[str]) -> list[str]:
    """Claim ``message_ids`` in ``consumer``'s inbox; return the ones that were not there yet."""
    rows = await conn.fetch(f"WITH {claim_cte(1, 2)} SELECT message_id FROM claimed", consumer, message_ids)
    return [r["message_id"] for r in rows]
