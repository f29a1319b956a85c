"""``python -m bench.profile`` sorts py-spy's samples by kind of work; the sorting needs nothing running."""

from __future__ import annotations

from bench.profile import kind_of, shares

LOOP = "<module> (services/orders/__main__.py:4);run (asyncio/runners.py:118);_run_once (asyncio/base_events.py:1922)"


def test_a_sample_in_a_socket_call_is_the_kernels_work_whoever_made_it() -> None:
    assert kind_of(f"{LOOP};flush (shared/messaging/outbox.py:90);_do_execute (asyncpg/connection.py:2069);"
                   "write (asyncio/selector_events.py:1057) _SelectorSocketTransport.write") == "socket writes"
    assert kind_of(f"{LOOP};EpollSelector.select (selectors.py:468)") == "epoll"


def test_other_samples_go_to_the_innermost_library_or_part_of_the_platform_they_name() -> None:
    assert kind_of(f"{LOOP};place_orders (services/orders/batch_handlers.py:50);"
                   "fetch (asyncpg/connection.py:690)") == "asyncpg"
    assert kind_of(f"{LOOP};place_orders (services/orders/batch_handlers.py:50)") == "handlers and domain"
    assert kind_of(f"{LOOP};Handle._run (asyncio/events.py:80)") == "asyncio scheduling"
    assert kind_of("main (python.c:1)") == "other"


def test_shares_weigh_each_stack_by_its_count() -> None:
    raw = f"{LOOP};EpollSelector.select (selectors.py:468) 3\n{LOOP};fetch (asyncpg/connection.py:690) 1\n"
    assert shares(raw) == {"epoll": 0.75, "asyncpg": 0.25}
