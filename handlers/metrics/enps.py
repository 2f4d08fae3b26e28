"""Company-wide eNPS from employee surveys (respondent "employee", kind "nps").

Employee answers never touch a customer's state; they are counted here as
additive promoter/passive/detractor counts (so N workers add up).
"""
from __future__ import annotations

from handlers.events import is_employee_survey
from handlers.metrics.nps import category, interval, nps_value


class CompanyEnps:
    __slots__ = ("counts",)

    def __init__(self) -> None:
        self.counts = [0, 0, 0]  # promoters, passives, detractors

    def fold(self, event) -> bool:
        if not (is_employee_survey(event) and event.survey_kind == "nps"):
            return False
        self.counts[category(event.score)] += 1
        return True

    def read(self) -> dict:
        p, s, d = self.counts
        n = p + s + d
        value = nps_value(p, d, n)
        return {"enps": None if value is None else round(value, 1), "responses": n,
                "promoters": p, "passives": s, "detractors": d, "interval": interval(p, d, n)}
