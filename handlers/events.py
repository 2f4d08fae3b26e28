"""Event contracts (pydantic, frozen) and the never-raising decoder.

`decode(raw, kind, now_ms)` returns a typed event or a `DecodeError` naming the
field and the reason. The JSON Schema files in handlers/schemas/ are generated from
these models (see handlers/schemas.py), so the contract lives in one place.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, ClassVar, Literal, Union

import orjson
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, ValidationInfo, WithJsonSchema, field_validator, model_validator
from pydantic_core import PydanticCustomError

from handlers.timeutil import ISO_PATTERN, MAX_EPOCH_MS, MIN_EPOCH_MS, iso, parse_ts

MAX_EVENT_BYTES = 1_048_576  # 1 MiB: larger messages are rejected before parsing
EVENT_KINDS = ("purchase", "survey", "ticket", "mention", "interaction", "account")
DERIVED_KINDS = ("referral_credit",)  # produced by derived_events(), re-keyed by streams/
TOPICS = {f"cs.{k}s": k for k in EVENT_KINDS} | {"cs.referral-credits": "referral_credit"}
DECODE_REASONS = ("too_large", "not_json", "not_object", "unknown_kind", "missing_field", "invalid_field",
                  "future_event")
# An event dated further ahead of the reader's clock than this is refused (future_event):
# a producer with a wrong clock would otherwise carry event time, and every day-closing
# rule with it, into its future. Callers pass their own limit (the worker's setting).
MAX_CLOCK_SKEW_MS = 3_600_000
MAX_ID_CHARS = 256
# Ids are printable: no C0 control character and no DEL. Besides keeping logs and headers
# sane, this leaves every key that starts with a control byte (b"\x00watermark:7") to the
# worker's internal records, which share the customers' table.
# The schemas say it as `"not": {"pattern": ...}`: an anchored ^[^...]*$ would let Python's
# jsonschema, whose $ also matches before a final newline, accept "c1\n".
ID_FORBIDDEN_PATTERN = r"[\x00-\x1f\x7f]"
_ID_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")  # surrogates: not encodable as UTF-8 keys


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
def _printable(value: str) -> str:
    bad = _ID_FORBIDDEN.search(value)
    if bad is not None:
        raise ValueError(f"contains {_char_name(bad.group())} at position {bad.start()}; "
                         "ids may not contain control characters (U+0000-U+001F, U+007F)")
    return value


def _char_name(ch: str) -> str:
    code = ord(ch)
    return f"the surrogate U+{code:04X}" if 0xD800 <= code <= 0xDFFF else f"the control character U+{code:04X}"


def valid_customer_id(value: object) -> bool:
    """True for a string the event contract accepts as a customer_id (or any other id):
    1-256 characters, no control character. Keys that fail it (b"\x00...") are internal."""
    return isinstance(value, str) and 1 <= len(value) <= MAX_ID_CHARS and _ID_FORBIDDEN.search(value) is None


Int = Annotated[int, BeforeValidator(_integral)]
Id = Annotated[str, Field(min_length=1, max_length=MAX_ID_CHARS, json_schema_extra={"not": {"pattern": ID_FORBIDDEN_PATTERN}}),
               AfterValidator(_printable)]
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


def decode(raw: bytes, kind: str | None = None, now_ms: int | None = None,
           max_skew_ms: int = MAX_CLOCK_SKEW_MS) -> Event | DecodeError:
    """Decode one message; never raises (a bug inside becomes an invalid_field error).

    With now_ms (the reader's clock, epoch ms), an event whose occurred_at lies more than
    max_skew_ms ahead of it is a future_event error; None checks nothing (the domain
    never reads the clock itself)."""
    try:
        event = _decode(raw, kind)
        if now_ms is not None and not isinstance(event, DecodeError):
            return check_clock(event, now_ms, max_skew_ms) or event
        return event
    except Exception as exc:  # the agent must never stop on bad input
        return DecodeError("invalid_field", None, f"undecodable event ({type(exc).__name__})")


def check_clock(event: Event, now_ms: int, max_skew_ms: int = MAX_CLOCK_SKEW_MS) -> DecodeError | None:
    """A future_event error when the event is dated more than max_skew_ms after now_ms, else None.

    Only occurred_at is checked: it is the event time that moves the watermark. An account's
    lifecycle timestamps may rightly lie ahead (a cancellation that takes effect at renewal)."""
    now_ms, max_skew_ms = int(now_ms), int(max_skew_ms)  # a clock may say time.time() * 1000
    ahead = event.occurred_at_ms - now_ms
    if ahead <= max_skew_ms:
        return None
    return DecodeError("future_event", "occurred_at",
                       f"field 'occurred_at': {iso(event.occurred_at_ms)} is {_span(ahead)} ahead of the clock "
                       f"({iso(now_ms)}); the limit is {_span(max_skew_ms)} of clock skew")


def _span(ms: int) -> str:
    if ms >= 172_800_000:
        return f"{ms / 86_400_000:.1f} days"
    return f"{ms / 1000:.3f}".rstrip("0").rstrip(".") + " s"  # exact: 3600.001 s against a 3600 s limit


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
