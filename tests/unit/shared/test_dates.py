"""R14: business-day ship-by and delivery dates, hand-checked against the calendar.

Calendar facts the cases rely on (2026 unless said otherwise):
US: Thanksgiving Thu Nov 26; Christmas Fri Dec 25; New Year Fri 2027-01-01; Memorial Day Mon May 25;
    DST starts Sun Mar 8, ends Sun Nov 1 (New York is UTC-5 in winter, UTC-4 in summer).
GB: Christmas Fri Dec 25, Boxing Day Sat Dec 26 observed Mon Dec 28; New Year Fri 2027-01-01.
DE: Good Friday Apr 3, Easter Monday Apr 6, Ascension Thu May 14, German Unity Day Sat Oct 3 (no
    substitute); CET/CEST switch Sun Mar 29.
JP: Showa Day Wed Apr 29; Golden Week Sun May 3 - Wed May 6 (May 6 substitutes for May 3);
    Labour Thanksgiving Day Mon Nov 23.
IL: the weekend is Friday and Saturday.
Default policy: cut-off 14:00 in the seller's zone, regular dispatch 2 business days.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from shared.dates import (
    Dates,
    DatingPolicy,
    add_business_days,
    deadline,
    is_business_day,
    order_day,
)
from shared.regions import zone

NY = "America/New_York"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# (id, placed_at UTC, seller region, seller zone, business days, expected ship-by)
SHIP_BY_CASES = [
    ("us_monday_morning", "2026-11-16T14:00", "US", NY, 3, date(2026, 11, 19)),
    ("us_monday_after_cutoff", "2026-11-16T20:00", "US", NY, 3, date(2026, 11, 20)),
    ("us_exactly_at_cutoff_counts_next_day", "2026-11-16T19:00", "US", NY, 3, date(2026, 11, 20)),
    ("us_one_minute_before_cutoff", "2026-11-16T18:59", "US", NY, 3, date(2026, 11, 19)),
    ("us_friday_after_cutoff_skips_weekend_and_thanksgiving", "2026-11-20T20:00", "US", NY, 3, date(2026, 11, 27)),
    ("us_saturday_counts_from_monday", "2026-11-21T15:00", "US", NY, 3, date(2026, 11, 27)),
    ("us_thanksgiving_week", "2026-11-23T14:00", "US", NY, 3, date(2026, 11, 27)),
    ("us_placed_on_thanksgiving", "2026-11-26T15:00", "US", NY, 5, date(2026, 12, 4)),
    ("us_memorial_day", "2026-05-22T13:00", "US", NY, 3, date(2026, 5, 28)),
    ("us_year_end_skips_christmas", "2026-12-23T14:00", "US", NY, 5, date(2026, 12, 31)),
    ("us_christmas_eve_after_cutoff_crosses_new_year", "2026-12-24T20:00", "US", NY, 5, date(2027, 1, 5)),
    ("us_west_coast_evening_is_still_monday", "2026-11-24T06:00", "US", "America/Los_Angeles", 3,
     date(2026, 11, 30)),
    ("gb_christmas_and_observed_boxing_day", "2026-12-24T10:00", "GB", "Europe/London", 3, date(2026, 12, 31)),
    ("gb_new_year", "2026-12-30T09:00", "GB", "Europe/London", 2, date(2027, 1, 4)),
    ("de_easter", "2026-04-02T08:00", "DE", "Europe/Berlin", 3, date(2026, 4, 9)),
    ("de_ascension", "2026-05-13T07:00", "DE", "Europe/Berlin", 2, date(2026, 5, 18)),
    ("de_unity_day_on_saturday_has_no_substitute", "2026-10-02T07:00", "DE", "Europe/Berlin", 3,
     date(2026, 10, 7)),
    ("jp_golden_week", "2026-04-28T01:00", "JP", "Asia/Tokyo", 5, date(2026, 5, 11)),
    ("jp_local_date_is_a_holiday_though_utc_is_sunday", "2026-11-22T20:00", "JP", "Asia/Tokyo", 3,
     date(2026, 11, 27)),
    ("il_sunday_is_a_business_day", "2026-11-22T08:00", "IL", "Asia/Jerusalem", 3, date(2026, 11, 25)),
    ("region_without_calendar_has_weekends_only", "2026-12-25T10:00", "ZZ", "UTC", 1, date(2026, 12, 28)),
    # DST: the same UTC time of day falls before the cut-off in winter and after it in summer
    ("dst_us_before_spring_forward_13_30_est", "2026-03-06T18:30", "US", NY, 3, date(2026, 3, 11)),
    ("dst_us_after_spring_forward_14_30_edt", "2026-03-09T18:30", "US", NY, 3, date(2026, 3, 13)),
    ("dst_us_before_fall_back_14_30_edt", "2026-10-30T18:30", "US", NY, 3, date(2026, 11, 5)),
    ("dst_us_after_fall_back_13_30_est", "2026-11-02T18:30", "US", NY, 3, date(2026, 11, 5)),
    ("dst_de_before_switch_13_30_cet", "2026-03-27T12:30", "DE", "Europe/Berlin", 3, date(2026, 4, 1)),
    ("dst_de_after_switch_14_30_cest_and_easter", "2026-03-30T12:30", "DE", "Europe/Berlin", 3,
     date(2026, 4, 7)),
]


@pytest.mark.parametrize(
    ("placed_at", "region", "tz", "days", "expected"),
    [case[1:] for case in SHIP_BY_CASES],
    ids=[case[0] for case in SHIP_BY_CASES],
)
def test_r14_ship_by_skips_weekend_and_holiday(placed_at: str, region: str, tz: str, days: int,
                                               expected: date) -> None:
    dates = DatingPolicy().dates(utc(placed_at), seller_region=region, seller_tz=ZoneInfo(tz), buyer_region=region,
                                 business_days=days)
    assert dates.ship_by == expected
    assert is_business_day(dates.ship_by, region)


# (id, ship-by, buyer region, transit days, expected delivery)
DELIVERY_CASES = [
    ("us_transit_skips_thanksgiving", date(2026, 11, 25), "US", 5, date(2026, 12, 3)),
    ("gb_transit_over_christmas", date(2026, 12, 24), "GB", 3, date(2026, 12, 31)),
    ("de_transit_over_easter", date(2026, 4, 2), "DE", 2, date(2026, 4, 8)),
    ("zero_transit_on_a_business_day_is_the_same_day", date(2026, 11, 25), "US", 0, date(2026, 11, 25)),
]


@pytest.mark.parametrize(
    ("ship_by", "region", "transit", "expected"),
    [case[1:] for case in DELIVERY_CASES],
    ids=[case[0] for case in DELIVERY_CASES],
)
def test_r14_estimated_delivery_adds_transit_business_days_of_buyer_region(
    ship_by: date, region: str, transit: int, expected: date
) -> None:
    assert add_business_days(ship_by, transit, region) == expected


def test_r14_estimated_delivery_uses_the_buyer_regions_table_and_calendar() -> None:
    policy = DatingPolicy(transit_days={"GB": 3}, default_transit_days=7)
    # US seller, GB buyer: ships by Thu Dec 24 (US), then 3 GB business days skip Dec 25, 28 (GB observed)
    dates = policy.dates(utc("2026-12-21T14:00"), seller_region="US", seller_tz=ZoneInfo(NY), buyer_region="GB",
                         business_days=3)
    assert dates == Dates(date(2026, 12, 24), date(2026, 12, 31))
    # a region not in the table takes the default
    assert policy.transit_for("FR") == 7


# (id, ship-by, seller zone, deadline instant UTC)
DEADLINE_CASES = [
    ("ny_winter_midnight_is_05z", date(2026, 11, 27), NY, "2026-11-28T05:00"),
    ("ny_summer_midnight_is_04z", date(2026, 3, 9), NY, "2026-03-10T04:00"),
    ("ny_night_before_spring_forward_is_still_est", date(2026, 3, 7), NY, "2026-03-08T05:00"),
    ("ny_night_before_fall_back_is_still_edt", date(2026, 10, 31), NY, "2026-11-01T04:00"),
    ("london_year_end", date(2026, 12, 31), "Europe/London", "2027-01-01T00:00"),
    ("berlin_summer", date(2026, 4, 7), "Europe/Berlin", "2026-04-07T22:00"),
]


@pytest.mark.parametrize(
    ("ship_by", "tz", "expected"),
    [case[1:] for case in DEADLINE_CASES],
    ids=[case[0] for case in DEADLINE_CASES],
)
def test_r15_deadline_is_local_midnight_ending_the_ship_by_day(ship_by: date, tz: str, expected: str) -> None:
    assert deadline(ship_by, ZoneInfo(tz)) == utc(expected)


def test_r14_regular_parts_use_standard_dispatch_and_backorder_parts_the_handling_time() -> None:
    policy = DatingPolicy(regular_dispatch_days=2, fallback_handling_days=15)
    assert policy.dispatch_days("regular", 10) == 2
    assert policy.dispatch_days("backorder", 10) == 10
    assert policy.dispatch_days("backorder", None) == 15


def test_the_order_day_cutoff_is_configurable() -> None:
    placed = utc("2026-11-16T20:00")  # Monday 15:00 in New York
    assert order_day(placed, ZoneInfo(NY), "US", time(14, 0)) == date(2026, 11, 17)
    assert order_day(placed, ZoneInfo(NY), "US", time(17, 0)) == date(2026, 11, 16)


def test_r14_unknown_or_invalid_zone_falls_back_to_the_regions_zone() -> None:
    assert zone("Mars/Olympus_Mons", "DE") == ZoneInfo("Europe/Berlin")
    assert zone(None, "US") == ZoneInfo(NY)
    assert zone("", "ZZ") == ZoneInfo("UTC")


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError):
        order_day(datetime(2026, 11, 16, 9), ZoneInfo(NY), "US", time(14))
    with pytest.raises(ValueError):
        add_business_days(date(2026, 11, 16), -1, "US")


def test_r14_the_dating_settings_become_the_policy_field_by_field() -> None:
    from shared.dates import DEFAULT_TRANSIT_DAYS, DatingPolicy, DatingSettings

    settings = DatingSettings(order_cutoff=time(11, 30), regular_dispatch_days=3, transit_days={"GB": 9, "XX": 4},
                              default_transit_days=7, fallback_handling_days=21)
    assert settings.dating_policy() == DatingPolicy(
        cutoff=time(11, 30), regular_dispatch_days=3, transit_days={**DEFAULT_TRANSIT_DAYS, "GB": 9, "XX": 4},
        default_transit_days=7, fallback_handling_days=21)


def test_r14_a_handling_time_of_zero_days_is_kept_and_only_an_unknown_or_negative_one_falls_back() -> None:
    from shared.dates import DatingPolicy

    policy = DatingPolicy(regular_dispatch_days=2, fallback_handling_days=15)
    assert [policy.dispatch_days("backorder", days) for days in (0, 1, None, -1)] == [0, 1, 15, 15]
    assert policy.dispatch_days("regular", 9) == 2


def test_r14_a_seller_zone_that_is_not_a_zone_falls_back_to_the_sellers_region() -> None:
    from shared.dates import DatingPolicy, part_dates

    # 13:30 UTC is 14:30 in Berlin, after the cut-off there, and before it in UTC
    dates = part_dates(DatingPolicy(), datetime(2026, 12, 1, 13, 30, tzinfo=UTC), seller_region="DE",
                       seller_timezone="Not/AZone", buyer_region="DE", source="regular", handling_days=None)
    assert dates.ship_by == date(2026, 12, 4)  # from Wednesday 2 December, 2 business days


def test_r14_a_naive_instant_is_refused_with_what_is_missing() -> None:
    from shared.dates import order_day

    with pytest.raises(ValueError) as refused:
        order_day(datetime(2026, 12, 1, 9, 0), ZoneInfo("UTC"), "US", time(14, 0))
    assert str(refused.value) == "placed_at must be timezone-aware"
