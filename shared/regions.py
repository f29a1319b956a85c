"""Regions the platform knows: their main time zone, used when a seller or buyer names none."""

from __future__ import annotations

from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

#: ISO 3166-1 alpha-2 region -> its main IANA zone
REGION_TIMEZONES: dict[str, str] = {
    "US": "America/New_York", "GB": "Europe/London", "DE": "Europe/Berlin", "FR": "Europe/Paris",
    "ES": "Europe/Madrid", "IT": "Europe/Rome", "MY": "Asia/Kuala_Lumpur", "SG": "Asia/Singapore",
    "TH": "Asia/Bangkok", "VN": "Asia/Ho_Chi_Minh", "PH": "Asia/Manila", "ID": "Asia/Jakarta",
    "MX": "America/Mexico_City", "JP": "Asia/Tokyo", "BR": "America/Sao_Paulo",
}


def region_zone_name(region: str | None) -> str:
    return REGION_TIMEZONES.get(region or "", "UTC")


@lru_cache(maxsize=256)
def zone(name: str | None, region: str | None) -> ZoneInfo:
    """``name`` if it is a valid IANA zone, else the region's main zone, else UTC."""
    for candidate in (name, REGION_TIMEZONES.get(region or "")):
        if candidate:
            try:
                return ZoneInfo(candidate)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")
