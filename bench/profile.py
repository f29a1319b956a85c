"""Where a service's CPU goes, by kind of work, in an open loop: py-spy on each service, its samples sorted.

    python -m bench.profile [--rate 50] [--seconds 30] [--warmup-seconds 20]

The bench's own stack and shapes: a warm-up at the rate on a sale of its own, then the measured open loop while
``py-spy record --format raw`` samples orders, inventory and notifications (busy samples only). Each sample is
given one kind of work: the socket call or the wait its innermost frame is in, else the innermost frame that
names a library or a part of the platform (``KINDS``, first match). py-spy must be installed (``pip install
py-spy``; root, or ptrace allowed, to attach). The figures behind docs/scaling.md, "Where each millisecond still
goes".
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import subprocess
import tempfile
from pathlib import Path

from bench.__main__ import fresh_stack, open_loop_shape
from bench.flash_sale import FlashSale, Shape

PROFILED = ("orders", "inventory", "notifications")
#: what the innermost frame is doing in the kernel or the event loop's wait
LEAVES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("socket writes", ("_SelectorSocketTransport.write", "sock_sendall", "socket.send")),
    ("epoll", ("EpollSelector.select",)),
    ("socket reads", ("_read_ready", "recv")),
)
#: else, the innermost frame naming one of these
KINDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("asyncpg", ("asyncpg",)),
    ("aiokafka", ("aiokafka",)),
    ("messages (pydantic, orjson)", ("pydantic", "orjson", "envelope.py", "decoding.py", "upcasting")),
    ("logging, metrics, tracing", ("structlog", "logging/", "prometheus_client", "opentelemetry", "observability")),
    ("email", ("aiosmtplib", "email/", "smtp_pool", "mail.py", "message.py", "rendering", "jinja2")),
    ("SQL composition and staging", ("staging.py", "aiosql", "uow.py")),
    ("handlers and domain", ("services/",)),
    ("runtime, relay, consumer loop", ("shared/messaging",)),
    ("asyncio scheduling", ("asyncio",)),
)


def kind_of(stack: str) -> str:
    """The kind of work of one collapsed stack (frames outermost first, ``;``-separated)."""
    frames = stack.split(";")
    for name, keys in LEAVES:
        if any(key in frames[-1] for key in keys):
            return name
    for frame in reversed(frames):
        for name, keys in KINDS:
            if any(key in frame for key in keys):
                return name
    return "other"


def shares(raw: str) -> dict[str, float]:
    """Each kind's share of the samples in py-spy's raw output (one ``stack count`` per line)."""
    counts: collections.Counter[str] = collections.Counter()
    for line in raw.splitlines():
        stack, _, n = line.rpartition(" ")
        if n.isdigit():
            counts[kind_of(stack)] += int(n)
    total = sum(counts.values()) or 1
    return {kind: n / total for kind, n in counts.most_common()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--warmup-seconds", type=float, default=20.0)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-profile-"))
    with fresh_stack(root, "", instances=1) as stack:
        warm = FlashSale(stack, open_loop_shape(Shape(), args.rate, args.warmup_seconds))
        asyncio.run(warm.seed())
        asyncio.run(warm.run(warm.orders(int(args.rate * args.warmup_seconds)), rate_per_s=args.rate))
        sale = FlashSale(stack, open_loop_shape(Shape(), args.rate, args.seconds))
        asyncio.run(sale.seed())
        spies = {}
        for service in stack.services.values():
            if service.name in PROFILED:
                out = root / f"{service.name}.txt"
                spies[service.name] = (subprocess.Popen(
                    ["py-spy", "record", "-r", "200", "-d", str(int(args.seconds)), "--format", "raw", "-o", str(out),
                     "--nonblocking", "--pid", str(service.proc.pid)],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), out)
        figures = asyncio.run(sale.run(sale.orders(int(args.rate * args.seconds)), rate_per_s=args.rate))
        for name, (spy, out) in spies.items():
            spy.wait()
            cpu = figures["bill"]["cpu_ms"].get(f"{name}-0", 0.0)
            print(f"{name}: {cpu} CPU ms per order")
            for kind, share in shares(out.read_text()).items():
                print(f"  {kind:32} {100 * share:5.1f}%  {cpu * share:.2f} ms")


if __name__ == "__main__":
    main()
