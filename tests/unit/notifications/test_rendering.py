"""Templates: every kind renders, the dates are there in the buyer's words and zone, HTML is escaped (R20, R21)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from services.notifications import domain, notices
from services.notifications.domain import Buyer, Notice
from services.notifications.localization import format_date, format_datetime
from services.notifications.rendering import Renderer
from shared.contract import orders as o
from shared.regions import zone as zone_for
from tests.unit.notifications import factories as f

renderer = Renderer("https://shop.example/orders/{order_id}")


def buyer(locale: str = "en_US", timezone: str | None = None, region: str = "US") -> Buyer:
    return Buyer("buyer-1", f.email_of("buyer-1"), region, locale, timezone, f.PLACED_AT)


def known() -> dict[str, domain.LineState]:
    return {line.line_id: line for line in notices.lines_from_accepted(f.accepted("o-1"))}


def every_kind() -> list[Notice]:
    found = [
        notices.notice_accepted(f.accepted("o-1")),
        notices.notice_released(f.released("o-1"), known()),
        notices.notice_shipped(f.shipped("o-1"), known()),
        notices.notice_late(f.late("o-1"), known()),
        notices.notice_delayed(f.delayed("o-1"), known()),
        notices.notice_cancelled(f.cancelled("o-1"), known()),
        notices.notice_refunded(f.refund("o-1"), known()),
    ]
    assert all(n is not None for n in found)
    return [n for n in found if n is not None]


@pytest.mark.parametrize("notice", every_kind(), ids=lambda n: n.kind)
def test_r21_every_kind_says_back_order_and_gives_both_dates_in_every_part(notice: Notice) -> None:
    rendered = renderer.render(notice, buyer())
    ship_by = format_date(notice.items[0].ship_by, "en_US")  # type: ignore[arg-type]
    eta = format_date(notice.items[0].estimated_delivery, "en_US")  # type: ignore[arg-type]
    for part in (rendered.text, rendered.html):
        assert "on back order" in part.lower()
        assert ship_by in part and eta in part
        assert "o-1" in part
    assert f'<time datetime="{notice.items[0].ship_by.isoformat()}">' in rendered.html  # type: ignore[union-attr]
    assert rendered.subject and "\n" not in rendered.subject and "o-1" in rendered.subject
    assert rendered.app and "o-1" in rendered.app
    assert f.email_of("buyer-1") not in rendered.text + rendered.html  # the address is only in the To header


def test_r20_dates_in_us_english_and_the_order_time_in_the_buyers_zone() -> None:
    notice = notices.notice_accepted(f.accepted("o-1"))
    assert notice is not None
    rendered = renderer.render(notice, buyer())
    assert "Friday, December 4, 2026" in rendered.subject
    assert "Ship by: Friday, December 4, 2026" in rendered.text
    assert "Estimated delivery: Wednesday, December 9, 2026" in rendered.text
    assert "Sunday, November 22, 2026 at 9:30 PM EST" in rendered.text  # 02:30 UTC on the 23rd
    assert "2 of 3 on back order" in rendered.text
    assert "sku-2" not in rendered.text  # l2 is in stock: not this message's news


@pytest.mark.parametrize(("locale", "timezone", "expected_date", "expected_placed"), [
    ("de_DE", "Europe/Berlin", "Freitag, 4. Dezember 2026", "Montag, 23. November 2026 um 03:30 CET"),
    ("fr_FR", "Europe/Paris", "vendredi 4 décembre 2026", "lundi 23 novembre 2026 à 03:30 CET"),
    ("ja_JP", "Asia/Tokyo", "2026年12月4日(金)", "2026年11月23日(月) 11:30 JST"),
    ("en_GB", None, "Friday 4 December 2026", "Monday 23 November 2026 at 02:30 GMT"),
    ("pt_BR", "America/Sao_Paulo", "sexta-feira, 4 de dezembro de 2026", "22 de novembro de 2026 às 23:30"),
    ("xx_YY", "Not/AZone", "Friday, December 4, 2026", "Sunday, November 22, 2026 at 9:30 PM EST"),
])
def test_r20_dates_follow_the_buyers_locale_and_zone(locale: str, timezone: str | None, expected_date: str,
                                                     expected_placed: str) -> None:
    region = "GB" if locale == "en_GB" else "US"
    notice = notices.notice_accepted(f.accepted("o-1"))
    assert notice is not None
    rendered = renderer.render(notice, buyer(locale, timezone, region))
    assert expected_date in rendered.text and expected_date in rendered.html
    assert expected_placed in rendered.text


def test_r21_delay_alert_shows_the_old_and_the_new_dates() -> None:
    rendered = renderer.render(notices.notice_delayed(f.delayed("o-1"), known()), buyer())
    assert "Ship by: Friday, December 11, 2026 (was Friday, December 4, 2026)" in rendered.text
    assert "Estimated delivery: Wednesday, December 16, 2026 (was Wednesday, December 9, 2026)" in rendered.text
    assert '<time datetime="2026-12-04">' in rendered.html and '<time datetime="2026-12-11">' in rendered.html


def test_r15_late_message_offers_cancellation_with_the_order_link() -> None:
    rendered = renderer.render(notices.notice_late(f.late("o-1"), known()), buyer())
    assert "cancel" in rendered.text and "https://shop.example/orders/o-1" in rendered.text
    assert 'href="https://shop.example/orders/o-1"' in rendered.html
    assert "did not ship by Friday, December 4, 2026" in rendered.text
    assert "may cancel" in rendered.app and "may cancel" in rendered.text


def test_html_is_autoescaped_and_text_is_not() -> None:
    event = f.cancelled("o-1").model_copy(update={"reason": "<script>alert(1)</script> & co"})
    notice = notices.notice_cancelled(event, known())
    assert notice is not None
    rendered = renderer.render(notice, buyer())
    assert "<script>" not in rendered.html and "&lt;script&gt;" in rendered.html and "&amp; co" in rendered.html
    assert "<script>alert(1)</script> & co" in rendered.text


def test_a_missing_buyer_renders_without_the_order_time() -> None:
    notice = notices.notice_accepted(f.accepted("o-1"))
    assert notice is not None
    rendered = renderer.render(notice, None)
    assert "Friday, December 4, 2026" in rendered.text and ", placed" not in rendered.text


def test_zone_falls_back_to_the_region_then_utc() -> None:
    assert zone_for(None, "JP").key == "Asia/Tokyo"
    assert zone_for("Bogus/Zone", "DE").key == "Europe/Berlin"
    assert zone_for(None, "ZZ").key == "UTC"
    assert format_datetime(datetime(2026, 7, 1, 12, 0, tzinfo=UTC), "en_US", zone_for(None, "US")) == (
        "Wednesday, July 1, 2026 at 8:00 AM EDT")
    assert format_date(date(2026, 1, 1), "de_AT") == "Donnerstag, 1. Januar 2026"  # language fallback


@pytest.mark.parametrize(("detail", "said"), [("sku_on_backorder", "It is on back order,"),
                                              ("out_of_stock", "It is out of stock,"),
                                              (None, "It is on back order or out of stock,")])
def test_r21_refund_says_why_and_names_the_sku_of_an_unknown_line(detail: str | None, said: str) -> None:
    event = f.refund("o-9").model_copy(update={"detail": detail, "sku_id": "sku-77"})
    rendered = renderer.render(notices.notice_refunded(event, {}), buyer())
    assert said in rendered.text and "sku-77" in rendered.text
    assert said.replace("It is ", "It is <strong>").replace(",", "</strong>,") in rendered.html


@pytest.mark.parametrize(("reason", "words"), [
    ("out_of_stock", "out of stock"), ("invalid_order", "same line twice"),
    ("some_new_reason", "some new reason"),
])
def test_r26_a_rejected_order_is_told_with_its_reason_in_words(reason: str, words: str) -> None:
    notice = notices.notice_rejected(o.OrderRejected(order_id="o-1", buyer_id="buyer-1",
                                                     reason=o.RejectionReason(code=reason),
                                                     line_ids=["l2", "l1"]))
    assert notice is not None and notice.kind == "rejected" and notice.line_ids == ("l1", "l2")

    rendered = renderer.render(notice, buyer())

    for part in (rendered.app, rendered.text, rendered.html):
        assert words in part and "o-1" in part
    assert "not be charged" in rendered.text and "line l1, line l2." in rendered.text
    assert "o-1" in rendered.subject and "\n" not in rendered.subject
