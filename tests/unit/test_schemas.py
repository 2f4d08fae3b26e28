import json

import jsonschema
import orjson
import pytest
from hypothesis import given, settings, strategies as st

from handlers.events import EVENT_KINDS, DecodeError, decode
from handlers.schemas import SCHEMA_DIR, generate, render

from .test_events import BASE, VALID

VALIDATORS = {kind: jsonschema.Draft202012Validator(schema) for kind, schema in generate().items()}

INVALID = [
    ("purchase", {"amount": -1}), ("purchase", {"currency": "eur"}), ("purchase", {"kind": "gift"}),
    ("purchase", {"contract_value": None}), ("survey", {"score": 11}), ("survey", {"kind": "csat", "score": 0}),
    ("survey", {"kind": "ces", "score": 8}), ("survey", {"score": "9"}), ("survey", {"score": True}),
    ("ticket", {"status": "pending"}), ("ticket", {"category": ""}), ("mention", {"sentiment": -1.01}),
    ("mention", {"sentiment": None}), ("interaction", {"direction": "sideways"}), ("account", {"plan": 5}),
    ("account", {"cancelled_at": "2024-05-01"}), ("interaction", {"occurred_at": "2024-05-01T00:00:00"}),
    ("interaction", {"occurred_at": 1714521600}), ("interaction", {"event_id": ""}),
    ("interaction", {"occurred_at": 1714521600000 * 1000}), ("interaction", {"occurred_at": "1968-06-30T12:00:00Z"}),
    ("interaction", {"customer_id": "\x00watermark:7"}), ("interaction", {"customer_id": "c1\n"}),
    ("ticket", {"ticket_id": "t\x7f"}), ("purchase", {"referred_by": "\x1f"}),
]
EXTRA_VALID = [
    ("survey", {"kind": "csat", "score": 5, "comment": "ok", "touchpoint": "onboarding"}),
    ("survey", {"score": 7.0}), ("mention", {"text": "meh"}),
    ("account", {"cancelled_at": None, "owner": None, "signed_up_at": "2024-01-02T03:04:05+01:00"}),
    ("purchase", {"referred_by": "c9", "contract_value": 1200, "order_id": "o1"}),
    ("ticket", {"channel": "email", "unknown_extra": [1, 2]}),
    ("interaction", {"occurred_at": "1998-06-30T12:00:00+00:00"}), ("interaction", {"occurred_at": "19980630T1200Z"}),
    ("interaction", {"occurred_at": "2024-05-01T12:00:00.123456789+05"}), ("interaction", {"occurred_at": 31536000000}),
    ("interaction", {"customer_id": "Ünïcødé 客户 #7"}),
]


def test_committed_schema_files_equal_generated():
    generated = generate()
    assert sorted(p.stem for p in SCHEMA_DIR.glob("*.json")) == sorted(generated)
    for kind, schema in generated.items():
        assert (SCHEMA_DIR / f"{kind}.json").read_text(encoding="utf-8") == render(schema), \
            f"handlers/schemas/{kind}.json is stale: run python -m handlers.schemas"


def test_schemas_are_valid_draft_2020_12():
    for kind in EVENT_KINDS:
        jsonschema.Draft202012Validator.check_schema(json.loads((SCHEMA_DIR / f"{kind}.json").read_text()))


def _agree(kind: str, obj: dict) -> tuple[bool, bool]:
    decoded = decode(orjson.dumps(obj), kind)
    return VALIDATORS[kind].is_valid(obj), not isinstance(decoded, DecodeError)


@pytest.mark.parametrize("kind, change", [(k, {}) for k in EVENT_KINDS] + EXTRA_VALID)
def test_valid_samples_pass_both(kind, change):
    assert _agree(kind, {**BASE, **VALID[kind], **change}) == (True, True)


@pytest.mark.parametrize("kind, change", INVALID)
def test_invalid_samples_fail_both(kind, change):
    assert _agree(kind, {**BASE, **VALID[kind], **change}) == (False, False)


@pytest.mark.parametrize("kind, drop", [("ticket", "priority"), ("purchase", "amount"), ("survey", "kind"),
                                        ("interaction", "customer_id")])
def test_missing_required_fails_both(kind, drop):
    obj = {**BASE, **VALID[kind]}
    del obj[drop]
    assert _agree(kind, obj) == (False, False)


values = st.one_of(st.none(), st.booleans(), st.integers(-5, 12), st.floats(-2, 2, allow_nan=False),
                   st.sampled_from(["", "EUR", "nps", "csat", "ces", "opened", "inbound", "call", "new", "x" * 300]),
                   st.text(st.characters(max_codepoint=0x80), max_size=6))  # ids with and without control characters


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(EVENT_KINDS), st.dictionaries(
    st.sampled_from(["amount", "currency", "kind", "score", "respondent", "status", "category", "sentiment",
                     "text", "direction", "channel", "segment", "reach", "event_id", "customer_id"]), values, max_size=4))
def test_schema_and_decoder_agree_on_random_mutations(kind, change):
    valid_schema, valid_decoder = _agree(kind, {**BASE, **VALID[kind], **change})
    assert valid_schema == valid_decoder, change
