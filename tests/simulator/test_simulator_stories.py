"""Story shares and the signature of each scripted story in the events."""

from __future__ import annotations

from collections import Counter

import pytest

from streams.sim import DEFAULT_STORY_SHARES, STORIES, SimulationConfig, allocate_stories, simulate
from tests.simulator.simulator_support import DAY, START, instant

SCRIPTED = [s for s in STORIES if s != "healthy"]


def _after(evs, ts, until=float("inf")):
    return [ev for ev in evs if ts <= instant(ev["occurred_at"]) < until]


def _detractor(ev) -> bool:
    return ev["topic"] == "survey" and ev["kind"] == "nps" and ev["score"] <= 6


def test_story_shares_match_defaults(by_story, sim_config):
    n = sim_config.customers
    for story, share in DEFAULT_STORY_SHARES.items():
        assert abs(len(by_story[story]) / n - share) <= max(0.01, 0.1 * share), story


def test_custom_shares_and_at_least_one_of_each():
    assert all(allocate_stories(20, DEFAULT_STORY_SHARES)[s] >= 1 for s in SCRIPTED)
    assert sum(allocate_stories(20, DEFAULT_STORY_SHARES).values()) == 20
    counts = allocate_stories(1000, {"healthy": 0.5, "sour": 0.5})
    assert counts["healthy"] == counts["sour"] == 500 and counts["champion"] == 0
    cfg = SimulationConfig(customers=40, days=90, seed=3, start=START, story_shares={"healthy": 1, "sour": 1})
    assert Counter(row["story"] for row in simulate(cfg).truth()) == {"healthy": 20, "sour": 20}


def test_small_population_still_has_every_story():
    rows = simulate(SimulationConfig(customers=20, days=90, seed=5, start=START)).truth()
    assert set(Counter(r["story"] for r in rows)) == set(STORIES)


def test_turns_in_middle_third(truth, sim_config):
    start = sim_config.start.timestamp()
    span = sim_config.days * DAY
    for row in truth.values():
        if row["story"] in ("sour", "quiet_churner", "stalled_onboarding"):
            offset = instant(row["turns_at"]) - start
            assert span / 3 <= offset <= 2 * span / 3, row
        else:
            assert row["turns_at"] is None, row


def test_sour_signature(by_story, by_customer):
    for row in by_story["sour"]:
        evs, turn = by_customer[row["customer_id"]], instant(row["turns_at"])
        before, burst = _after(evs, 0, turn), _after(evs, turn, turn + 14 * DAY)
        assert not any(_detractor(ev) and ev["score"] <= 4 for ev in before)
        assert any(_detractor(ev) and ev["score"] <= 4 for ev in burst)
        billing = [ev for ev in burst if ev["topic"] == "ticket" and ev["status"] == "opened" and ev["category"] == "billing"]
        assert len(billing) >= 3
        assert sum(1 for ev in burst if ev["topic"] == "mention" and ev["sentiment"] <= -0.5) >= 3
        cancel = instant(row["cancelled_at"])
        assert 21 * DAY <= cancel - turn <= 42 * DAY
        assert evs[-1]["topic"] == "account" and instant(evs[-1]["cancelled_at"]) == cancel
        silent = _after(evs, turn + 14 * DAY, cancel)
        assert not [ev for ev in silent if ev["topic"] in ("interaction", "purchase", "survey", "mention")]


def test_quiet_churner_signature(by_story, by_customer):
    for row in by_story["quiet_churner"]:
        evs, turn = by_customer[row["customer_id"]], instant(row["turns_at"])
        assert any(ev["topic"] == "interaction" for ev in _after(evs, 0, turn))
        after = _after(evs, turn)
        assert not [ev for ev in after if ev["topic"] in ("interaction", "purchase", "survey", "mention")]
        assert not [ev for ev in after if ev["topic"] == "ticket" and ev["status"] != "closed"]
        cancel = instant(row["cancelled_at"])
        assert 28 * DAY <= cancel - turn <= 56 * DAY
        assert [ev["topic"] for ev in after if ev["topic"] != "ticket"] == ["account"]
        assert instant(after[-1]["cancelled_at"]) == cancel


