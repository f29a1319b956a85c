"""R01-R06a end to end: commands on ``catalog.commands``, decisions on ``catalog.events``, state
through the read API the operator CLI uses. Two catalog instances in one consumer group, with
the default caps (R03's 30 passed explicitly, as a deployment would).

Every command goes through ``Catalog.run``: it sends the command, then a *barrier* (a command
for the same seller that is always rejected). Both travel on the seller's partition, so one
instance handles them in order, and the outbox relays publish in commit order; once the
barrier's rejection is seen, every event the command caused has been seen too. That is how
these tests assert on the *absence* of effects without sleeping.
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import asyncpg
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from devstack.client import Observed, PlatformClient
from devstack.stack import Stack
from shared.contract import catalog as c
from shared.contract.catalog import WarehouseQty
from shared.contract.envelope import Envelope, Payload, Principal

pytestmark = pytest.mark.integration

OPERATOR = Principal(kind="operator", id="ops-1")
EVENTS = "catalog.events"
DLQ = "catalog.commands.dlq"


CAP = 30


@pytest.fixture(scope="module", autouse=True)
def instances(stack: Stack) -> list[str]:
    env = {"MAX_BACKORDER_LISTINGS": str(CAP)}
    urls = []
    for instance in (0, 1):
        # one after the other: two processes migrating one fresh database at once can collide
        # in shared/persistence/migrate.py (its CREATE TABLE IF NOT EXISTS runs before the advisory lock)
        urls.append(stack.start_service("catalog", instance, extra_env=env).url)
        stack.wait_ready()
    return urls


@dataclass
class Outcome:
    command: Envelope[Any]
    events: list[Observed]

    @property
    def types(self) -> list[str]:
        return [e.type for e in self.events]

    def only(self, message_type: str) -> dict[str, Any]:
        found = [e.payload for e in self.events if e.type == message_type]
        assert len(found) == 1, self.types
        return found[0]

    def rejected(self, reason: str) -> dict[str, Any]:
        """The command was refused for ``reason`` and caused nothing else."""
        assert self.types == ["CommandRejected"], self.types
        rejection = self.events[0].payload
        assert rejection["reason"] == reason, rejection
        assert rejection["command_id"] == str(self.command.event_id)
        assert rejection["command_type"] == self.command.type
        assert len(rejection["message"]) > 10
        return rejection

    def accepted(self) -> Outcome:
        assert self.events and "CommandRejected" not in self.types, [e.payload for e in self.events]
        return self


class Catalog:
    """The catalog as a seller or an operator sees it: Kafka for commands, HTTP for queries."""

    def __init__(self, client: PlatformClient, url: str, http: aiohttp.ClientSession) -> None:
        self.client = client
        self.url = url
        self.http = http

    async def run(self, command: Payload, principal: Principal | None = None) -> Outcome:
        """Send ``command`` (by default as the seller it names; operator for platform commands)."""
        return (await self.run_all([command], principal))[0]

    async def run_all(self, commands: list[Payload], principal: Principal | None = None) -> list[Outcome]:
        """Send commands for one seller back to back (pipelined), then collect what each caused."""
        sellers = {str(getattr(command, "seller_id")) for command in commands}  # noqa: B009
        assert len(sellers) == 1, "one seller, one partition: that is what orders the barrier"
        seller = sellers.pop()
        sent = []
        for command in commands:
            platform = isinstance(command, c.RegisterSeller | c.SetSellerEligibility)
            actor = principal or (OPERATOR if platform else Principal(kind="seller", id=seller))
            sent.append(await self.client.send(command, principal=actor))
        await self.barrier(seller)
        return [Outcome(envelope, self.client.caused_by(envelope)) for envelope in sent]

    async def barrier(self, seller: str) -> None:
        barrier = await self.client.send(c.DeactivateBackorder(seller_id=seller, sku_id="barrier"), principal=OPERATOR)
        await self.client.wait_caused_by(barrier)

    async def effects_of(self, sent: Envelope[Any], seller: str) -> list[Observed]:
        await self.barrier(seller)
        return self.client.caused_by(sent)

    async def sku(self, sku_id: str) -> dict[str, Any] | None:
        async with self.http.get(f"{self.url}/skus/{sku_id}") as response:
            return None if response.status == 404 else dict(await response.json())

    async def handled(self, instance_url: str, message_type: str) -> float:
        """How many ``message_type`` commands one instance handled (any outcome), from its metrics."""
        async with self.http.get(f"{instance_url}/metrics") as response:
            text = await response.text()
        return sum(
            sample.value
            for family in text_string_to_metric_families(text) if family.name == "backorder_messages_handled"
            for sample in family.samples
            if sample.name.endswith("_total") and sample.labels.get("type") == message_type
        )

    async def listings(self, seller_id: str, *, back_order: bool = False) -> list[dict[str, Any]]:
        query = "?back_order=1" if back_order else ""
        async with self.http.get(f"{self.url}/sellers/{seller_id}/listings{query}") as response:
            assert response.status == 200
            return list(await response.json())

    # ---------------------------------------------------------------- arrange

    async def seller(self, seller_id: str, *, eligible: bool = True, region: str = "US") -> None:
        (await self.run(c.RegisterSeller(seller_id=seller_id, region=region, backorder_eligible=eligible))).accepted()

    async def listing(self, seller_id: str, listing_id: str, skus: list[str], category: str = "home") -> Outcome:
        return (await self.run(listing_of(seller_id, listing_id, skus, category))).accepted()

    async def activate(self, seller_id: str, sku_id: str, days: int = 5, stock: dict[str, int] | None = None,
                       principal: Principal | None = None) -> Outcome:
        return await self.run(activation(seller_id, sku_id, days, stock), principal)


def listing_of(seller_id: str, listing_id: str, skus: list[str], category: str = "home") -> c.UpsertListing:
    return c.UpsertListing(seller_id=seller_id, listing_id=listing_id, category=category,
                           title=f"Product {listing_id}", sku_ids=skus)


def activation(seller_id: str, sku_id: str, days: int = 5, stock: dict[str, int] | None = None) -> c.ActivateBackorder:
    stock = stock or {"wh-1": 10}
    return c.ActivateBackorder(seller_id=seller_id, sku_id=sku_id, handling_days=days,
                               backorder_stock=[WarehouseQty(warehouse_id=w, qty=q) for w, q in stock.items()])


@pytest.fixture(scope="module")
async def catalog(instances: list[str], client: PlatformClient) -> AsyncIterator[Catalog]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
        yield Catalog(client, instances[0], http)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def sku_state(row: dict[str, Any] | None) -> tuple[str, int | None, list[dict[str, Any]]]:
    assert row is not None
    return row["listing_type"], row["handling_days"], row["backorder_stock"]


# ---------------------------------------------------------------- R01


async def test_r01_sku_has_one_listing_type_and_changes_go_through_regular(catalog: Catalog) -> None:
    seller = unique("r01")
    await catalog.seller(seller)
    await catalog.listing(seller, f"{seller}-l", [f"{seller}-a"])
    sku = f"{seller}-a"

    def set_type(target: str) -> c.SetListingType:
        return c.SetListingType(seller_id=seller, sku_id=sku, listing_type=target)  # type: ignore[arg-type]

    changed = (await catalog.run(set_type("pre_order"))).accepted().only("ListingTypeChanged")
    assert (changed["previous_type"], changed["listing_type"]) == ("regular", "pre_order")

    (await catalog.activate(seller, sku)).rejected("listing_type_conflict")
    (await catalog.run(set_type("made_to_order"))).rejected("listing_type_conflict")
    assert sku_state(await catalog.sku(sku)) == ("pre_order", None, [])

    (await catalog.run(set_type("regular"))).accepted()
    (await catalog.activate(seller, sku)).accepted()
    for other in ("pre_order", "made_to_order"):
        (await catalog.run(set_type(other))).rejected("listing_type_conflict")
    assert sku_state(await catalog.sku(sku)) == ("backorder", 5, [{"warehouse_id": "wh-1", "qty": 10}])


# ---------------------------------------------------------------- R02


async def test_r02_only_eligible_sellers_may_activate_backorder(catalog: Catalog) -> None:
    seller = unique("r02")
    await catalog.seller(seller, eligible=False)
    await catalog.listing(seller, f"{seller}-l", [f"{seller}-a"])

    rejection = (await catalog.activate(seller, f"{seller}-a")).rejected("seller_not_eligible")
    assert "not eligible" in rejection["message"]
    assert sku_state(await catalog.sku(f"{seller}-a")) == ("regular", None, [])

    granted = await catalog.run(c.SetSellerEligibility(seller_id=seller, backorder_eligible=True))
    assert granted.accepted().only("SellerEligibilityChanged")["backorder_eligible"] is True
    (await catalog.activate(seller, f"{seller}-a")).accepted()


async def test_r02_a_seller_cannot_make_itself_eligible(catalog: Catalog) -> None:
    seller = unique("r02self")
    await catalog.seller(seller, eligible=False)
    me = Principal(kind="seller", id=seller)
    (await catalog.run(c.SetSellerEligibility(seller_id=seller, backorder_eligible=True), me)).rejected(
        "not_authorized")
    (await catalog.run(c.RegisterSeller(seller_id=seller, region="US", backorder_eligible=True), me)).rejected(
        "not_authorized")
    await catalog.listing(seller, f"{seller}-l", [f"{seller}-a"])
    (await catalog.activate(seller, f"{seller}-a")).rejected("seller_not_eligible")


async def test_r02_revoked_seller_keeps_active_skus_until_deactivated(catalog: Catalog) -> None:
    """The documented choice: revocation stops new promises, not the ones already made."""
    seller = unique("r02rev")
    a, b = f"{seller}-a", f"{seller}-b"
    await catalog.seller(seller)
    await catalog.listing(seller, f"{seller}-l", [a, b])
    (await catalog.activate(seller, a, 5, {"wh-1": 10})).accepted()

    revoked = await catalog.run(c.SetSellerEligibility(seller_id=seller, backorder_eligible=False))
    assert revoked.accepted().only("SellerEligibilityChanged")["backorder_eligible"] is False

    assert "revoked" in (await catalog.activate(seller, b)).rejected("seller_not_eligible")["message"]
    (await catalog.activate(seller, a, 9, {"wh-1": 99})).rejected("seller_not_eligible")
    assert sku_state(await catalog.sku(a)) == ("backorder", 5, [{"warehouse_id": "wh-1", "qty": 10}])
    assert sku_state(await catalog.sku(b)) == ("regular", None, [])

    deactivated = await catalog.run(c.DeactivateBackorder(seller_id=seller, sku_id=a))
    assert deactivated.accepted().only("BackorderDeactivated")["sku_id"] == a


# ---------------------------------------------------------------- R03, R04


async def test_r03_31st_backorder_listing_is_rejected(catalog: Catalog) -> None:
    seller = unique("r03")
    await catalog.seller(seller)
    listings = [f"{seller}-l{i:02d}" for i in range(31)]
    arrange: list[Payload] = [listing_of(seller, listing, [f"{listing}-a", f"{listing}-b"]) for listing in listings]
    arrange += [activation(seller, f"{listing}-a") for listing in listings[:30]]
    for outcome in await catalog.run_all(arrange):
        outcome.accepted()

    rejection = (await catalog.activate(seller, f"{listings[30]}-a")).rejected("listing_cap_reached")
    assert "30" in rejection["message"]
    assert sku_state(await catalog.sku(f"{listings[30]}-a")) == ("regular", None, [])
    assert len(await catalog.listings(seller, back_order=True)) == 30

    # a second SKU of a listing already on backorder is not a 31st listing
    (await catalog.activate(seller, f"{listings[0]}-b")).accepted()
    # freeing a slot lets the 31st in
    (await catalog.run(c.DeactivateBackorder(seller_id=seller, sku_id=f"{listings[1]}-a"))).accepted()
    (await catalog.activate(seller, f"{listings[30]}-a")).accepted()
    assert len(await catalog.listings(seller, back_order=True)) == 30


async def test_r04_10001st_backorder_sku_is_rejected(catalog: Catalog, stack: Stack) -> None:
    """The default cap of 10,000 SKUs. Twenty listings of 500 SKUs are created through Kafka; 9,999
    of them are then put on backorder with one SQL statement (ten thousand activations through
    Kafka would add a minute and prove nothing more), and the 10,000th and 10,001st activations
    go through Kafka."""
    seller = unique("r04")
    await catalog.seller(seller)
    full = [f"{seller}-l{i:02d}" for i in range(20)]
    arrange = [listing_of(seller, listing, [f"{listing}-{n:03d}" for n in range(500)]) for listing in full]
    arrange.append(listing_of(seller, f"{seller}-extra", [f"{seller}-extra-a"]))
    for outcome in await catalog.run_all(arrange):  # type: ignore[arg-type]
        outcome.accepted()
    last = f"{full[-1]}-499"

    conn = await asyncpg.connect(stack.dsn("catalog"))
    try:
        seeded = await conn.execute(
            """UPDATE skus SET listing_type = 'backorder', handling_days = 5,
                      backorder_stock = '[{"warehouse_id": "wh-1", "qty": 1}]'::jsonb
               WHERE seller_id = $1 AND listing_id = any($2::text[]) AND sku_id <> $3""",
            seller, full, last,
        )
    finally:
        await conn.close()
    assert seeded == "UPDATE 9999"

    (await catalog.activate(seller, last)).accepted()
    rejection = (await catalog.activate(seller, f"{seller}-extra-a")).rejected("sku_cap_reached")
    assert "10000" in rejection["message"]
    assert sku_state(await catalog.sku(f"{seller}-extra-a")) == ("regular", None, [])
    # changing an active SKU's settings is not a 10,001st SKU
    (await catalog.activate(seller, last, 7, {"wh-2": 3})).accepted()


async def test_r03_concurrent_activations_on_two_instances_never_exceed_the_cap(
    catalog: Catalog, client: PlatformClient, instances: list[str]
) -> None:
    """50 concurrent activations of distinct listings of one seller, cap 30: exactly 30 succeed.

    Catalog commands are keyed by seller, which sends all of one seller's commands to one
    partition, hence one instance, in order: no race at all. So these 50 activations are keyed
    by SKU instead (as a client that keys by the wrong field, or a future re-keying, would do):
    they spread over all six partitions, both instances take a batch of them at the same time,
    and only the seller's row lock - taken before the cap check, held until the batch commits -
    stands between them and a 31st listing. Each instance's own metrics show that it handled
    some of them.

    Measured with ``FOR UPDATE`` removed from ``lock_seller``: this test failed 5 runs out of 5
    (39 activations accepted); with batches capped at ten records it caught the bug only on some
    runs, so the default batch size stays. ``test_catalog_concurrency.py`` makes 50 transactions
    contend for the lock directly on the database (it fails on every run without the lock).
    """
    seller = unique("conc")
    await catalog.seller(seller)
    arrange = [listing_of(seller, f"{seller}-l{i:02d}", [f"{seller}-s{i:02d}"]) for i in range(50)]
    for outcome in await catalog.run_all(arrange):  # type: ignore[arg-type]
        outcome.accepted()
    before = [await catalog.handled(url, "ActivateBackorder") for url in instances]

    sent = await asyncio.gather(*(
        client.send(activation(seller, f"{seller}-s{i:02d}"), key=f"{seller}-s{i:02d}",
                    principal=Principal(kind="seller", id=seller))
        for i in range(50)
    ))
    ids = {str(e.event_id) for e in sent}
    outcomes = await client.wait_for(
        lambda o: o.value.get("causation_id") in ids and o.type in ("BackorderActivated", "CommandRejected"),
        count=50, timeout=60)

    activated = [o.payload["sku_id"] for o in outcomes if o.type == "BackorderActivated"]
    reasons = {o.payload["reason"] for o in outcomes if o.type == "CommandRejected"}
    assert (len(outcomes), len(activated), reasons) == (50, CAP, {"listing_cap_reached"})
    on_backorder = await catalog.listings(seller, back_order=True)
    assert sorted(row["skus"][0]["sku_id"] for row in on_backorder) == sorted(activated)
    per_instance = [await catalog.handled(url, "ActivateBackorder") - n for url, n in zip(instances, before,
                                                                                          strict=True)]
    assert sum(per_instance) >= 50 and all(n > 0 for n in per_instance), per_instance


# ---------------------------------------------------------------- R05


@pytest.mark.parametrize(("category", "days", "ok"), [
    ("home", 2, False), ("home", 3, True), ("home", 15, True), ("home", 16, False),
    ("fashion", 2, False), ("fashion", 21, True), ("fashion", 22, False), ("home", 0, False), ("home", -4, False),
])
async def test_r05_handling_time_is_3_to_15_days_or_3_to_21_for_fashion(
    catalog: Catalog, category: str, days: int, ok: bool
) -> None:
    seller = unique("r05")
    await catalog.seller(seller)
    await catalog.listing(seller, f"{seller}-l", [f"{seller}-a"], category=category)
    outcome = await catalog.activate(seller, f"{seller}-a", days)
    if ok:
        assert outcome.accepted().only("BackorderActivated")["handling_days"] == days
        assert sku_state(await catalog.sku(f"{seller}-a"))[:2] == ("backorder", days)
    else:
        assert f"got {days}" in outcome.rejected("handling_time_out_of_range")["message"]
        assert sku_state(await catalog.sku(f"{seller}-a")) == ("regular", None, [])


async def test_r05_handling_time_is_set_per_sku_and_rechecked_when_the_category_changes(catalog: Catalog) -> None:
    seller = unique("r05sku")
    listing, a, b = f"{seller}-l", f"{seller}-a", f"{seller}-b"
    await catalog.seller(seller)
    await catalog.listing(seller, listing, [a, b], category="fashion")
    (await catalog.activate(seller, a, 4)).accepted()
    (await catalog.activate(seller, b, 21)).accepted()
    assert [s["handling_days"] for s in (await catalog.listings(seller))[0]["skus"]] == [4, 21]

    move = c.UpsertListing(seller_id=seller, listing_id=listing, category="home", title="Shirt", sku_ids=[a, b])
    assert b in (await catalog.run(move)).rejected("handling_time_out_of_range")["message"]
    assert (await catalog.listings(seller))[0]["category"] == "fashion"
    (await catalog.activate(seller, b, 15)).accepted()
    (await catalog.run(move)).accepted()


# ---------------------------------------------------------------- R06


async def test_r06_activation_sets_stock_per_warehouse_and_handling_time_on_new_and_existing_listings(
    catalog: Catalog, client: PlatformClient
) -> None:
    seller = unique("r06")
    await catalog.seller(seller, region="GB")

    # a new listing: created and activated back to back, as the "Activate back order" checkbox does
    new, new_sku = f"{seller}-new", f"{seller}-new-a"
    upsert = await client.send(c.UpsertListing(seller_id=seller, listing_id=new, category="home", title="New",
                                               sku_ids=[new_sku]), principal=Principal(kind="seller", id=seller))
    activated = (await catalog.activate(seller, new_sku, 6, {"wh-1": 4, "wh-2": 7})).accepted()
    assert [e.type for e in client.caused_by(upsert)] == ["ListingUpserted"]
    assert activated.types == ["BackorderActivated", "ListingTypeChanged"]
    event = activated.only("BackorderActivated")
    assert event == {"seller_id": seller, "listing_id": new, "sku_id": new_sku, "region": "GB",
                     "timezone": "Europe/London", "handling_days": 6,
                     "backorder_stock": [{"warehouse_id": "wh-1", "qty": 4}, {"warehouse_id": "wh-2", "qty": 7}]}

    # an existing listing, sold as regular for a while, then updated with one more SKU
    old, old_a, old_b = f"{seller}-old", f"{seller}-old-a", f"{seller}-old-b"
    await catalog.listing(seller, old, [old_a])
    await catalog.listing(seller, old, [old_a, old_b])
    (await catalog.activate(seller, old_b, 10)).accepted()
    await catalog.listing(seller, old, [old_a, old_b])  # re-saving the listing keeps its backorder settings
    assert sku_state(await catalog.sku(old_b)) == ("backorder", 10, [{"warehouse_id": "wh-1", "qty": 10}])

    # the "Back order" label, and the filter on it
    labels = {row["listing_id"]: row["label"] for row in await catalog.listings(seller)}
    assert labels == {new: "Back order", old: "Back order"}
    (await catalog.run(c.DeactivateBackorder(seller_id=seller, sku_id=old_b))).accepted()
    assert [row["listing_id"] for row in await catalog.listings(seller, back_order=True)] == [new]
    assert {row["listing_id"]: row["label"] for row in await catalog.listings(seller)}[old] is None


async def test_r06_reactivation_updates_and_a_redelivered_command_has_one_effect(
    catalog: Catalog, client: PlatformClient
) -> None:
    seller = unique("r06re")
    sku = f"{seller}-a"
    await catalog.seller(seller)
    await catalog.listing(seller, f"{seller}-l", [sku])
    (await catalog.activate(seller, sku, 5, {"wh-1": 10, "wh-2": 3})).accepted()

    updated = (await catalog.activate(seller, sku, 8, {"wh-2": 20})).accepted()
    assert updated.types == ["BackorderActivated"]  # the type did not change
    assert sku_state(await catalog.sku(sku)) == ("backorder", 8, [{"warehouse_id": "wh-2", "qty": 20}])

    # the same command delivered twice (a producer retry): one effect
    envelope = client.envelope(activation(seller, sku, 12, {"wh-3": 1}), principal=Principal(kind="seller", id=seller))
    raw = envelope.model_dump_json().encode()
    await client.send_raw("catalog.commands", raw, key=seller)
    await client.send_raw("catalog.commands", raw, key=seller)
    events = await catalog.effects_of(envelope, seller)
    assert [e.type for e in events] == ["BackorderActivated"]
    assert sku_state(await catalog.sku(sku)) == ("backorder", 12, [{"warehouse_id": "wh-3", "qty": 1}])


async def test_r06_deactivation_returns_the_sku_to_regular(catalog: Catalog) -> None:
    seller = unique("r06off")
    listing, sku = f"{seller}-l", f"{seller}-a"
    await catalog.seller(seller)
    await catalog.listing(seller, listing, [sku])
    (await catalog.activate(seller, sku)).accepted()

    outcome = (await catalog.run(c.DeactivateBackorder(seller_id=seller, sku_id=sku))).accepted()
    assert outcome.types == ["BackorderDeactivated", "ListingTypeChanged"]
    assert outcome.only("BackorderDeactivated") == {"seller_id": seller, "listing_id": listing, "sku_id": sku}
    assert sku_state(await catalog.sku(sku)) == ("regular", None, [])
    assert await catalog.listings(seller, back_order=True) == []

    (await catalog.run(c.DeactivateBackorder(seller_id=seller, sku_id=sku))).rejected("not_on_backorder")


async def test_r06_a_backorder_sku_removed_from_its_listing_is_deactivated(catalog: Catalog) -> None:
    seller = unique("r06rm")
    listing, a, b = f"{seller}-l", f"{seller}-a", f"{seller}-b"
    await catalog.seller(seller)
    await catalog.listing(seller, listing, [a, b])
    (await catalog.activate(seller, a)).accepted()

    outcome = await catalog.listing(seller, listing, [b])
    assert outcome.types == ["BackorderDeactivated", "ListingTypeChanged", "ListingUpserted"]
    assert outcome.only("ListingUpserted")["removed_sku_ids"] == [a]
    row = await catalog.sku(a)
    assert row is not None and row["delisted"] and sku_state(row) == ("regular", None, [])
    assert [s["sku_id"] for s in (await catalog.listings(seller))[0]["skus"]] == [b]
    (await catalog.activate(seller, a)).rejected("sku_delisted")


# ---------------------------------------------------------------- R06a


async def test_r06a_only_the_owner_may_change_a_listing(catalog: Catalog) -> None:
    owner, other = unique("r06a-own"), unique("r06a-oth")
    listing, sku = f"{owner}-l", f"{owner}-a"
    await catalog.seller(owner)
    await catalog.seller(other)
    await catalog.listing(owner, listing, [sku])
    (await catalog.activate(owner, sku, 5)).accepted()
    before = await catalog.listings(owner)
    intruder = Principal(kind="seller", id=other)

    attempts: list[tuple[Payload, Principal | None]] = [
        # naming the owner's SKU under the intruder's own seller id
        (activation(other, sku, 9), None),
        (c.DeactivateBackorder(seller_id=other, sku_id=sku), None),
        (c.SetListingType(seller_id=other, sku_id=sku, listing_type="regular"), None),
        (c.UpsertListing(seller_id=other, listing_id=listing, category="home", title="Mine", sku_ids=["x"]), None),
        (c.UpsertListing(seller_id=other, listing_id=f"{other}-l", category="home", title="Mine", sku_ids=[sku]),
         None),
        # or speaking for the owner
        (activation(owner, sku, 9), intruder),
        (c.DeactivateBackorder(seller_id=owner, sku_id=sku), intruder),
    ]
    for command, principal in attempts:
        (await catalog.run(command, principal)).rejected("not_owner")
    (await catalog.activate(owner, sku, 9, principal=Principal(kind="buyer", id="b-1"))).rejected("not_authorized")

    assert await catalog.listings(owner) == before
    assert await catalog.listings(other) == []
    assert sku_state(await catalog.sku(sku)) == ("backorder", 5, [{"warehouse_id": "wh-1", "qty": 10}])


# ---------------------------------------------------------------- malformed input


def _envelope(message_type: str, payload: Any) -> bytes:
    return orjson.dumps({"event_id": str(uuid.uuid4()), "type": message_type, "producer": "test",
                         "payload": payload})


MALFORMED = {
    "not_json": (b"{this is not json", "not_json"),
    # (a JSON array is dead-lettered too, but devstack's PlatformClient cannot observe one on the command topic)
    "invalid_envelope": (orjson.dumps({"type": "RegisterSeller", "producer": "t", "event_id": "nope",
                                       "payload": {}}), "invalid_envelope"),
    "missing_envelope_field": (orjson.dumps({"type": "RegisterSeller", "payload": {}}), "invalid_envelope"),
    "unknown_type": (_envelope("DeleteEverything", {"seller_id": "x"}), "unknown_type"),
    "missing_field": (_envelope("ActivateBackorder", {"seller_id": "x", "sku_id": "y"}), "invalid_payload"),
    "wrong_type": (_envelope("ActivateBackorder", {"seller_id": "x", "sku_id": "y", "handling_days": "five",
                                                   "backorder_stock": [{"warehouse_id": "w", "qty": 1}]}),
                   "invalid_payload"),
    "extra_field": (_envelope("RegisterSeller", {"seller_id": "x", "region": "US", "backorder_eligible": True,
                                                 "is_admin": True}), "invalid_payload"),
}


async def test_malformed_commands_are_dead_lettered_and_the_consumer_carries_on(
    catalog: Catalog, client: PlatformClient
) -> None:
    seller = unique("dlq")
    for name, (value, _) in MALFORMED.items():
        await client.send_raw("catalog.commands", value, key=f"{seller}-{name}")
    await catalog.seller(seller)  # handled after all of them

    letters = await client.wait_for(lambda o: o.topic == DLQ and o.key is not None and o.key.startswith(seller),
                                    count=len(MALFORMED))
    by_key = {o.key: o.value for o in letters}
    for name, (value, reason) in MALFORMED.items():
        letter = by_key[f"{seller}-{name}"]
        assert letter["reason"] == reason, (name, letter)
        assert letter["error"], name
        assert letter["original_topic"] == "catalog.commands" and letter["consumer"] == "catalog"
        assert base64.b64decode(letter["original_b64"]) == value
    assert "handling_days" in by_key[f"{seller}-wrong_type"]["error"]
    assert "handling_days" in by_key[f"{seller}-missing_field"]["error"]
    assert "DeleteEverything" in by_key[f"{seller}-unknown_type"]["error"]
    assert not client.matching(lambda o: o.topic == EVENTS and o.key is not None and o.key.startswith(f"{seller}-"))
