from __future__ import annotations

from pydantic import Field

from shared.settings import ServiceSettings


class InventorySettings(ServiceSettings):
    #: warehouse -> priority (lower first) used to break ties in the warehouse strategy
    warehouse_priority: dict[str, int] = Field(default_factory=dict)
