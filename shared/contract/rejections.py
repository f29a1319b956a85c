"""The answer every service gives to a command it refuses: ``CommandRejected``.

Each service publishes it on its own ``<service>.events`` topic, with the refused command's
``event_id`` as both ``command_id`` and ``causation_id``.
"""

from __future__ import annotations

from pydantic import ConfigDict, Field

from .envelope import Payload


class CommandRejected(Payload):
    """A command was refused and changed nothing."""

    model_config = ConfigDict(json_schema_extra={"examples": [dict(
        command_id="6f1c2b1e-3f7a-4a8e-9a55-2d8c4d7f0b11", command_type="ActivateBackorder",
        reason="listing_cap_reached", message="seller seller-1 already has 30 listings on backorder, the most allowed",
    )]})

    command_id: str = Field(description="event_id of the rejected command",
                            examples=["6f1c2b1e-3f7a-4a8e-9a55-2d8c4d7f0b11"])
    command_type: str = Field(max_length=100, description="type of the rejected command",
                              examples=["ActivateBackorder"])
    reason: str = Field(
        max_length=64,
        description=(
            "Stable machine-readable code. Catalog: listing_type_conflict, seller_not_eligible, listing_cap_reached, "
            "sku_cap_reached, handling_time_out_of_range, not_owner, not_authorized, unauthenticated, "
            "unknown_seller, unknown_sku, sku_delisted, sku_in_other_listing, duplicate_sku, duplicate_warehouse, "
            "not_on_backorder, listing_type_unchanged, use_activate_backorder, eligibility_unchanged, invalid_timezone."
            " Inventory inbounds (R28): invalid_qty, date_in_past, unknown_warehouse, unknown_inbound, "
            "inbound_id_reused, inbound_closed, nothing_to_change. Inventory transfer policy (R31): "
            "warehouses_without_transfers, duplicate_warehouse, too_few_warehouses, unknown_warehouse"
        ),
        examples=["not_owner"],
    )
    message: str = Field(max_length=1000, description="A sentence for humans",
                         examples=["SKU sku-42 belongs to another seller"])
