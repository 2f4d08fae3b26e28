"""`cshealth webhook-sink`: a stand-in for the CS reps' pager, printing what Alertmanager sends.

Alertmanager's webhook receivers in prometheus/alertmanager.yml post to /oncall and /team;
this prints one line per notification so the local demo and docker compose show paging.
"""
from __future__ import annotations

from typing import Callable

import orjson
from aiohttp import web


def describe_notification(receiver: str, body: dict) -> str:
    labels = body.get("groupLabels") or {}
    alerts = body.get("alerts") or []
    who = ", ".join(f"{a['labels'].get('customer_id', '?')} {a['labels'].get('rule', a['labels'].get('alertname'))}"
                    f" ({a.get('status')})" for a in alerts[:5])
    more = f" +{len(alerts) - 5} more" if len(alerts) > 5 else ""
    return f"[{receiver}] {body.get('status', '?')} owner={labels.get('owner', '-')}: {who}{more}"


def make_app(write: Callable[[str], None]) -> web.Application:
    async def receive(request: web.Request) -> web.Response:
        body = orjson.loads(await request.read())
        write(describe_notification(request.match_info["receiver"], body))
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/{receiver}", receive)
    return app


def serve(host: str, port: int, write: Callable[[str], None]) -> None:
    web.run_app(make_app(write), host=host, port=port, print=None)
