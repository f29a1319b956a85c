"""Each service's HTTP port: liveness, readiness, Prometheus metrics and read-only queries."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from shared.observability import metrics


@dataclass
class Readiness:
    """Ready = the database answers and every consumer has joined its group."""

    database_ok: bool = False
    consumers_joined: bool = False
    stopping: bool = False
    #: whether the broker answered the last periodic check (None: not checked yet). Reported, not part of
    #: ``ready``: a broker outage stops every consumer anyway, and a pod taken out of its Service would
    #: no longer be scraped by Prometheus, just when its metrics matter
    kafka_ok: bool | None = None
    details: dict[str, str] = field(default_factory=dict)

    def set_kafka(self, ok: bool) -> None:
        self.kafka_ok = ok
        metrics.KAFKA_UP.set(1 if ok else 0)

    @property
    def ready(self) -> bool:
        return self.database_ok and self.consumers_joined and not self.stopping


Route = tuple[str, Callable[[web.Request], Awaitable[web.StreamResponse]]]

_ERRORS: dict[int, type[web.HTTPError]] = {400: web.HTTPBadRequest, 404: web.HTTPNotFound}


def http_error(status: int, error: str, message: str) -> web.HTTPError:
    """The one shape of a read route's error: ``{"error": <machine code>, "message": <sentence>}``.

    Routes ``raise`` it, from the handler or from a helper that parses the query, so that callers
    branch on ``error`` and show ``message`` whatever the service."""
    body = json.dumps({"error": error, "message": message})
    return _ERRORS[status](text=body, content_type="application/json")


def bad_query(message: str) -> web.HTTPError:
    """400: a query parameter is malformed or out of range."""
    return http_error(400, "bad_query", message)


def not_found(error: str, message: str) -> web.HTTPError:
    """404: what the path names does not exist; ``error`` says what, e.g. ``unknown_order``."""
    return http_error(404, error, message)


def build_http_app(service: str, readiness: Readiness, routes: list[Route]) -> web.Application:
    async def healthz(_: web.Request) -> web.Response:
        # Liveness only says the process and its event loop answer: a Kafka or database
        # outage must not make Kubernetes restart every pod.
        return web.json_response({"service": service, "alive": True})

    async def readyz(_: web.Request) -> web.Response:
        metrics.READY.set(1 if readiness.ready else 0)
        body = {
            "service": service,
            "ready": readiness.ready,
            "database": readiness.database_ok,
            "consumers_joined": readiness.consumers_joined,
            "kafka": readiness.kafka_ok,
            "stopping": readiness.stopping,
        }
        return web.json_response(body, status=200 if readiness.ready else 503)

    async def prometheus(_: web.Request) -> web.Response:
        return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", prometheus)
    for path, handler in routes:
        app.router.add_get(path, handler)
    return app
