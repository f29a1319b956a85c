"""``python -m devstack run|demo``: the platform on this machine.

* ``run``: start the stack under ``.devstack/``, play the scenario, print its timeline,
  then keep everything up until Ctrl-C (or SIGTERM) and shut it all down.
* ``demo``: the scenario on a fresh embedded stack; exit 0 only if every step was seen.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from devstack.broker import KafkaUnavailable
from devstack.client import PlatformClient
from devstack.scenario import Scenario, ScenarioResult
from devstack.stack import Stack
from shared.contract.topics import all_topic_names

console = Console()


def timeline(result: ScenarioResult) -> Table:
    table = Table(title="Backorder walking skeleton", show_lines=False)
    table.add_column("#", justify="right")
    table.add_column("t (ms)", justify="right")
    table.add_column("step")
    table.add_column("topic")
    table.add_column("event")
    table.add_column("detail")
    for n, step in enumerate(result.steps, start=1):
        table.add_row(str(n), f"{step.at_ms:,.0f}", step.name, step.topic, step.event, step.detail)
    return table


async def play(stack: Stack) -> ScenarioResult:
    client = await PlatformClient(stack.kafka_bootstrap, all_topic_names(with_dlq=False), "demo").start()
    try:
        return await Scenario(client, stack.mail_dir, inventory_url=stack.services[("inventory", 0)].url).run()
    finally:
        await client.stop()


def report(result: ScenarioResult) -> None:
    console.print(timeline(result))
    if result.email is not None:
        body = result.email.get_body(preferencelist=("plain",))
        text = body.get_content() if body is not None else ""
        console.print(f"[bold]Email[/bold] {result.email['Subject']!s}")
        console.print(text.strip()[:600])


def start(root: Path, brokers: int = 1) -> Stack:
    stack = Stack(root, brokers=brokers)
    started = time.monotonic()
    with console.status("starting Kafka, PostgreSQL, SMTP and the four services..."):
        stack.start_infra()
        stack.start_all()
    console.print(f"platform ready in {time.monotonic() - started:.1f}s: Kafka {stack.kafka_bootstrap} "
                  f"({brokers} node{'s' if brokers > 1 else ''}), "
                  f"SMTP {stack.smtp_host}:{stack.smtp_port}, mail in {stack.mail_dir}")
    for service in stack.services.values():
        console.print(f"  {service.name:<14} {service.url}  (log {service.log})")
    return stack


def reap_previous(root: Path) -> None:
    """A previous ``make run`` killed hard leaves its children behind: end them by the pids it recorded,
    but only if each is still the program we started (pids get reused)."""
    import json
    import os

    import psutil

    state = root / "stack.json"
    if not state.exists():
        return
    recorded = json.loads(state.read_text()).get("pids", {})
    for name, pid in recorded.items():
        try:
            process = psutil.Process(int(pid))
            ours = ("services.", "kafka.Kafka", "devstack.smtp", "postgres")
            if any(marker in " ".join(process.cmdline()) for marker in ours):
                console.print(f"ending {name} (pid {pid}) left by a previous run")
                os.kill(int(pid), signal.SIGTERM if name != "postgres" else signal.SIGINT)
                process.wait(15)
        except (psutil.Error, ValueError, OSError):
            continue
    state.unlink(missing_ok=True)


def cmd_run(root: Path, brokers: int = 1) -> int:
    reap_previous(root)
    stack = start(root, brokers)
    stopping = False

    def on_signal(*_: object) -> None:
        nonlocal stopping
        stopping = True

    # Both, explicitly: a shell that starts us in the background leaves SIGINT ignored.
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        result = asyncio.run(play(stack))
        report(result)
        if not result.ok:
            console.print(f"[red]scenario failed: {result.failure}[/red]")
        console.print("platform is up; `backorder --help` talks to it. Ctrl-C stops everything.")
        while not stopping:
            time.sleep(0.5)
            for service in stack.services.values():
                if service.proc.poll() is not None:
                    console.print(f"[yellow]{service.name} exited ({service.proc.returncode}); restarting[/yellow]")
                    stack.start_service(service.name, service.instance)
    except KeyboardInterrupt:
        pass
    finally:
        with console.status("stopping..."):
            stack.stop_all()
        console.print("stopped: services, SMTP, Kafka and PostgreSQL are down.")
    return 0


def cmd_demo(brokers: int = 1) -> int:
    root = Path(tempfile.mkdtemp(prefix="backorder-demo-"))
    stack = None
    try:
        stack = start(root, brokers)
        result = asyncio.run(play(stack))
        report(result)
        if result.ok:
            print(f"demo: OK {len(result.steps)} steps observed through Kafka")
            return 0
        print(f"demo: FAILED {result.failure}")
        return 1
    except Exception as exc:  # the last line must say FAILED whatever went wrong
        print(f"demo: FAILED {exc!r}")
        return 1
    finally:
        if stack is not None:
            stack.stop_all()
        shutil.rmtree(root, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack")
    parser.add_argument("command", choices=["run", "demo"])
    parser.add_argument("--root", type=Path, default=Path(".devstack"))
    parser.add_argument("--brokers", type=int, choices=(1, 3), default=1,
                        help="Kafka nodes to start: 3 replicates every topic 3 times (min.insync.replicas=2)")
    args = parser.parse_args()
    try:
        if args.command == "run":
            return cmd_run(args.root.resolve(), args.brokers)
        return cmd_demo(args.brokers)
    except KafkaUnavailable as exc:  # no JDK, no Maven, or a broker that would not start: say so plainly
        console.print(f"[red]error:[/red] {exc}", highlight=False)
        return 1


if __name__ == "__main__":
    sys.exit(main())
