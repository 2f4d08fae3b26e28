"""The events of one window: the builders per kind (survey, mention, ticket, purchase,
account, interaction), each customer's background activity and its story's scripts."""

from __future__ import annotations

import bisect
import math
import random
from datetime import datetime, timezone
from itertools import count
from typing import TYPE_CHECKING

from streams.sim.distributions import (
    COMMENTS, IN, INTERACTION, MENTION, MENTION_TEXT, OUT, P_CATEGORY, P_CES, P_CSAT, P_IN_CH, P_NPS,
    P_OUT_CH, P_PRIORITY, P_SENTIMENT, P_SOURCE, P_TICKET_CH, PRIORITIES, REACH_MU, REPEAT_AMOUNT,
    RESOLUTION_HOURS, SENTIMENT, TICKET, TICKET_CATEGORIES, WAVE_RESPONSE, WEEKDAY_W, cum, poisson,
)
from streams.sim.profiles import Profile
from streams.sim.times import DAY, HOUR, add_months, iso

if TYPE_CHECKING:
    from streams.sim.simulator import Simulation

SEQ_BITS = 32  # sort key = occurred_at seconds << 32 | generation sequence


class WindowGenerator:
    """Appends ``(ts << 32 | gseq, customer_index, topic, fields)`` tuples for a window.

    ``gseq`` numbers the events in generation order, so the single-int key sorts
    by time and then deterministically, and tuples never compare their dicts."""

    def __init__(self, sim: Simulation, rng: random.Random) -> None:
        self.sim = sim
        self.end = sim.end
        self.rng = rng
        self.rnd = rng.random
        self.gseq = count()
        self.ids = count(1)
        self.rotation: dict[int, tuple[int, int]] = {}  # noisy customer -> (last ticket, next category)

    # ---- helpers ----------------------------------------------------------

    def _emit(self, out, ts, p, topic, fields):
        if ts < self.end:
            out.append((ts << SEQ_BITS | next(self.gseq), p.idx if p is not None else -1, topic, fields))

    def _survey(self, out, ts, p, kind, score, touchpoint, comment_p=0.25):
        fields = {"kind": kind, "score": score, "touchpoint": touchpoint}
        if kind == "nps" and self.rnd() < comment_p:
            band = "promoter" if score >= 9 else "passive" if score >= 7 else "detractor"
            fields["comment"] = self.rng.choice(COMMENTS[band])
        self._emit(out, ts, p, "survey", fields)

    def _mention(self, out, ts, p, band_key):
        rng = self.rng
        lo, hi = P_SENTIMENT[band_key](self.rnd)
        sentiment = round(rng.uniform(lo, hi), 2)
        source = P_SOURCE(self.rnd)
        texts = MENTION_TEXT[
            "neg" if sentiment <= -0.5 else "mild" if sentiment < -0.05 else "neutral" if sentiment < 0.3 else "pos"
        ]
        self._emit(out, ts, p, "mention", {
            "source": source,
            "sentiment": sentiment,
            "text": texts[int(self.rnd() * len(texts))],
            "reach": int(rng.lognormvariate(REACH_MU[source], 1.2)),
        })

    def _ticket(self, out, ts, p, category, priority=None, closed=True, csat="good", ces="good"):
        rng, rnd = self.rng, self.rnd
        priority = priority or P_PRIORITY(rnd)
        base = {
            "ticket_id": f"T{next(self.ids):08d}",
            "category": category,
            "priority": priority,
            "channel": P_TICKET_CH(rnd),
        }
        self._emit(out, ts, p, "ticket", {**base, "status": "opened"})
        if not closed:
            return
        t = ts + int(rng.expovariate(1.0 / RESOLUTION_HOURS[priority]) * HOUR) + 15 * 60
        self._emit(out, t, p, "ticket", {**base, "status": "closed"})
        if rnd() < 0.08 and t + 3 * DAY < p.silent_from:  # the customer reopens it
            t += rng.randint(DAY, 3 * DAY)
            self._emit(out, t, p, "ticket", {**base, "status": "reopened"})
            t += int(rng.expovariate(1.0 / RESOLUTION_HOURS[priority]) * HOUR) + 15 * 60
            self._emit(out, t, p, "ticket", {**base, "status": "closed"})
        x, t = rnd(), t + rng.randint(600, 2 * DAY)
        if t >= p.silent_from:
            return  # the customer no longer answers surveys
        if x < 0.35:
            self._survey(out, t, p, "csat", P_CSAT[csat](rnd), "support_ticket")
        elif x < 0.43:
            self._survey(out, t, p, "ces", P_CES[ces](rnd), "support_ticket")

    def _purchase(self, out, ts, p, kind, amount, contract_value=None, referred_by=None):
        fields = {
            "amount": round(amount, 2),
            "currency": "EUR",
            "kind": kind,
            "order_id": f"O{next(self.ids):08d}",
        }
        if contract_value is not None:
            fields["contract_value"] = round(contract_value, 2)
        if referred_by is not None:
            fields["referred_by"] = referred_by
        self._emit(out, ts, p, "purchase", fields)

    def _account(self, out, ts, p, cancelled=False):
        fields = {
            "segment": p.segment,
            "plan": p.plan,
            "owner": p.owner,
            "signed_up_at": iso(p.signup),
            "activated_at": iso(p.activated) if p.activated is not None and p.activated <= ts else None,
        }
        if cancelled:
            fields["cancelled_at"] = iso(p.cancel)
        self._emit(out, ts, p, "account", fields)

    @staticmethod
    def _contract_value(p: Profile, ts: int) -> float:
        cv = p.cv
        for t, kind, frac in p.changes:
            if t > ts:
                break
            cv *= 1 + frac if kind == "expansion" else 1 - frac
        return cv

    # ---- one window -------------------------------------------------------

    def window(self, ws: int, we: int, out: list) -> None:
        sim = self.sim
        self.ws, self.we = ws, we
        wd = datetime.fromtimestamp(ws, timezone.utc)
        self.ws_year, self.ws_month = wd.year, wd.month
        self.grid0 = ws - ws % DAY
        n_days = -(-(we - self.grid0) // DAY)
        self.day_cum, self.day_total = cum(WEEKDAY_W[(self.grid0 // DAY + d + 3) % 7] for d in range(n_days))
        self.grid_days = n_days
        waves = [w for w in sim.nps_waves if ws <= w < we]
        for p in sim.profiles:
            self._customer(p, ws, we, waves, out)
        rng = self.rng
        for w in sim.enps_waves:
            if ws <= w < we:
                for _ in range(sim.employees):
                    t = w + int(min(rng.expovariate(1 / (2 * DAY)), 10 * DAY)) + rng.randint(0, 8 * HOUR)
                    self._emit(out, t, None, "survey", {
                        "kind": "nps",
                        "score": P_NPS["employee"](self.rnd),
                        "touchpoint": "enps",
                        "respondent": "employee",
                    })

    def _customer(self, p: Profile, ws: int, we: int, waves: list[int], out: list) -> None:
        rng, rnd = self.rng, self.rnd
        story = p.story
        if p.cancel is not None and p.cancel < ws:
            return
        # -- scripted milestones (account events, onboarding, turns, contract changes) --
        if p.marks[-1][0] >= ws:
            for t, mark, arg in p.marks:
                if t < ws:
                    continue
                if t >= we:
                    break
                if mark == "account":
                    self._account(out, t, p, cancelled=arg)
                elif mark == "onboarding":
                    self._onboarding(out, p)
                elif mark == "sour_turn":
                    self._sour_turn(out, p)
                elif mark == "outburst":
                    self._mention(out, t, p, "turned")
                else:  # expansion / contraction
                    before = self._contract_value(p, t - 1)
                    self._purchase(out, t, p, mark, before * arg, contract_value=self._contract_value(p, t))
        # -- renewals --
        if p.purchase_stop > ws:
            step = 1 if p.billing == "monthly" else 12
            y, m, d, sec = p.anchor
            k = max(1, ((self.ws_year - y) * 12 + self.ws_month - m - 1) // step)
            while True:
                t = add_months(y, m, d, sec, k * step)
                if t >= we or t >= p.purchase_stop:
                    break
                if t >= ws:
                    cv = self._contract_value(p, t)
                    self._purchase(out, t, p, "renewal", cv / 12 if step == 1 else cv, contract_value=cv)
                k += 1
        # -- survey waves --
        lo = max(ws, p.signup)
        hi = min(we, p.silent_from)
        for w in waves:
            if w < p.signup + 30 * DAY or w >= p.silent_from or rnd() >= WAVE_RESPONSE[story]:
                continue
            t = w + int(min(rng.expovariate(1 / (1.5 * DAY)), 12 * DAY)) + rng.randint(0, 6 * HOUR)
            if t < p.silent_from:
                turned = p.turns is not None and t >= p.turns
                self._survey(out, t, p, "nps", P_NPS["turned" if turned else story](rnd), "relationship")
        # -- background activity --
        if hi <= lo or p.rate <= 0:
            return
        n = poisson(rng, p.rate * self.grid_days)
        if not n:
            return
        mix_cum, mix_total = p.mix
        bisect_right, gseq, idx, append = bisect.bisect_right, self.gseq, p.idx, out.append
        grid0, day_cum, day_total = self.grid0, self.day_cum, self.day_total
        (biz_cum, biz_total), (soc_cum, soc_total) = p.hours_biz, p.hours_soc
        tickets: list[int] = []
        amount_lo, amount_hi = REPEAT_AMOUNT[p.segment]
        turned_at = p.turns if story == "sour" else None
        for _ in range(n):
            kind = bisect_right(mix_cum, rnd() * mix_total)
            ts = grid0 + bisect_right(day_cum, rnd() * day_total) * DAY + int(rnd() * HOUR) + HOUR * (
                bisect_right(soc_cum, rnd() * soc_total) if kind == MENTION
                else bisect_right(biz_cum, rnd() * biz_total)
            )
            if ts < lo or ts >= hi:
                continue
            if kind == IN:
                append((ts << SEQ_BITS | next(gseq), idx, "interaction", INTERACTION["inbound", P_IN_CH(rnd)]))
            elif kind == OUT:
                append((ts << SEQ_BITS | next(gseq), idx, "interaction", INTERACTION["outbound", P_OUT_CH(rnd)]))
            elif kind == TICKET:
                tickets.append(ts)
            elif kind == MENTION:
                turned = turned_at is not None and ts >= turned_at
                self._mention(out, ts, p, "turned" if turned else story if story in SENTIMENT else "healthy")
            elif ts < p.purchase_stop:
                amount = math.exp(rng.uniform(math.log(amount_lo), math.log(amount_hi)))
                self._purchase(out, ts, p, "repeat", amount)
                if rnd() < 0.03 and ts + 10 * DAY < p.purchase_stop:
                    self._purchase(out, ts + rng.randint(DAY, 10 * DAY), p, "refund", round(amount, 2))
        if tickets:
            tickets.sort()
            if story == "noisy_healthy":
                # Many tickets, but varied: categories rotate and tickets are at least
                # 1.25 days apart, so one category never comes back 3 times in 14 days.
                last, k = self.rotation.get(p.idx) or (-DAY * 2, int(rnd() * 6))
                for ts in tickets:
                    if ts - last >= 1.25 * DAY:
                        self._ticket(out, ts, p, TICKET_CATEGORIES[k % 6], csat="noisy")
                        last, k = ts, k + 1
                self.rotation[p.idx] = (last, k)
            else:
                for ts in tickets:
                    bad = turned_at is not None and ts >= turned_at
                    self._ticket(out, ts, p, P_CATEGORY(rnd), closed=rnd() > 0.03, csat="bad" if bad else "good")

    # ---- scripts ----------------------------------------------------------

    def _onboarding(self, out, p: Profile) -> None:
        """Signup of a customer inside the period (newcomer or stalled)."""
        rng, rnd, s = self.rng, self.rnd, p.signup
        if s >= self.sim.start:
            self._account(out, s, p)
            first = p.cv / 12 if p.billing == "monthly" else p.cv
            self._purchase(out, s + rng.randint(60, 3600), p, "new", first, contract_value=p.cv,
                           referred_by=p.referred_by)
        # else: signed up before the period; its account event is the start snapshot
        start = self.sim.start

        def onboard(a: float, b: float) -> int:
            t = s + rng.randint(int(a * DAY), int(b * DAY))
            if t < start:  # signed up just before the period: squeeze it into its first days
                t = start + int(rnd() * max(HOUR, s + 13 * DAY - start))
            return t

        if p.story == "stalled_onboarding":
            self._emit(out, onboard(0.05, 1), p, "interaction", INTERACTION["outbound", "email"])
            for _ in range(2):
                self._ticket(out, onboard(1, 10), p, "onboarding", priority="normal", ces="bad")
            if rnd() < 0.5:
                self._emit(out, onboard(1, 6), p, "interaction", INTERACTION["inbound", "chat"])
            self._emit(out, onboard(8, 13), p, "interaction", INTERACTION["outbound", "email"])
            return
        self._emit(out, onboard(1, 3), p, "interaction", INTERACTION["outbound", "meeting"])
        self._emit(out, onboard(6, 12), p, "interaction", INTERACTION["outbound", "call"])
        if rnd() < 0.6:
            self._ticket(out, onboard(1, 10), p, "onboarding")

    def _sour_turn(self, out, p: Profile) -> None:
        """The turn: detractor answer, recurring billing tickets, negative burst."""
        rng, rnd, t = self.rng, self.rnd, p.turns
        self._survey(out, t, p, "nps", rng.randint(0, 4), "relationship", comment_p=0.8)
        for _ in range(rng.randint(3, 5)):
            ts = t + rng.randint(HOUR, 13 * DAY)
            self._ticket(out, ts, p, "billing", priority=PRIORITIES[2 + (rnd() < 0.4)], csat="bad", ces="bad")
        for _ in range(rng.randint(3, 6)):
            self._mention(out, t + rng.randint(6 * HOUR, 10 * DAY), p, "turned")
        for _ in range(rng.randint(1, 3)):  # angry calls and emails before going quiet
            ch = "call" if rnd() < 0.5 else "email"
            self._emit(out, t + rng.randint(HOUR, 12 * DAY), p, "interaction", INTERACTION["inbound", ch])