def test_stalled_onboarding_signature(by_story, by_customer):
    for row in by_story["stalled_onboarding"]:
        evs, turn = by_customer[row["customer_id"]], instant(row["turns_at"])
        assert turn - instant(row["signed_up_at"]) == 14 * DAY
        accounts = [ev for ev in evs if ev["topic"] == "account"]
        assert accounts and all(ev["activated_at"] is None for ev in accounts)
        onboarding = {ev["ticket_id"] for ev in evs if ev["topic"] == "ticket" and ev["category"] == "onboarding"}
        assert len(onboarding) >= 2
        assert not [ev for ev in _after(evs, turn) if ev["topic"] != "ticket"]
        assert row["cancelled_at"] is None


def test_champion_referrals_and_expansion(by_story, by_customer, events):
    referrals = Counter(ev["referred_by"] for ev in events if ev["topic"] == "purchase" and "referred_by" in ev)
    for row in by_story["champion"]:
        cid = row["customer_id"]
        assert referrals[cid] >= 1, cid
        evs = by_customer[cid]
        assert any(ev["topic"] == "purchase" and ev["kind"] == "expansion" for ev in evs)
        scores = [ev["score"] for ev in evs if ev["topic"] == "survey" and ev["kind"] == "nps"]
        assert all(s >= 9 for s in scores)
    champions = {row["customer_id"] for row in by_story["champion"]}
    assert set(referrals) <= champions


@pytest.mark.parametrize("story", ["healthy", "noisy_healthy", "champion"])
def test_healthy_stories_do_not_churn(story, by_story, by_customer):
    nps = detractors = 0
    for row in by_story[story]:
        assert row["cancelled_at"] is None
        evs = by_customer[row["customer_id"]]
        assert not any("cancelled_at" in ev for ev in evs if ev["topic"] == "account")
        scores = [ev["score"] for ev in evs if ev["topic"] == "survey" and ev["kind"] == "nps"]
        nps += len(scores)
        detractors += sum(1 for s in scores if s <= 6)
        assert sum(1 for s in scores if s <= 4) <= 1
    assert nps > 0 and detractors / nps < 0.15  # about 5 % expected; small samples for the rarer stories


def test_noisy_healthy_is_loud_but_not_churny(by_story, by_customer):
    healthy_tickets = sum(
        1 for row in by_story["healthy"] for ev in by_customer[row["customer_id"]]
        if ev["topic"] == "ticket" and ev["status"] == "opened"
    ) / len(by_story["healthy"])
    noisy_tickets = inbound = outbound = 0
    for row in by_story["noisy_healthy"]:
        evs = by_customer[row["customer_id"]]
        opened = [ev for ev in evs if ev["topic"] == "ticket" and ev["status"] == "opened"]
        noisy_tickets += len(opened)
        # varied categories: never three of the same category within 14 days
        for i, ev in enumerate(opened):
            window = [o for o in opened[i:] if instant(o["occurred_at"]) - instant(ev["occurred_at"]) <= 14 * DAY]
            assert max(Counter(o["category"] for o in window).values()) < 3
        # no sustained negativity: never two strongly negative mentions within 14 days
        negative = [instant(ev["occurred_at"]) for ev in evs if ev["topic"] == "mention" and ev["sentiment"] <= -0.5]
        assert all(b - a > 14 * DAY for a, b in zip(negative, negative[1:]))
        inbound += sum(1 for ev in evs if ev["topic"] == "interaction" and ev["direction"] == "inbound")
        outbound += sum(1 for ev in evs if ev["topic"] == "interaction" and ev["direction"] == "outbound")
    assert inbound > 2 * outbound  # they reach out a lot
    assert noisy_tickets / len(by_story["noisy_healthy"]) > 2.5 * healthy_tickets


def test_referred_customers_are_new_signups(truth, by_customer, sim_config):
    start = sim_config.start.timestamp()
    for row in truth.values():
        if row["referred_by"]:
            assert truth[row["referred_by"]]["story"] == "champion"
            assert instant(row["signed_up_at"]) > start
            new = [ev for ev in by_customer[row["customer_id"]] if ev["topic"] == "purchase" and ev["kind"] == "new"]
            assert [ev["referred_by"] for ev in new] == [row["referred_by"]]
