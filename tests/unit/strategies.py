"""Hypothesis strategies: random but valid event lines for a few customers."""
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
