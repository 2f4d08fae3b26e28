"""CustomerState: one compact record per customer, serialisable to bytes.

Rolling data live in sparse daily buckets ({day: [...]}) owned by the metric
modules in handlers/metrics/; the evaluation fields (cursor, band, alerts) are
owned by handlers/ticks.py. Serialised with orjson as lists, ~0.5-2 KiB typical.
"""
from __future__ import annotations

import base64
import bisect
import struct
from functools import wraps

import orjson

FORMAT = 2  # 2: `seen` as [[minute, base64 of sorted 8-byte id hashes], ...]; 1 ([[hash, ms], ...]) is read too
# Bucketed families: attribute name -> serialised as [[day, *values], ...].
BUCKETS = ("nps", "sat", "contacts", "activity", "mentions", "tickets", "purchases")
# Plain JSON-able attributes with their empty value (a factory, so records never share).
PLAIN = {
    "applied_offsets": dict,    # "topic:partition" -> last applied offset (owned by streams/)
    "seen": lambda: IdMemory(),  # event-id hashes within the duplicate horizon (handlers.customer.apply)
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
    "undelivered": list,        # [[output id, topic role, record], ...] sent, not yet confirmed (owned by streams/)
}
# Fields a state written before they existed lacks: read as empty.
ADDED_FIELDS = ("undelivered",)


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
        doc["seen"] = self.seen.to_json()
        # Sorted keys: equal states give equal bytes whatever order they were built in.
        return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)

    @classmethod
    def from_bytes(cls, raw: bytes) -> "CustomerState":
        doc = orjson.loads(raw)
        if doc.get("f") not in (1, FORMAT):
            raise ValueError(f"unsupported CustomerState format {doc.get('f')!r}")
        state = cls(doc["customer_id"])
        for name in BUCKETS:
            setattr(state, name, {row[0]: (row[1:] if len(row) > 2 or name != "activity" else row[1])
                                  for row in doc[name]})
        for name in PLAIN:
            setattr(state, name, doc[name] if name in doc or name not in ADDED_FIELDS else PLAIN[name]())
        state.seen = IdMemory.from_json(doc["seen"]) if doc["f"] == FORMAT else IdMemory.from_pairs(doc["seen"])
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


class IdMemory:
    """The event-id hashes a customer has folded, each with the minute of its event time.

    Which ids it keeps is up to forget() (its caller states the rule). Ids are ordered by
    (minute, hash): forgetting drops the smallest first, so what is kept is a function of
    the ids added, not of their arrival order. Serialised as one row per minute, the
    minute's hashes sorted, packed as 8 bytes each and base64-encoded (~11 bytes an id).

    A memory read from its rows keeps them and decodes them only when an id is looked up, added
    or forgotten: a customer whose day closes without events (the sweep, catching up) is read and
    written again with its ids untouched, and its rows are written back as they were read.

    Small memories (most customers) are a plain dict. A large one also keeps its ids
    grouped by minute with each minute's encoded row, so a hot customer's write re-encodes
    only the minutes that changed since the last one, and forgetting pops from the oldest
    minute instead of sorting everything: the cost per event stays flat as it fills."""
    __slots__ = ("_ids", "rows", "slots", "order", "encoded", "sorted_slot")
    SLOT_MS = 60_000
    GROUPED_FROM = 512  # ids from which the grouped view is kept (it costs memory per id)

    def __init__(self) -> None:
        self._ids: dict[int, int] | None = {}  # hash -> minute; None while only `rows` hold them
        self.rows: list | None = None  # the rows read, while the ids are as read (to_json's result then)
        self.slots: dict[int, list[int]] | None = None  # minute -> hashes (grouped view)
        self.order: list[int] | None = None  # the minutes of `slots`, ascending
        self.encoded: dict[int, str] | None = None  # minute -> its row's encoding, while unchanged
        self.sorted_slot: int | None = None  # a minute whose hashes are sorted descending

    @property
    def ids(self) -> dict[int, int]:
        if self._ids is None:
            self._decode()
        return self._ids

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, h: int) -> bool:
        return h in self.ids

    def add(self, h: int, ms: int) -> None:
        m = ms // self.SLOT_MS
        self.ids[h] = m
        self.rows = None
        if self.slots is None:
            return
        group = self.slots.get(m)
        if group is None:
            self.slots[m] = [h]
            bisect.insort(self.order, m)  # mostly an append: events come roughly in time order
        else:
            group.append(h)
            if self.sorted_slot == m:
                self.sorted_slot = None
        self.encoded.pop(m, None)

    def forget(self, newest_ms: int, horizon_ms: int, keep: int, cap: int) -> None:
        """Drop the oldest ids while more than `keep` remain and the oldest minute lies before
        newest_ms - horizon_ms, and while more than max(cap, keep) remain."""
        n = len(self.ids)
        if n <= keep:
            return
        self.rows = None
        if self.slots is None:
            self._group()
        outside = (newest_ms - horizon_ms) // self.SLOT_MS  # minutes before this are beyond the horizon
        limit = max(cap, keep)
        order, slots, ids, encoded = self.order, self.slots, self.ids, self.encoded
        while n > keep:
            m = order[0]
            need = n - keep if m < outside else n - limit
            if need <= 0:
                break
            group = slots[m]
            encoded.pop(m, None)
            if need >= len(group):
                for h in group:
                    del ids[h]
                del slots[m]
                order.pop(0)
                n -= len(group)
                continue
            if self.sorted_slot != m:
                group.sort(reverse=True)
                self.sorted_slot = m
            for _ in range(need):
                del ids[group.pop()]
            n -= need

    def _group(self) -> None:
        slots: dict[int, list[int]] = {}
        for h, m in self.ids.items():
            group = slots.get(m)
            if group is None:
                slots[m] = [h]
            else:
                group.append(h)
        self.slots, self.order, self.encoded, self.sorted_slot = slots, sorted(slots), {}, None

    def to_json(self) -> list:
        if self.rows is not None:
            return self.rows
        if self.slots is None and len(self.ids) > self.GROUPED_FROM:
            self._group()
        if self.slots is None:
            rows: dict[int, list[int]] = {}
            for h, m in self.ids.items():
                rows.setdefault(m, []).append(h)
            return [[m, _pack(rows[m])] for m in sorted(rows)]
        encoded, slots = self.encoded, self.slots
        out = []
        for m in self.order:
            row = encoded.get(m)
            if row is None:
                row = encoded[m] = _pack(slots[m])
            out.append([m, row])
        return out

    @classmethod
    def from_json(cls, rows: list) -> "IdMemory":
        memory = cls()
        memory._ids, memory.rows = None, rows
        return memory

    def _decode(self) -> None:
        rows = self.rows
        ids = self._ids = {}
        groups = {}
        for m, packed in rows:
            group = groups[m] = _unpack(packed)
            for h in group:
                ids[h] = m
        if len(ids) > self.GROUPED_FROM:
            self.slots, self.order = groups, [m for m, _ in rows]
            self.encoded = {m: packed for m, packed in rows}

    @classmethod
    def from_pairs(cls, pairs: list) -> "IdMemory":
        """Format 1: [[hash, occurred_at_ms], ...]."""
        memory = cls()
        for h, ms in pairs:
            memory.add(h, ms)
        return memory


def _pack(hashes: list[int]) -> str:
    return base64.b64encode(struct.pack(f">{len(hashes)}Q", *sorted(hashes))).decode("ascii")


def _unpack(packed: str) -> list[int]:
    raw = base64.b64decode(packed)
    return list(struct.unpack(f">{len(raw) // 8}Q", raw))
