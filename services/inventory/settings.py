from __future__ import annotations

from pydantic import Field

from shared.settings import ServiceSettings


class InventorySettings(ServiceSettings):
    #: ``WAREHOUSE_PRIORITY='{"wh-east": 1, "wh-west": 2}'``: warehouse -> priority (lower first) in the
    #: allocation strategy; unlisted warehouses get 100. See services/inventory/README.md.
    warehouse_priority: dict[str, int] = Field(default_factory=dict)
