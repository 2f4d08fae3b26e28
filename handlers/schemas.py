"""JSON Schema files for the event contracts, generated from the pydantic models.

    python -m handlers.schemas          # rewrite handlers/schemas/<kind>.json

tests/unit/test_schemas.py checks the committed files equal generate() and that
jsonschema agrees with decode() on valid and invalid samples. The decoder is a
little stricter than the schema in one place: an ISO timestamp must also be a
real calendar date (no 2024-02-30), on or after 1970-01-01T00:00:00Z once its
offset is applied (the pattern admits 1969 for negative offsets), with nothing
after it (Python's `$` would also match before a final newline).
"""
from __future__ import annotations

import json
from pathlib import Path

from handlers.events import EVENT_KINDS, MODELS

SCHEMA_DIR = Path(__file__).with_name("schemas")
DIALECT = "https://json-schema.org/draft/2020-12/schema"


def generate() -> dict[str, dict]:
    """kind -> JSON Schema (dict) for every input event kind plus referral_credit."""
    out = {}
    for kind in (*EVENT_KINDS, "referral_credit"):
        schema = MODELS[kind].model_json_schema(by_alias=True, mode="validation")
        out[kind] = {"$schema": DIALECT, "$id": f"https://cshealth.local/schemas/{kind}.json",
                     "description": f"cshealth '{kind}' event (unknown extra fields are allowed and ignored)",
                     **schema}
    return out


def render(schema: dict) -> str:
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def write(directory: Path = SCHEMA_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for kind, schema in generate().items():
        path = directory / f"{kind}.json"
        path.write_text(render(schema), encoding="utf-8")
        paths.append(path)
    return paths


if __name__ == "__main__":
    for p in write():
        print(p)
