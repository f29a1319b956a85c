from __future__ import annotations

from pydantic import Field

from shared.dates import DatingSettings


class InventorySettings(DatingSettings):
    """The dating settings (``ORDER_CUTOFF``, ``TRANSIT_DAYS``...) are the ones orders reads: promises (R24)
    are dated as acceptance dates them, so set them alike on both services."""

    #: ``WAREHOUSE_PRIORITY='{"wh-east": 1, "wh-west": 2}'``: warehouse -> priority (lower first) in the
    #: allocation strategy; unlisted warehouses get 100. See services/inventory/README.md.
    warehouse_priority: dict[str, int] = Field(default_factory=dict)
