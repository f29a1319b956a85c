"""The stock of the SKUs one transaction locked: their policies and levels, and what changed since read."""

from __future__ import annotations

from dataclasses import dataclass

from services.inventory.domain import Level, Policy


@dataclass(frozen=True)
class Why:
    """Why ledger rows exist (R12): the command or event that caused them, and who acted."""

    cause_id: str
    cause_type: str
    actor: str | None


def _as_tuple(lv: Level) -> tuple[str, str, int, int, int, int, int]:
    """``astuple(level)``, without its deep copy (this runs for every locked level)."""
    return (lv.sku_id, lv.warehouse_id, lv.on_hand, lv.allocated, lv.backorder_limit, lv.backorder_allocated,
            lv.priority)


class Locked:
    """The locked SKUs of one transaction: their policies and levels, and what changed since."""

    def __init__(self, policies: dict[str, Policy], levels: list[Level]) -> None:
        self.policies = policies
        self.by_sku: dict[str, dict[str, Level]] = {}
        for level in levels:
            self.by_sku.setdefault(level.sku_id, {})[level.warehouse_id] = level
        self._snapshot = {(lv.sku_id, lv.warehouse_id): _as_tuple(lv) for lv in levels}
        self._policies_read = dict(policies)

    def policy(self, sku_id: str) -> Policy:
        return self.policies.get(sku_id) or Policy(sku_id)

    def level(self, sku_id: str, warehouse_id: str) -> Level:
        return self.by_sku[sku_id][warehouse_id]

    def sku_levels(self, sku_id: str) -> list[Level]:
        return list(self.by_sku.get(sku_id, {}).values())

    def changed(self) -> list[Level]:
        """Levels that differ from what was read, each checked against the invariants first."""
        out = []
        for sku_id in sorted(self.by_sku):
            for warehouse_id in sorted(self.by_sku[sku_id]):
                level = self.by_sku[sku_id][warehouse_id]
                if self._snapshot.get((sku_id, warehouse_id)) != _as_tuple(level):
                    level.check()
                    out.append(level)
        return out

    def as_read(self, sku_id: str) -> tuple[list[Level], Policy]:
        """The SKU's levels and policy as they were read, before this transaction changed them."""
        levels = [Level(*self._snapshot[(sku_id, wh)]) for wh in self.by_sku.get(sku_id, {})
                  if (sku_id, wh) in self._snapshot]
        return levels, self._policies_read.get(sku_id) or Policy(sku_id)

    def delta(self, level: Level) -> tuple[int, int, int, int]:
        """What changed in ``level`` since it was read: on_hand, allocated, backorder limit and allocated."""
        before = self._snapshot[(level.sku_id, level.warehouse_id)]
        return (level.on_hand - before[2], level.allocated - before[3], level.backorder_limit - before[4],
                level.backorder_allocated - before[5])
