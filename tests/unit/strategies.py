"""Hypothesis strategies: random but valid event lines for a few customers."""
import re

from hypothesis import strategies as st

from .builders import at, raw

CUSTOMERS = ("c1", "c2", "c3")


@st.composite
def event_line(draw, idx: int) -> bytes:
    kind = draw(st.sampled_from(["survey", "survey", "ticket", "mention", "interaction", "purchase", "account"]))
    day = draw(st.integers(0, 50)) + draw(st.sampled_from([0.0, 0.25, 0.5, 0.9]))
    cust = draw(st.sampled_from(CUSTOMERS))
    eid = f"h{idx}"
    if kind == "survey":
        sk = draw(st.sampled_from(["nps", "nps", "csat", "ces"]))
        hi = {"nps": 10, "csat": 5, "ces": 7}[sk]
        resp = draw(st.sampled_from(["customer"] * 5 + ["employee"]))
        return raw(kind, day, cust, eid, kind=sk, score=draw(st.integers(0 if sk == "nps" else 1, hi)), respondent=resp)
    if kind == "ticket":
        return raw(kind, day, cust, eid, ticket_id=f"t{draw(st.integers(0, 3))}",
                   status=draw(st.sampled_from(["opened", "closed", "reopened"])),
                   category=draw(st.sampled_from(["billing", "login"])), priority="high")
    if kind == "mention":
        return raw(kind, day, cust, eid, source="x", sentiment=draw(st.sampled_from([-0.9, -0.4, 0.0, 0.6])))
    if kind == "interaction":
        return raw(kind, day, cust, eid, direction=draw(st.sampled_from(["inbound", "outbound"])),
                   channel=draw(st.sampled_from(["email", "call"])))
    if kind == "purchase":
        fields = {"amount": draw(st.sampled_from([10, 100, 1000])), "currency": "EUR",
                  "kind": draw(st.sampled_from(["new", "repeat", "expansion", "contraction", "refund"]))}
        if draw(st.booleans()):
            fields["contract_value"] = draw(st.sampled_from([1000, 2000]))
        if draw(st.integers(0, 4)) == 0:
            fields["referred_by"] = draw(st.sampled_from(CUSTOMERS))
        return raw(kind, day, cust, eid, **fields)
    fields = draw(st.sampled_from([{"segment": "smb", "owner": "ann"}, {"owner": "bob"},
                                   {"signed_up_at": at(-5), "activated_at": at(day)}, {"cancelled_at": at(day)},
                                   {"cancelled_at": None}]))
    return raw(kind, day, cust, eid, **fields)


@st.composite
def event_lines(draw, max_size: int = 40) -> list[bytes]:
    n = draw(st.integers(1, max_size))
    lines = [draw(event_line(i)) for i in range(n)]
    dups = draw(st.lists(st.integers(0, n - 1), max_size=3))  # at-least-once redelivery
    return lines + [lines[i] for i in dups]


@st.composite
def mutated_line(draw) -> bytes:
    """A valid event line with a few edits: byte flips, cuts, insertions, a control character
    in an id, another occurred_at. decode() meets events and every kind of error, not only garbage."""
    data = bytearray(draw(event_line(draw(st.integers(0, 99)))))
    for _ in range(draw(st.integers(0, 3))):
        op = draw(st.sampled_from(["flip", "cut", "insert", "control", "when"]))
        i = draw(st.integers(0, len(data)))
        if op == "flip" and i < len(data):
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "cut":
            del data[i:]
        elif op == "insert":
            data[i:i] = draw(st.binary(min_size=1, max_size=4))
        elif op == "control":  # inside an id's string: the contract must refuse it, the JSON stays valid
            field = draw(st.sampled_from([b'"customer_id":"', b'"event_id":"']))
            at_ = data.find(field)
            if at_ >= 0:
                at_ += len(field) + draw(st.integers(0, 2))
                data[at_:at_] = draw(st.sampled_from([b"\\u0000", b"\\u001f", b"\\u007f", b"\\n", b"\\t"]))
        else:  # another event time: seconds, microseconds, far future, before 1970, ISO forms
            value = draw(st.sampled_from([b"1714521600", b"1714521600000000", b'"2099-01-01T00:00:00Z"',
                                          b'"1969-06-01T00:00:00Z"', b'"1998-06-30T12:00:00+02:00"',
                                          b'"2024-05-01T12:00:00"', b"4102444800000", b'"19980630T1200Z"']))
            data = bytearray(re.sub(rb'"occurred_at":[^,}]*', b'"occurred_at":' + value, bytes(data)))
    return bytes(data)
