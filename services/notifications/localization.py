"""Dates and times as a buyer reads them: their locale's words and order, their time zone.

Pure and small on purpose. Babel (CLDR) would cover every locale; until it is a
dependency this table covers the platform's languages and falls back from
``de_AT`` to ``de`` to ``en_US``. Calendar dates (ship-by, estimated delivery) are
shown as they are; instants (when the order was placed) are converted to the
buyer's zone first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

DEFAULT_LOCALE = "en_US"



@dataclass(frozen=True)
class DateStyle:
    months: tuple[str, ...]
    weekdays: tuple[str, ...]  # Monday first, as date.weekday()
    date_pattern: str  # fields: weekday, day, month, year
    time_pattern: str  # fields: date, time, zone
    twelve_hour: bool = False


_EN_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
              "October", "November", "December")
_EN_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

STYLES: dict[str, DateStyle] = {
    "en_US": DateStyle(_EN_MONTHS, _EN_DAYS, "{weekday}, {month} {day}, {year}", "{date} at {time} {zone}",
                       twelve_hour=True),
    "en": DateStyle(_EN_MONTHS, _EN_DAYS, "{weekday} {day} {month} {year}", "{date} at {time} {zone}"),
    "de": DateStyle(
        ("Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September", "Oktober",
         "November", "Dezember"),
        ("Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag"),
        "{weekday}, {day}. {month} {year}", "{date} um {time} {zone}",
    ),
    "fr": DateStyle(
        ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
         "novembre", "décembre"),
        ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"),
        "{weekday} {day} {month} {year}", "{date} à {time} {zone}",
    ),
    "es": DateStyle(
        ("enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre",
         "noviembre", "diciembre"),
        ("lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo"),
        "{weekday}, {day} de {month} de {year}", "{date}, {time} {zone}",
    ),
    "it": DateStyle(
        ("gennaio", "febbraio", "marzo", "aprile", "maggio", "giugno", "luglio", "agosto", "settembre",
         "ottobre", "novembre", "dicembre"),
        ("lunedì", "martedì", "mercoledì", "giovedì", "venerdì", "sabato", "domenica"),
        "{weekday} {day} {month} {year}", "{date} alle {time} {zone}",
    ),
    "pt": DateStyle(
        ("janeiro", "fevereiro", "março", "abril", "maio", "junho", "julho", "agosto", "setembro", "outubro",
         "novembro", "dezembro"),
        ("segunda-feira", "terça-feira", "quarta-feira", "quinta-feira", "sexta-feira", "sábado", "domingo"),
        "{weekday}, {day} de {month} de {year}", "{date} às {time} {zone}",
    ),
    "ja": DateStyle(
        tuple(f"{m}月" for m in range(1, 13)),
        ("月", "火", "水", "木", "金", "土", "日"),
        "{year}年{month}{day}日({weekday})", "{date} {time} {zone}",
    ),
}


def style_for(locale: str | None) -> DateStyle:
    """``de_AT`` -> ``de_AT`` if known, else ``de``, else ``en_US``."""
    code = (locale or DEFAULT_LOCALE).replace("-", "_")
    return STYLES.get(code) or STYLES.get(code.split("_")[0]) or STYLES[DEFAULT_LOCALE]


def format_date(value: date, locale: str | None) -> str:
    style = style_for(locale)
    return style.date_pattern.format(
        weekday=style.weekdays[value.weekday()], day=value.day, month=style.months[value.month - 1], year=value.year
    )


def format_datetime(value: datetime, locale: str | None, zone: ZoneInfo) -> str:
    """An instant in the buyer's zone, e.g. ``Sunday, November 22, 2026 at 9:30 PM EST``."""
    local = value.astimezone(zone)
    style = style_for(locale)
    if style.twelve_hour:
        hour = local.hour % 12 or 12
        clock = f"{hour}:{local.minute:02d} {'AM' if local.hour < 12 else 'PM'}"
    else:
        clock = f"{local.hour:02d}:{local.minute:02d}"
    return style.time_pattern.format(date=format_date(local.date(), locale), time=clock, zone=local.tzname() or "")
