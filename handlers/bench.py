"""Replay throughput benchmark on synthetic events (deterministic, no wall clock in results).

    .venv/bin/python -m handlers.bench --events 1000000 --customers 100000 --days 90

Prints events/s, ticks evaluated vs skipped and peak RSS. The generator is also
used by tests (small sizes).
"""
from __future__ import annotations

import argparse
import os
import random
import resource
import sys
import tempfile
import time

import orjson

from handlers.config import load_config
from handlers.timeutil import DAY_MS

START_MS = 1_714_521_600_000  # 2024-05-01T00:00:00Z
_KINDS = ("interaction",) * 40 + ("ticket",) * 20 + ("survey",) * 15 + ("purchase",) * 10 + ("mention",) * 10 + ("account",) * 5


def synthetic_lines(events: int, customers: int, days: int, seed: int = 7) -> list[bytes]:
    """`events` JSON lines with "topic", spread over `customers` and `days` of event time."""
    rng = random.Random(seed)
    out = []
    for i in range(seed * 1000, seed * 1000 + events):
        cid = f"cust-{rng.randrange(customers):06d}"
        ms = START_MS + rng.randrange(days * DAY_MS)
        kind = rng.choice(_KINDS)
        body = {"topic": kind, "event_id": f"ev-{i}", "customer_id": cid, "occurred_at": ms}
        if kind == "interaction":
            body |= {"direction": rng.choice(("inbound", "outbound")), "channel": rng.choice(("email", "call", "meeting", "chat"))}
        elif kind == "ticket":
            body |= {"ticket_id": f"{cid}-t{rng.randrange(4)}", "status": rng.choice(("opened", "opened", "closed", "reopened")),
                     "category": rng.choice(("billing", "login", "performance", "bug")), "priority": "normal"}
        elif kind == "survey":
            sk = rng.choice(("nps", "nps", "csat", "ces"))
            score = {"nps": rng.randrange(11), "csat": rng.randint(1, 5), "ces": rng.randint(1, 7)}[sk]
            body |= {"kind": sk, "score": score, "respondent": "employee" if rng.random() < 0.03 else "customer"}
        elif kind == "purchase":
            pk = rng.choice(("new", "repeat", "renewal", "expansion", "contraction", "refund"))
            body |= {"amount": round(rng.uniform(10, 2000), 2), "currency": "EUR", "kind": pk,
                     "contract_value": round(rng.uniform(1000, 50000), 2)}
            if rng.random() < 0.05:
                body["referred_by"] = f"cust-{rng.randrange(customers):06d}"
        elif kind == "mention":
            body |= {"source": "twitter", "sentiment": round(rng.uniform(-1, 1), 3)}
        else:
            body |= {"segment": rng.choice(("smb", "mid", "ent")), "owner": f"rep-{rng.randrange(50)}",
                     "signed_up_at": START_MS - rng.randrange(400) * DAY_MS}
            if rng.random() < 0.7:
                body["activated_at"] = body["signed_up_at"] + rng.randrange(60) * DAY_MS
            if rng.random() < 0.05:
                body["cancelled_at"] = ms
        out.append(orjson.dumps(body))
    return out


def run(events: int, customers: int, days: int) -> dict:
    """Replay synthetic lines read back from a file, as `cshealth replay` would."""
    from handlers.replay import replay
    config = load_config()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "events.jsonl")
        with open(path, "wb") as f:
            for i in range(0, events, 100_000):  # in chunks: bounded generator memory
                f.write(b"\n".join(synthetic_lines(min(100_000, events - i), customers, days, seed=7 + i)) + b"\n")
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        cpu0, t0 = time.process_time(), time.perf_counter()
        with open(path, "rb") as f:
            result = replay(f, config)
        seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"events": events, "customers": customers, "days": days, "seconds": round(seconds, 1),
            "cpu_seconds": round(cpu, 1), "events_per_s": round(events / seconds),
            "events_per_cpu_s": round(events / cpu), "peak_rss_mb": round(rss_mb),
            "rss_before_replay_mb": round(rss_before),
            "alerts": len(result.alerts), "health_changes": result.health_changes,
            "mean_state_bytes": round(sum(len(s.to_bytes()) for s in result.states.values()) / max(1, len(result.states)))}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument("--customers", type=int, default=100_000)
    p.add_argument("--days", type=int, default=90)
    a = p.parse_args(argv)
    sys.stdout.write(orjson.dumps(run(a.events, a.customers, a.days)).decode() + "\n")


if __name__ == "__main__":
    main()
