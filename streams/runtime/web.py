"""HTTP views on the worker's web port: customer health, liveness, readiness, Prometheus metrics.

With CSHEALTH_WEB_TOKEN (or _FILE) set, the customer views need `Authorization: Bearer <token>`;
/healthz, /readyz and /metrics stay open (probes and Prometheus, no customer data)."""
from __future__ import annotations

import hmac

import orjson
from faust.web import Request, Response, View
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from handlers.events import valid_customer_id


def _json(web, body: dict, status: int = 200, headers: dict | None = None) -> Response:
    return web.bytes(orjson.dumps(body), content_type="application/json", status=status, headers=headers)


def authorized(request: Request, token: str | None) -> bool:
    """True when no token is configured or the request carries it as a bearer token."""
    if token is None:
        return True
    scheme, _, given = (request.headers.get("Authorization") or "").partition(" ")
    # Constant time: the comparison's duration says nothing about how much of the token matched.
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


def register_views(worker) -> None:
    app, table, pipeline, metrics = worker.app, worker.table, worker.pipeline, worker.metrics
    token = worker.settings.web_token_value()

    @app.page("/customers/{customer_id}")
    class CustomerView(View):
        async def get(self, request: Request, customer_id: str) -> Response:
            if not authorized(request, token):
                return _json(self.web, {"error": "unauthorized"}, 401, headers={"WWW-Authenticate": "Bearer"})
            if not valid_customer_id(customer_id):
                # Not echoed: the id is what the contract refuses (control characters, length).
                return _json(self.web, {"error": "malformed customer id"}, 400)
            return await self._owned(request, customer_id)

        @app.table_route(table=table, match_info="customer_id")
        async def _owned(self, request: Request, customer_id: str) -> Response:
            health = pipeline.view(customer_id.encode())
            if health is None:
                return _json(self.web, {"error": "unknown customer", "customer_id": customer_id}, 404)
            return _json(self.web, health)

    @app.page("/healthz")
    async def healthz(web: View, request: Request) -> Response:
        if worker.agent_failure is not None:  # the agent crashed: nothing is folded any more
            return _json(web.web, {"status": "agent crashed", "error": type(worker.agent_failure).__name__}, 503)
        return _json(web.web, {"status": "ok"})

    @app.page("/readyz")
    async def readyz(web: View, request: Request) -> Response:
        ready = worker.recovered
        return _json(web.web, {"ready": ready, "watermark_ms": pipeline.watermark_ms,
                               "sweep_pending": pipeline.sweep_pending(), "deferred": pipeline.deferred_count(),
                               "swept_through_ms": pipeline.swept_through_ms()},
                     200 if ready else 503)

    @app.page("/metrics")
    async def prometheus_metrics(web: View, request: Request) -> Response:
        # aiohttp refuses a charset inside content_type; the exposition format is UTF-8 anyway.
        return web.web.bytes(generate_latest(metrics.registry), content_type=CONTENT_TYPE_LATEST.split(";")[0] + "; version=0.0.4")
