"""A model-based test: random command sequences from random principals, run through the real
handlers on the in-memory store, with small caps so they are hit often.

After every command: the catalog's invariants hold (one valid type per SKU, R01 transitions
only, caps never exceeded, handling times in range, ownership never changes, a rejection
changes nothing), and a consumer that only reads ``catalog.events`` - as inventory and orders
do - knows exactly which SKUs are on backorder, with which handling time and stock."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from services.catalog.domain import BACKORDER, LISTING_TYPES, REGULAR, Caps, HandlingPolicy
from services.catalog.ports import CatalogPolicy
from shared.contract import catalog as c
from shared.contract.catalog import WarehouseQty
from shared.contract.envelope import Payload, Principal

from .fakes import OPERATOR, FakeUow, seller_principal

SELLERS = ("s1", "s2")
LISTINGS = ("l1", "l2", "l3", "l4")
SKUS = ("a", "b", "c", "d", "e", "f")
CATEGORIES = ("fashion", "home")
#: small caps, so that both are hit often
CAPS = st.sampled_from([Caps(max_listings=1, max_skus=2), Caps(max_listings=2, max_skus=2),
                        Caps(max_listings=2, max_skus=3)])
POLICY = HandlingPolicy()

#: who sends a command, relative to the seller it names: mostly someone allowed to
ACTORS = st.sampled_from(["operator", "internal", "self", "self", "self", "other_seller", "buyer"])
stock = st.lists(
    st.builds(WarehouseQty, warehouse_id=st.sampled_from(["wh-1", "wh-2", "wh-3"]), qty=st.integers(0, 5)),
    min_size=1, max_size=3, unique_by=lambda w: w.warehouse_id,
)


@dataclass
class Known:
    """What a consumer of catalog.events knows about a SKU."""

    listing_type: str = REGULAR
    handling_days: int | None = None
    stock: tuple[tuple[str, int], ...] = ()


class CatalogMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.uow = FakeUow(policy=CatalogPolicy(handling=POLICY))
        self.known: dict[str, Known] = {}
        self.first_owner: dict[str, str] = {}

    def run(self, command: Payload, principal: Principal | None) -> None:
        before = self.uow.catalog.snapshot()
        events = self.uow.handle(command, principal)
        assert events, f"{command} got no answer"
        if any(isinstance(e, c.CommandRejected) for e in events):
            assert len(events) == 1
            assert self.uow.catalog.snapshot() == before, "a rejection changed the state"
            return
        for event in events:
            self.fold(event)

    def fold(self, event: Payload) -> None:
        """A downstream read model, built from the events alone."""
        if isinstance(event, c.ListingUpserted):
            for sku_id in event.sku_ids:
                self.known.setdefault(sku_id, Known())
                self.first_owner.setdefault(sku_id, event.seller_id)
                assert self.first_owner[sku_id] == event.seller_id, "a SKU changed owner"
        elif isinstance(event, c.BackorderActivated):
            self.known[event.sku_id] = Known(BACKORDER, event.handling_days,
                                             tuple((w.warehouse_id, w.qty) for w in event.backorder_stock))
        elif isinstance(event, c.BackorderDeactivated):
            assert self.known[event.sku_id].listing_type == BACKORDER
            self.known[event.sku_id] = Known(REGULAR)
        elif isinstance(event, c.ListingTypeChanged):
            assert REGULAR in (event.previous_type, event.listing_type), "R01: a change skipped regular"
            assert event.previous_type != event.listing_type
            assert self.known[event.sku_id].listing_type in (event.previous_type, event.listing_type)
            if event.listing_type != BACKORDER:
                self.known[event.sku_id] = Known(event.listing_type)

    # ---------------------------------------------------------------- commands

    def principal(self, actor: str, seller: str) -> Principal | None:
        other = next(s for s in SELLERS if s != seller)
        return {"operator": OPERATOR, "internal": None, "self": seller_principal(seller),
                "other_seller": seller_principal(other), "buyer": Principal(kind="buyer", id="b1")}[actor]

    def pick(self, index: int, stranger: bool) -> tuple[str, str]:
        """A SKU that exists (mostly listed) and its owner - or the other seller, to probe R06a."""
        skus = sorted(self.uow.catalog.skus_by_id.values(), key=lambda s: (s.delisted, s.sku_id))
        sku = skus[index % len(skus)]
        return sku.sku_id, next(s for s in SELLERS if s != sku.seller_id) if stranger else sku.seller_id

    @initialize(caps=CAPS)
    def onboard(self, caps: Caps) -> None:
        self.uow.policy = CatalogPolicy(caps=caps, handling=POLICY)
        for seller in SELLERS:
            self.run(c.RegisterSeller(seller_id=seller, region="US", backorder_eligible=True), OPERATOR)

    @rule(seller=st.sampled_from(SELLERS), eligible=st.booleans(), reregister=st.booleans(), actor=ACTORS)
    def eligibility(self, seller: str, eligible: bool, reregister: bool, actor: str) -> None:
        command: Payload = (c.RegisterSeller(seller_id=seller, region="US", backorder_eligible=eligible) if reregister
                            else c.SetSellerEligibility(seller_id=seller, backorder_eligible=eligible))
        self.run(command, self.principal(actor, seller))

    @rule(seller=st.sampled_from(SELLERS), listing=st.sampled_from(LISTINGS), category=st.sampled_from(CATEGORIES),
          skus=st.lists(st.sampled_from(SKUS), min_size=1, max_size=4, unique=True), actor=ACTORS)
    def upsert(self, seller: str, listing: str, category: str, skus: list[str], actor: str) -> None:
        command = c.UpsertListing(seller_id=seller, listing_id=listing, category=category, title="t", sku_ids=skus)
        self.run(command, self.principal(actor, seller))

    @precondition(lambda self: bool(self.uow.catalog.skus_by_id))
    @rule(index=st.integers(0, 10), stranger=st.sampled_from([False] * 5 + [True]), days=st.integers(1, 23),
          stock=stock, actor=ACTORS)
    def activate(self, index: int, stranger: bool, days: int, stock: list[WarehouseQty], actor: str) -> None:
        sku, seller = self.pick(index, stranger)
        command = c.ActivateBackorder(seller_id=seller, sku_id=sku, handling_days=days, backorder_stock=stock)
        self.run(command, self.principal(actor, seller))

    # activation is the interesting command: give it twice the weight
    activate_again = activate

    @precondition(lambda self: bool(self.uow.catalog.skus_by_id))
    @rule(index=st.integers(0, 10), stranger=st.sampled_from([False] * 5 + [True]), actor=ACTORS)
    def deactivate(self, index: int, stranger: bool, actor: str) -> None:
        sku, seller = self.pick(index, stranger)
        self.run(c.DeactivateBackorder(seller_id=seller, sku_id=sku), self.principal(actor, seller))

    @precondition(lambda self: bool(self.uow.catalog.skus_by_id))
    @rule(index=st.integers(0, 10), stranger=st.sampled_from([False] * 5 + [True]),
          new_type=st.sampled_from(LISTING_TYPES), actor=ACTORS)
    def set_type(self, index: int, stranger: bool, new_type: str, actor: str) -> None:
        sku, seller = self.pick(index, stranger)
        command = c.SetListingType(seller_id=seller, sku_id=sku, listing_type=new_type)  # type: ignore[arg-type]
        self.run(command, self.principal(actor, seller))

    # ---------------------------------------------------------------- invariants

    @invariant()
    def one_valid_type_and_consistent_settings(self) -> None:
        for sku in self.uow.catalog.skus_by_id.values():
            assert sku.listing_type in LISTING_TYPES
            if sku.listing_type == BACKORDER:
                assert not sku.delisted and sku.backorder_stock and sku.handling_days is not None
                low, high = POLICY.allowed_range(self.uow.catalog.listings[sku.listing_id].category)
                assert low <= sku.handling_days <= high
            else:
                assert sku.handling_days is None and sku.backorder_stock == ()
            assert sku.seller_id == self.uow.catalog.listings[sku.listing_id].seller_id

    @invariant()
    def caps_hold(self) -> None:
        for seller in SELLERS:
            on = [s for s in self.uow.catalog.skus_by_id.values()
                  if s.seller_id == seller and s.listing_type == BACKORDER]
            assert len({s.listing_id for s in on}) <= self.uow.policy.caps.max_listings
            assert len(on) <= self.uow.policy.caps.max_skus

    @invariant()
    def only_eligible_sellers_gained_backorder_skus(self) -> None:
        for sku in self.uow.catalog.skus_by_id.values():
            if sku.listing_type == BACKORDER:
                seller = self.uow.catalog.sellers[sku.seller_id]
                # on backorder while ineligible only if it was activated before a revocation
                assert seller.backorder_eligible or seller.revoked_at is not None

    @invariant()
    def events_tell_consumers_everything(self) -> None:
        for sku in self.uow.catalog.skus_by_id.values():
            known = self.known.get(sku.sku_id, Known())
            stock = tuple((w.warehouse_id, w.qty) for w in sku.backorder_stock)
            assert (known.listing_type, known.handling_days, known.stock) == (
                sku.listing_type, sku.handling_days, stock), sku.sku_id


CatalogMachine.TestCase.settings = settings(
    max_examples=150, stateful_step_count=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
test_catalog_state_machine = CatalogMachine.TestCase
