"""Event contracts (pydantic, frozen) and the never-raising decoder.

`decode(raw, kind)` returns a typed event or a `DecodeError` naming the field
and the reason. The JSON Schema files in handlers/schemas/ are generated from
these models (see handlers/schemas.py), so the contract lives in one place.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, ClassVar, Literal, Union

import orjson
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, ValidationInfo, WithJsonSchema, field_validator, model_validator
from pydantic_core import PydanticCustomError

from handlers.timeutil import ISO_PATTERN, MAX_EPOCH_MS, MIN_EPOCH_MS, parse_ts

MAX_EVENT_BYTES = 1_048_576  # 1 MiB: larger messages are rejected before parsing
EVENT_KINDS = ("purchase", "survey", "ticket", "mention", "interaction", "account")
DERIVED_KINDS = ("referral_credit",)  # produced by derived_events(), re-keyed by streams/
TOPICS = {f"cs.{k}s": k for k in EVENT_KINDS} | {"cs.referral-credits": "referral_credit"}
DECODE_REASONS = ("too_large", "not_json", "not_object", "unknown_kind", "missing_field", "invalid_field")


def _integral(value: object) -> object:
    # JSON Schema calls 7.0 an integer; accept it so schema and decoder agree.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


Timestamp = Annotated[
    int,
    BeforeValidator(parse_ts),
    WithJsonSchema({"anyOf": [
        {"type": "string", "pattern": ISO_PATTERN},
        {"type": "integer", "minimum": MIN_EPOCH_MS, "exclusiveMaximum": MAX_EPOCH_MS},
    ]}),
]
Int = Annotated[int, BeforeValidator(_integral)]
Id = Annotated[str, Field(min_length=1, max_length=256)]
Label = Annotated[str, Field(min_length=1, max_length=128)]
Money = Annotated[float, Field(ge=0, le=1e12)]


class _Event(BaseModel):
    # strict: no "7" -> 7 or true -> 1 coercion, so the JSON Schema says exactly what passes.
    model_config = ConfigDict(frozen=True, extra="ignore", strict=True, populate_by_name=True)
    kind: ClassVar[str]
    event_id: Id
    customer_id: Id
    occurred_at_ms: Timestamp = Field(alias="occurred_at")


# Optional fields are written `T = None` (absent allowed, explicit null rejected) except
# in Account, where null is meaningful ("owner unassigned", "cancellation withdrawn").
class Purchase(_Event):
    kind: ClassVar[str] = "purchase"
    amount: Money
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    purchase_kind: Literal["new", "repeat", "renewal", "expansion", "contraction", "refund"] = Field(alias="kind")
    order_id: Id = None
    referred_by: Id = None
    contract_value: Money = None


_SURVEY_RANGES = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7)}


class Survey(_Event):
    model_config = ConfigDict(json_schema_extra={"allOf": [
        {"if": {"properties": {"kind": {"const": k}}}, "then": {"properties": {"score": {"minimum": lo, "maximum": hi}}}}
        for k, (lo, hi) in _SURVEY_RANGES.items()
    ]})
    kind: ClassVar[str] = "survey"
    survey_kind: Literal["nps", "csat", "ces"] = Field(alias="kind")
    score: Int = Field(ge=0, le=10)
    respondent: Literal["customer", "employee"] = "customer"
    comment: str = Field(None, max_length=10_000)
    touchpoint: Label = None

    @field_validator("score")
    @classmethod
    def _score_in_scale(cls, v: int, info: ValidationInfo) -> int:
        lo, hi = _SURVEY_RANGES.get(info.data.get("survey_kind"), (0, 10))
        if not lo <= v <= hi:
            raise ValueError(f"must be {lo}-{hi} for a {info.data.get('survey_kind')} survey")
        return v


class Ticket(_Event):
    kind: ClassVar[str] = "ticket"
    ticket_id: Id
    status: Literal["opened", "closed", "reopened"]
    category: Label
    priority: Label
    channel: Label = None


class Mention(_Event):
    model_config = ConfigDict(json_schema_extra={"anyOf": [{"required": ["sentiment"]}, {"required": ["text"]}]})
    kind: ClassVar[str] = "mention"
    source: Label
    sentiment: float = Field(None, ge=-1, le=1)
    text: str = Field(None, max_length=100_000)
    reach: Int = Field(None, ge=0)

    @model_validator(mode="after")
    def _needs_sentiment_or_text(self) -> "Mention":
        if self.sentiment is None and self.text is None:
            raise PydanticCustomError("missing", "sentiment or text is required", {"field": "text"})
        return self


class Interaction(_Event):
    kind: ClassVar[str] = "interaction"
    direction: Literal["inbound", "outbound"]
    channel: Literal["email", "call", "meeting", "chat"]


class Account(_Event):
    kind: ClassVar[str] = "account"
    segment: Label | None = None
    plan: Label | None = None
    owner: Label | None = None
    signed_up_at: Timestamp | None = None
    activated_at: Timestamp | None = None
    cancelled_at: Timestamp | None = None


class ReferralCredit(_Event):
    """Derived: credits the referrer when a purchase names it in `referred_by`."""
    kind: ClassVar[str] = "referral_credit"
    referred_customer_id: Id
    source_event_id: Id


MODELS: dict[str, type[_Event]] = {m.kind: m for m in (Purchase, Survey, Ticket, Mention, Interaction, Account, ReferralCredit)}
Event = Union[Purchase, Survey, Ticket, Mention, Interaction, Account, ReferralCredit]


@dataclass(frozen=True)
class DecodeError:
    reason: str  # one of DECODE_REASONS
    field: str | None
    message: str


def kind_of_topic(topic: object) -> str | None:
    """'purchase', 'cs.purchases' (or 'cs.purchase') -> 'purchase'; None if unknown."""
    if not isinstance(topic, str):
        return None
    if topic in MODELS:
        return topic
    if topic in TOPICS:
        return TOPICS[topic]
    bare = topic.removeprefix("cs.")
    return bare if bare in MODELS else None


def decode(raw: bytes, kind: str | None = None) -> Event | DecodeError:
    """Decode one message; never raises (a bug inside becomes an invalid_field error)."""
    try:
        return _decode(raw, kind)
    except Exception as exc:  # the agent must never stop on bad input
        return DecodeError("invalid_field", None, f"undecodable event ({type(exc).__name__})")


def _decode(raw: bytes, kind: str | None) -> Event | DecodeError:
    if len(raw) > MAX_EVENT_BYTES:
        return DecodeError("too_large", None, f"message is {len(raw)} bytes, limit is {MAX_EVENT_BYTES}")
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return DecodeError("not_json", None, f"not valid UTF-8 JSON: {exc}")
    if not isinstance(obj, dict):
        return DecodeError("not_object", None, f"expected a JSON object, got {type(obj).__name__}")
    if kind is None:
        if "topic" not in obj:
            return DecodeError("missing_field", "topic", "field 'topic' is required when the kind is not given")
        kind = kind_of_topic(obj["topic"])
        if kind is None:
            return DecodeError("unknown_kind", "topic", f"field 'topic': unknown topic {str(obj['topic'])[:80]!r}")
    model = MODELS.get(kind)
    if model is None:
        return DecodeError("unknown_kind", None, f"unknown event kind {str(kind)[:80]!r}")
    try:
        return model.model_validate(obj)
    except ValidationError as exc:
        return _validation_error(exc)


def _validation_error(exc: ValidationError) -> DecodeError:
    err = exc.errors(include_url=False, include_input=False)[0]
    field = ".".join(str(p) for p in err["loc"]) or (err.get("ctx") or {}).get("field")
    reason = "missing_field" if err["type"] == "missing" else "invalid_field"
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "missing" and msg == "Field required":
        msg = "is required"
    return DecodeError(reason, field, f"field '{field}': {msg}")


def encode(event: Event) -> bytes:
    """JSON bytes that decode() turns back into an equal event (carries its topic)."""
    body = event.model_dump(by_alias=True, exclude_unset=True)
    body["topic"] = event.kind
    return orjson.dumps(body)


def is_employee_survey(event: object) -> bool:
    """Employee (eNPS) surveys feed the company eNPS only, never a customer's NPS."""
    return isinstance(event, Survey) and event.respondent == "employee"
