"""What to tell and when it is the same notification (R20-R22)."""

from __future__ import annotations

import random
import uuid
from datetime import date

import pytest

from services.notifications import domain, notices
from services.notifications.domain import notification_id
from shared.contract import orders as o
from tests.unit.notifications import factories as f


def known(order_id: str = "o-1") -> dict[str, domain.LineState]:
    return {line.line_id: line for line in notices.lines_from_accepted(f.accepted(order_id))}


def test_r22_notification_id_is_deterministic_and_a_uuid() -> None:
    first = notification_id("o-1", ["l1", "l2"], "backorder_accepted", "1", "email")
    assert first == notification_id("o-1", ["l2", "l1"], "backorder_accepted", "1", "email")
    assert first == notification_id("o-1", ["l1", "l2", "l1"], "backorder_accepted", "1", "email")
    assert uuid.UUID(first).version == 5
    # pinned: a change of the scheme would make a replay send everything again
    assert first == str(uuid.uuid5(domain.NOTIFICATION_NAMESPACE, "o-1|l1,l2|backorder_accepted|1|email"))


@pytest.mark.parametrize(
    "changed",
    [
        ("o-2", ["l1"], "late", "2026-12-04", "email"),
        ("o-1", ["l2"], "late", "2026-12-04", "email"),
        ("o-1", ["l1"], "delayed", "2026-12-04", "email"),
        ("o-1", ["l1"], "late", "2026-12-11", "email"),
        ("o-1", ["l1"], "late", "2026-12-04", "app"),
    ],
)
def test_every_part_of_a_notifications_identity_matters(changed: tuple[str, list[str], str, str, str]) -> None:
    assert notification_id(*changed) != notification_id("o-1", ["l1"], "late", "2026-12-04", "email")


def test_message_id_derives_from_the_notification_id() -> None:
    nid = notification_id("o-1", ["l1"], "shipped", "T1", "email")
    assert domain.message_id(nid, "shop.example") == f"<{nid}@shop.example>"


def test_r20_acceptance_with_a_backordered_part_tells_that_line_with_its_dates() -> None:
    notice = notices.notice_accepted(f.accepted("o-1"))
    assert notice is not None
    assert notice.kind == "backorder_accepted" and notice.line_ids == ("l1",)
    (item,) = notice.items
    assert (item.qty, item.backorder_qty) == (3, 2)
    assert (item.ship_by, item.estimated_delivery) == (f.SHIP_BY, f.ETA)  # the backorder part's, not the regular's
    assert notice.data()["ship_by"] == "2026-12-04" and notice.data()["items"][0]["estimated_delivery"] == "2026-12-09"


def test_r20_acceptance_without_backorder_tells_nothing() -> None:
    assert notices.notice_accepted(f.accepted("o-1", backordered=False)) is None


def test_r20_a_line_backordered_from_two_warehouses_shows_the_later_dates() -> None:
    event = f.accepted("o-1")
    line = event.lines[0].model_copy(update={"parts": [
        f.part("backorder", 1, date(2026, 12, 2), date(2026, 12, 6), "wh-1"),
        f.part("backorder", 1, date(2026, 12, 8), date(2026, 12, 12), "wh-2"),
    ]})
    (state, _) = notices.lines_from_accepted(event.model_copy(update={"lines": [line, event.lines[1]]}))
    assert (state.backorder_qty, state.ship_by, state.estimated_delivery) == (2, date(2026, 12, 8), date(2026, 12, 12))


def test_r21_delay_alert_carries_old_and_new_dates_and_each_new_promise_is_new() -> None:
    first = notices.notice_delayed(f.delayed("o-1"), known())
    (item,) = first.items
    assert (item.previous_ship_by, item.ship_by) == (f.SHIP_BY, date(2026, 12, 11))
    assert (item.previous_estimated_delivery, item.estimated_delivery) == (f.ETA, date(2026, 12, 16))
    again = notices.notice_delayed(f.delayed("o-1"), known())
    later = notices.notice_delayed(f.delayed("o-1", ship_by=date(2026, 12, 18), eta=date(2026, 12, 23)), known())
    assert first.notification_id("email") == again.notification_id("email")
    assert first.notification_id("email") != later.notification_id("email")


def test_r21_late_again_after_a_delay_is_news() -> None:
    first = notices.notice_late(f.late("o-1"), known())
    after_delay = notices.notice_late(f.late("o-1", ship_by=date(2026, 12, 11), eta=date(2026, 12, 16)), known())
    assert first.notification_id("app") != after_delay.notification_id("app")


def test_r21_shipped_and_cancelled_tell_only_backordered_lines() -> None:
    shipped = notices.notice_shipped(f.shipped("o-1"), known())
    assert shipped is not None and shipped.line_ids == ("l1",)
    assert shipped.facts["tracking_number"] == "1Z999AA10123456784"
    only_regular = f.shipped("o-1").model_copy(update={"line_ids": ["l2"]})
    assert notices.notice_shipped(only_regular, known()) is None
    cancelled = notices.notice_cancelled(f.cancelled("o-1"), known())
    assert cancelled is not None and cancelled.items[0].ship_by == f.SHIP_BY


def test_r21_released_lines_take_the_release_dates_and_another_release_is_news() -> None:
    notice = notices.notice_released(f.released("o-1"), known())
    assert notice.items[0].ship_by == date(2026, 12, 1) and notice.items[0].qty == 3
    other = notices.notice_released(f.released("o-1", ship_by=date(2026, 12, 2)), known())
    assert notice.notification_id("app") != other.notification_id("app")


def test_r21_refund_for_an_unknown_line_still_tells() -> None:
    notice = notices.notice_refunded(f.refund("o-9"), {})
    assert notice.kind == "refunded" and notice.line_ids == ("l1",)


def test_email_retry_backoff_grows_is_capped_and_jittered() -> None:
    rng = random.Random(1)
    delays = [domain.retry_delay(n, 30, 600, rng) for n in range(1, 8)]
    assert 24 <= delays[0] <= 36 and 48 <= delays[1] <= 72
    assert all(d <= 720 for d in delays) and delays[-1] >= 480


@pytest.mark.parametrize(("attempts", "permanent", "expected"),
                         [(1, False, "retry"), (3, False, "failed"), (1, True, "failed"), (2, False, "retry")])
def test_an_email_is_given_up_after_the_last_attempt_or_a_permanent_reply(attempts: int, permanent: bool,
                                                                  expected: str) -> None:
    assert domain.after_failure(attempts, 3, permanent) == expected


def test_r26_rejection_is_one_notification_per_order_and_none_without_a_buyer() -> None:
    event = o.OrderRejected(order_id="o-1", buyer_id="buyer-1", reason=o.RejectionReason(code="out_of_stock"),
                            line_ids=["l1"])
    first, again = notices.notice_rejected(event), notices.notice_rejected(event.model_copy())
    assert first is not None and again is not None
    assert first.notification_id("email") == again.notification_id("email")  # R22: told once
    assert notices.notice_rejected(event.model_copy(update={"buyer_id": None})) is None
