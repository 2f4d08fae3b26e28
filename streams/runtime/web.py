"""HTTP views on the worker's web port: customer health, liveness, readiness, Prometheus metrics."""
from __future__ import annotations

import re

import orjson
from faust.web import Request, Response, View
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

CUSTOMER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$")


def _json(web, body: dict, status: int = 200) -> Response:
    return web.bytes(orjson.dumps(body), content_type="application/json", status=status)


def register_views(worker) -> None:
    app, table, pipeline, metrics = worker.app, worker.table, worker.pipeline, worker.metrics

    @app.page("/customers/{customer_id}")
    class CustomerView(View):
        async def get(self, request: Request, customer_id: str) -> Response:
            if not CUSTOMER_ID.match(customer_id):
                return _json(self.web, {"error": "malformed customer id", "customer_id": customer_id}, 400)
            return await self._owned(request, customer_id)

        @app.table_route(table=table, match_info="customer_id")
        async def _owned(self, request: Request, customer_id: str) -> Response:
            health = pipeline.view(customer_id.encode())
            if health is None:
                return _json(self.web, {"error": "unknown customer", "customer_id": customer_id}, 404)
            return _json(self.web, health)

    @app.page("/healthz")
    async def healthz(web: View, request: Request) -> Response:
        return _json(web.web, {"status": "ok"})

    @app.page("/readyz")
    async def readyz(web: View, request: Request) -> Response:
        ready = worker.recovered
        return _json(web.web, {"ready": ready, "watermark_ms": pipeline.watermark_ms,
                               "sweep_pending": pipeline.sweep_pending(), "deferred": pipeline.deferred_count()},
                     200 if ready else 503)

    @app.page("/metrics")
    async def prometheus_metrics(web: View, request: Request) -> Response:
        # aiohttp refuses a charset inside content_type; the exposition format is UTF-8 anyway.
        return web.web.bytes(generate_latest(metrics.registry), content_type=CONTENT_TYPE_LATEST.split(";")[0] + "; version=0.0.4")
