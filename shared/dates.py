"""Business-day date arithmetic for ship-by and estimated delivery dates (R14). Pure: no I/O.

One module for every service that dates a part: orders when it accepts an order (R14), and
inventory when it quotes a promise before purchase (R24). Both read the same settings
(``DatingSettings``: ``ORDER_CUTOFF``, ``REGULAR_DISPATCH_DAYS``, ``TRANSIT_DAYS``...) and date a
part with ``part_dates``, so a quote and an acceptance at the same instant cannot disagree.

The rules, in one place:

* **Business day**: a working day of the region's calendar from the maintained ``holidays``
  package: not a weekend day *of that country* (Saturday/Sunday for most, Friday/Saturday
  for some) and not a public holiday (observed days included). A region the package does
  not know has weekends only.
* **Order day (the cut-off rule)**: an order is dated in the *seller's* time zone. Placed
  on a business day before the cut-off (default 14:00 local), it counts from that day;
  placed at or after the cut-off, or on a weekend or holiday, it counts from the next
  business day.
* **Ship-by** = order day + N business days of the seller's region, N being the SKU's
  handling time for backorder parts and the standard dispatch time for regular parts.
  So a 3-day backorder placed Monday morning ships by Thursday.
* **Estimated delivery** = ship-by + the transit business days of the buyer's region,
  counted on the buyer's region's calendar.
* **Deadline** (the SLA clock, R15): a part is late once the whole ship-by day has passed
  in the seller's zone, i.e. at local midnight that ends it, stored in UTC. DST is handled
  by ``zoneinfo``: the deadline instant is the wall-clock midnight of that date.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays
from pydantic import Field

from shared.regions import zone
from shared.settings import ServiceSettings

#: Business days from ship-by to delivery, by the buyer's region (R14). A sensible default for
#: domestic ground shipping; override with ``TRANSIT_DAYS='{"US": 4}'`` (merged over this table).
DEFAULT_TRANSIT_DAYS: dict[str, int] = {
    "US": 5, "MX": 6, "BR": 7, "GB": 3, "DE": 3, "FR": 3, "ES": 3, "IT": 3, "JP": 2, "SG": 2,
    "MY": 4, "TH": 4, "VN": 4, "PH": 5, "ID": 5,
}


@lru_cache(maxsize=256)
def calendar(region: str) -> holidays.HolidayBase:
    """The region's public holidays and weekend (years are filled in lazily as they are asked for)."""
    try:
        return holidays.country_holidays(region)
    except NotImplementedError:
        return holidays.HolidayBase()


@lru_cache(maxsize=8192)
def is_business_day(day: date, region: str) -> bool:
    return bool(calendar(region).is_working_day(day))


@lru_cache(maxsize=8192)  # a pure function of its arguments; every line of every order asks it twice
def add_business_days(day: date, n: int, region: str) -> date:
    """The n-th business day after ``day`` (``day`` itself is not counted); n=0 is ``day``
    if it is a business day, else the next one."""
    if n < 0:
        raise ValueError("business days to add must not be negative")
    return calendar(region).get_nth_working_day(day, n)


def next_business_day(day: date, region: str) -> date:
    return add_business_days(day, 1, region)


def order_day(placed_at: datetime, tz: ZoneInfo, region: str, cutoff: time) -> date:
    """The business day an order counts from (the cut-off rule, see the module docstring)."""
    if placed_at.tzinfo is None:
        raise ValueError("placed_at must be timezone-aware")
    local = placed_at.astimezone(tz)
    day = local.date()
    if not is_business_day(day, region) or local.time() >= cutoff:
        return next_business_day(day, region)
    return day


def deadline(ship_by: date, tz: ZoneInfo) -> datetime:
    """The instant a part not shipped by ``ship_by`` becomes late: local midnight ending that day, in UTC."""
    return datetime.combine(ship_by + timedelta(days=1), time(0), tzinfo=tz).astimezone(UTC)


@dataclass(frozen=True)
class Dates:
    ship_by: date
    estimated_delivery: date


@dataclass(frozen=True)
class DatingPolicy:
    """The configurable parts of R14."""

    cutoff: time = time(14, 0)
    regular_dispatch_days: int = 2
    transit_days: Mapping[str, int] = field(default_factory=dict)
    default_transit_days: int = 5
    fallback_handling_days: int = 15

    def transit_for(self, buyer_region: str) -> int:
        return self.transit_days.get(buyer_region, self.default_transit_days)

    def dispatch_days(self, source: str, handling_days: int | None) -> int:
        if source == "regular":
            return self.regular_dispatch_days
        return handling_days if handling_days is not None and handling_days >= 0 else self.fallback_handling_days

    def dates(
        self,
        placed_at: datetime,
        *,
        seller_region: str,
        seller_tz: ZoneInfo,
        buyer_region: str,
        business_days: int,
    ) -> Dates:
        start = order_day(placed_at, seller_tz, seller_region, self.cutoff)
        ship_by = add_business_days(start, business_days, seller_region)
        delivery = add_business_days(ship_by, self.transit_for(buyer_region), buyer_region)
        return Dates(ship_by, delivery)


def part_dates(
    policy: DatingPolicy,
    placed_at: datetime,
    *,
    seller_region: str | None,
    seller_timezone: str | None,
    buyer_region: str,
    source: str,
    handling_days: int | None,
) -> Dates:
    """The dates of one part (R14): dated in the seller's region and zone, or the buyer's when the
    seller is not known; backorder parts by the SKU's handling time, regular ones by dispatch."""
    region = seller_region or buyer_region
    return policy.dates(
        placed_at,
        seller_region=region,
        seller_tz=zone(seller_timezone, region),
        buyer_region=buyer_region,
        business_days=policy.dispatch_days(source, handling_days),
    )


class DatingSettings(ServiceSettings):
    """The settings of R14, read alike by every service that dates parts (orders, inventory)."""

    order_cutoff: time = Field(
        default=time(14, 0),
        description="Local time (seller's zone) after which an order counts from the next business day",
    )
    regular_dispatch_days: int = Field(default=2, ge=0, le=30, description="Standard dispatch time of regular parts")
    transit_days: dict[str, int] = Field(default_factory=dict, description="Overrides of DEFAULT_TRANSIT_DAYS")
    default_transit_days: int = Field(default=5, ge=0, le=60, description="Transit for regions not in the table")
    fallback_handling_days: int = Field(
        default=15, ge=1, le=60,
        description="Handling time of a backorder part whose SKU's handling time is not known",
    )

    def transit_table(self) -> dict[str, int]:
        return {**DEFAULT_TRANSIT_DAYS, **self.transit_days}

    def dating_policy(self) -> DatingPolicy:
        return DatingPolicy(
            cutoff=self.order_cutoff,
            regular_dispatch_days=self.regular_dispatch_days,
            transit_days=self.transit_table(),
            default_transit_days=self.default_transit_days,
            fallback_handling_days=self.fallback_handling_days,
        )
