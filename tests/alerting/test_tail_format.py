"""What `cshealth tail` prints for a health change: a first score reads "new", never None->."""
from streams.alerting.tail import format_change


def change(**fields) -> dict:
    return {"occurred_at": "2026-03-02T23:59:59.999Z", "customer_id": "c1", "band": "yellow",
            "explanation": "+3.2 = new, from prior 50.0: NPS +3.2", **fields}


def test_a_first_score_reads_new_with_its_interval():
    line = format_change(change(previous_score=None, score=53.2, previous_band=None, interval=[47.0, 59.4]))
    assert "new 53.2 [47.0-59.4] yellow" in line and "None" not in line


def test_a_move_reads_from_to():
    line = format_change(change(previous_score=61.0, score=55.5, previous_band="green", interval=[50.1, 60.9]))
    assert "61.0->55.5 [50.1-60.9] green->yellow" in line
