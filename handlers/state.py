"""CustomerState: one compact record per customer, serialisable to bytes.

Rolling data live in sparse daily buckets ({day: [...]}) owned by the metric
modules in handlers/metrics/; the evaluation fields (cursor, band, alerts) are
owned by handlers/ticks.py. Serialised with orjson as lists, ~0.5-2 KiB typical.
"""
from __future__ import annotations

from functools import wraps

import orjson

FORMAT = 1
# Bucketed families: attribute name -> serialised as [[day, *values], ...].
BUCKETS = ("nps", "sat", "contacts", "activity", "mentions", "tickets", "purchases")
# Plain JSON-able attributes with their empty value (a factory, so records never share).
PLAIN = {
    "applied_offsets": dict,    # "topic:partition" -> last applied offset (owned by streams/)
    "seen": dict,               # event-id hash -> occurred_at_ms (duplicate horizon)
    "cursor": lambda: None,     # last closed daily tick (day index)
    "first_day": lambda: None,  # earliest event day folded
    "max_ms": lambda: None,     # newest occurred_at_ms folded
    "events": int,
    "late": int,
    "profile": dict,            # field -> [value, occurred_at_ms, id hash] (last writer wins by event time)
    "ticket_status": dict,      # ticket_id -> [occurred_at_ms, status code]
    "first_ticket_ms": lambda: None,
    "totals": lambda: [0, 0.0, 0.0, None, None],  # purchases, gross, refunds, first_ms, last_ms
    "contract": list,           # [[occurred_at_ms, contract_value], ...] sorted
    "referrals": int,
    "activity_floor": lambda: None,  # newest active day dropped by pruning
    "band": lambda: None,
    "pending": lambda: None,    # [candidate band, consecutive ticks]
    "last_emit": lambda: None,  # [day, score, band, {known component: component score}]
    "peaks": list,              # [[day, emitted score], ...] for score_drop
    "active": dict,             # "rule|key" -> [since_day, fire_day or -1 (suppressed by cooldown)]
    "fired": dict,              # "rule|key" -> last fire day (cooldowns)
}


class CustomerState:
    # memo: read-outs by (function, day) while a snapshot reads the (then unchanging) state; never serialised.
    __slots__ = ("customer_id", "memo") + BUCKETS + tuple(PLAIN)

    def __init__(self, customer_id: str):
        self.customer_id = customer_id
        self.memo = None
        for name in BUCKETS:
            setattr(self, name, {})
        for name, empty in PLAIN.items():
            setattr(self, name, empty())

    @classmethod
    def new(cls, customer_id: str) -> "CustomerState":
        return cls(customer_id)

    def to_bytes(self) -> bytes:
        doc = {"f": FORMAT, "customer_id": self.customer_id}
        for name in BUCKETS:
            doc[name] = [[day, *vals] if isinstance(vals, list) else [day, vals]
                         for day, vals in sorted(getattr(self, name).items())]
        for name in PLAIN:
            doc[name] = getattr(self, name)
        doc["seen"] = sorted([h, ms] for h, ms in self.seen.items())
        # Sorted keys: equal states give equal bytes whatever order they were built in.
        return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)

    @classmethod
    def from_bytes(cls, raw: bytes) -> "CustomerState":
        doc = orjson.loads(raw)
        if doc.get("f") != FORMAT:
            raise ValueError(f"unsupported CustomerState format {doc.get('f')!r}")
        state = cls(doc["customer_id"])
        for name in BUCKETS:
            setattr(state, name, {row[0]: (row[1:] if len(row) > 2 or name != "activity" else row[1])
                                  for row in doc[name]})
        for name in PLAIN:
            setattr(state, name, doc[name])
        state.seen = {h: ms for h, ms in doc["seen"]}
        return state

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CustomerState) and self.to_bytes() == other.to_bytes()

    def reading(self) -> "_Reading":
        """`with state.reading():` figures read twice at one day (score and metrics) are computed once."""
        return _Reading(self)

    def __repr__(self) -> str:
        return f"CustomerState({self.customer_id!r}, events={self.events}, cursor={self.cursor})"


class _Reading:
    __slots__ = ("state",)

    def __init__(self, state: CustomerState):
        self.state = state

    def __enter__(self) -> None:
        self.state.memo = {}

    def __exit__(self, *exc) -> None:
        self.state.memo = None


def by_day(fn):
    """Memoise fn(state, day, config) inside `with state.reading():` (outside it: a plain call)."""
    @wraps(fn)
    def read(state, day, config):
        memo = state.memo
        if memo is None:
            return fn(state, day, config)
        key = (fn, day)
        value = memo.get(key, memo)
        if value is memo:
            value = memo[key] = fn(state, day, config)
        return value
    return read
