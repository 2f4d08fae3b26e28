"""Event builders for the handler unit tests (T0 = 2024-05-01T00:00:00Z, day index D0)."""
from __future__ import annotations

import itertools

import orjson

from handlers.config import load_config
from handlers.events import decode
from handlers.timeutil import DAY_MS

T0 = 1_714_521_600_000
D0 = T0 // DAY_MS
CONFIG = load_config()
_ids = itertools.count()


def at(day: float, hour: float = 12) -> int:
    """Epoch ms of day offset `day` (from T0) at `hour` UTC."""
    return int(T0 + day * DAY_MS + hour * 3_600_000)


def raw(topic: str, day: float = 0, customer: str = "c1", event_id: str | None = None, **fields) -> bytes:
    body = {"topic": topic, "event_id": event_id or f"e{next(_ids)}", "customer_id": customer,
            "occurred_at": at(day), **fields}
    return orjson.dumps(body)


def ev(topic: str, day: float = 0, customer: str = "c1", event_id: str | None = None, **fields):
    event = decode(raw(topic, day, customer, event_id, **fields))
    assert not hasattr(event, "reason"), event
    return event


def nps(score: int, day: float = 0, **kw):
    return ev("survey", day, kind="nps", score=score, **kw)


def csat(score: int, day: float = 0, **kw):
    return ev("survey", day, kind="csat", score=score, **kw)


def ces(score: int, day: float = 0, **kw):
    return ev("survey", day, kind="ces", score=score, **kw)


def purchase(amount: float, kind: str = "new", day: float = 0, **kw):
    return ev("purchase", day, amount=amount, currency="EUR", kind=kind, **kw)


def ticket(ticket_id: str, status: str = "opened", category: str = "billing", day: float = 0,
           priority: str = "normal", **kw):
    return ev("ticket", day, ticket_id=ticket_id, status=status, category=category, priority=priority, **kw)


def mention(sentiment: float | None = None, day: float = 0, text: str | None = None, **kw):
    fields = {"source": "twitter", **kw}
    if sentiment is not None:
        fields["sentiment"] = sentiment
    if text is not None:
        fields["text"] = text
    return ev("mention", day, **fields)


def interaction(direction: str = "inbound", channel: str = "email", day: float = 0, **kw):
    return ev("interaction", day, direction=direction, channel=channel, **kw)


def account(day: float = 0, **kw):
    return ev("account", day, **kw)


def fold_all(events, config=CONFIG, customer: str = "c1"):
    from handlers.customer import apply
    from handlers.state import CustomerState
    state = CustomerState.new(customer)
    for e in events:
        apply(state, e, config)
    return state


def config_with(**sections):
    """Default config with some sections overridden, e.g. weights={"nps": 1, ...}."""
    from handlers.config import COMPONENTS, parse_config
    data = {"version": "test"}
    for name, value in sections.items():
        if name == "only":  # weight 1 for the named components, 0 for the rest
            data["weights"] = {c: (1 if c in value else 0) for c in COMPONENTS}
        else:
            data[name] = value
    return parse_config(data)
