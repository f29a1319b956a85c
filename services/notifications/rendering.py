"""Notices to words: the Jinja2 templates under ``templates/``, one pair per kind."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template, select_autoescape
from jinja2.runtime import Context

from services.notifications.domain import KINDS, Buyer, Notice
from services.notifications.localization import DEFAULT_LOCALE, format_date, format_datetime
from shared.regions import zone

TEMPLATES = Path(__file__).parent / "templates"
TEMPLATES_LANGUAGE = "en"  # the copy; dates are in the buyer's locale
_BLANK_LINES = re.compile(r"\n\s*\n(\s*\n)+")
concat = "".join
_DATE_FIELDS = ("ship_by", "estimated_delivery", "previous_ship_by", "previous_estimated_delivery")


@dataclass(frozen=True)
class Rendered:
    subject: str
    app: str
    text: str
    html: str


class Renderer:
    def __init__(self, order_url: str, directory: Path = TEMPLATES) -> None:
        self.order_url = order_url
        self.env = Environment(
            loader=FileSystemLoader(directory),
            autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=False, default=False),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=False,
        )
        #: every kind's pair, loaded and compiled once, when the service starts (not at its first email)
        self.templates = {kind: (self.env.get_template(f"{kind}.txt.j2"), self.env.get_template(f"{kind}.html.j2"))
                          for kind in KINDS}

    def context(self, notice: Notice, buyer: Buyer | None) -> dict[str, Any]:
        """What the templates see: dates formatted for the buyer, with the ISO value beside each."""
        locale = buyer.locale if buyer else DEFAULT_LOCALE

        def dates(values: dict[str, Any]) -> dict[str, Any]:
            out = dict(values)
            for name in _DATE_FIELDS:
                value = values.get(name)
                out[name] = format_date(value, locale) if isinstance(value, date) else None
                out[f"{name}_iso"] = value.isoformat() if isinstance(value, date) else None
            return out

        placed_at = None
        if buyer is not None:
            placed_at = format_datetime(buyer.placed_at, locale, zone(buyer.timezone, buyer.region))
        return {
            "kind": notice.kind,
            "order_id": notice.order_id,
            "order_url": self.order_url.format(order_id=notice.order_id) if notice.order_id else None,
            "seller_id": notice.seller_id,  # R32: a seller's alert
            "sku_id": notice.sku_id,
            "placed_at": placed_at,
            "items": [dates(dict(item.__dict__)) for item in notice.items],
            "facts": {"tracking_number": "", "reason": "", "status": "", "availability": "", "partial": "",
                      "detail": "", **notice.facts},
            **dates({"ship_by": notice.ship_by, "estimated_delivery": notice.estimated_delivery}),
        }

    def render(self, notice: Notice, buyer: Buyer | None) -> Rendered:
        context = self.context(notice, buyer)
        text_template, html_template = self.templates[notice.kind]
        # the subject, the app message and the body from one context: the blocks only read it
        text_context = text_template.new_context(context)
        subject = " ".join(_block(text_template, "subject", text_context).split())
        context["subject"] = subject
        return Rendered(
            subject=subject,
            app=" ".join(_block(text_template, "app", text_context).split()),
            text=_BLANK_LINES.sub("\n\n", concat(text_template.root_render_func(text_context))).strip() + "\n",
            html=concat(html_template.root_render_func(html_template.new_context(context))),
        )


def _block(template: Template, name: str, context: Context) -> str:
    return concat(template.blocks[name](context)).strip()
