"""Read our Prometheus rule files and promtool test files without PyYAML.

PyYAML is not a project dependency, so this is a deliberately small,
line-based reader for the layout used in prometheus/ (block YAML, one key per
line, `expr` either inline or a `|`/`>` block scalar). promtool itself is the
real parser: every file read here is also loaded by promtool in the tests, so
if this reader and the YAML ever disagree, one of the two checks fails loudly.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PROM_DIR = REPO / "prometheus"
RULES_DIR = PROM_DIR / "rules"
PROM_TESTS_DIR = PROM_DIR / "tests"

_ITEM = re.compile(r"^(?P<indent>\s*)-\s+(?P<kind>record|alert):\s*(?P<name>\S+)\s*$")
_GROUP = re.compile(r"^\s*-\s+name:\s*(?P<name>\S+)")
_KEY = re.compile(r"^(?P<indent>\s*)(?:-\s+)?(?P<key>[A-Za-z_][\w]*):(?:\s+(?P<value>.*?))?\s*$")


def unquote(value: str) -> str:
    """A YAML flow scalar: plain, 'single' or "double" quoted."""
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == "'":
        return value[1:-1].replace("''", "'")
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return json.loads(value)
    # plain scalar: drop a trailing comment
    return re.sub(r"\s+#.*$", "", value)


def strip_comment(line: str) -> str:
    """Remove a trailing # comment unless the # sits inside quotes."""
    out, quote = [], None
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1].isspace()):
            break
        out.append(ch)
    return "".join(out).rstrip()


def _block_scalar(lines: list[str], start: int, key_indent: int, style: str) -> tuple[str, int]:
    """Collect a | or > block scalar starting after line `start`."""
    body: list[str] = []
    i = start + 1
    while i < len(lines):
        line = lines[i]
        if line.strip() and (len(line) - len(line.lstrip())) <= key_indent:
            break
        body.append(line)
        i += 1
    while body and not body[-1].strip():
        body.pop()
    indents = [len(b) - len(b.lstrip()) for b in body if b.strip()]
    cut = min(indents) if indents else 0
    text_lines = [b[cut:] for b in body]
    if style.startswith(">"):
        return " ".join(t.strip() for t in text_lines if t.strip()), i
    return "\n".join(text_lines), i


@dataclass
class Rule:
    kind: str                      # "record" | "alert"
    name: str
    group: str
    file: Path
    expr: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    has_for: bool = False


def read_rules(path: Path) -> list[Rule]:
    lines = path.read_text().splitlines()
    rules: list[Rule] = []
    group = ""
    current: Rule | None = None
    section: str | None = None     # "labels" | "annotations" while inside one
    section_indent = 0
    i = 0
    while i < len(lines):
        raw = lines[i]
        line = strip_comment(raw)
        if not line.strip():
            i += 1
            continue
        indent = len(line) - len(line.lstrip())
        g = _GROUP.match(line)
        if g:
            group, current, section = g.group("name"), None, None
            i += 1
            continue
        item = _ITEM.match(line)
        if item:
            current = Rule(item.group("kind"), item.group("name"), group, path)
            rules.append(current)
            section = None
            i += 1
            continue
        kv = _KEY.match(line)
        if current is None or not kv:
            i += 1
            continue
        key, value = kv.group("key"), kv.group("value") or ""
        if section and indent <= section_indent:
            section = None
        if section:
            if value[:1] in ("|", ">"):
                text, i = _block_scalar(lines, i, indent, value)
            else:
                text, i = unquote(value), i + 1
            getattr(current, section)[key] = text
            continue
        if key == "expr":
            if value[:1] in ("|", ">"):
                current.expr, i = _block_scalar(lines, i, indent, value)
            else:
                current.expr, i = unquote(value), i + 1
            continue
        if key in ("labels", "annotations") and not value:
            section, section_indent = key, indent
        elif key == "for":
            current.has_for = True
        i += 1
    return rules


def rule_files() -> list[Path]:
    return sorted(RULES_DIR.glob("*.yml"))


def all_rules() -> list[Rule]:
    return [r for f in rule_files() for r in read_rules(f)]


# ----------------------------------------------------------- promtool tests
@dataclass
class AlertCase:
    alertname: str
    fires: bool
    line: int
    severities: set[str] = field(default_factory=set)  # severity labels expected to fire


@dataclass
class PromtoolTestFile:
    path: Path
    rule_files: list[str]
    input_series: list[str]
    exprs: list[str]
    alert_cases: list[AlertCase]


def read_promtool_test(path: Path) -> PromtoolTestFile:
    lines = path.read_text().splitlines()
    rule_files_, series, exprs, cases = [], [], [], []
    in_rule_files = False
    pending_alertname: tuple[str, int] | None = None
    case: AlertCase | None = None
    for n, raw in enumerate(lines, start=1):
        line = strip_comment(raw)
        if not line.strip():
            continue
        stripped = line.strip()
        if re.match(r"^rule_files:\s*$", line):
            in_rule_files = True
            continue
        if in_rule_files:
            if stripped.startswith("- "):
                rule_files_.append(unquote(stripped[2:]))
                continue
            in_rule_files = False
        kv = _KEY.match(line)
        if not kv:
            continue
        key, value = kv.group("key"), kv.group("value") or ""
        if key == "series":
            series.append(unquote(value))
        elif key == "expr":
            if value[:1] in ("|", ">"):
                raise ValueError(f"{path}:{n}: keep promql_expr_test exprs on one line")
            exprs.append(unquote(value))
        elif key == "alertname":
            pending_alertname, case = (unquote(value), n), None
        elif key in ("eval_time", "interval", "input_series"):
            case = None
        elif key == "exp_alerts":
            if pending_alertname is None:
                raise ValueError(f"{path}:{n}: exp_alerts without a preceding alertname")
            name, at = pending_alertname
            case = AlertCase(name, fires=unquote(value) != "[]", line=at)
            cases.append(case)
            pending_alertname = None
        elif key == "severity" and case is not None:
            case.severities.add(unquote(value))
    return PromtoolTestFile(path, rule_files_, series, exprs, cases)


def promtool_test_files() -> list[Path]:
    return sorted(PROM_TESTS_DIR.glob("*.yml"))


_SERIES = re.compile(r"^(?P<name>[A-Za-z_:][\w:]*)(?:\{(?P<labels>.*)\})?$")
_LABEL = re.compile(r'\s*([A-Za-z_]\w*)\s*=\s*"((?:\\.|[^"\\])*)"\s*,?')


def parse_series(selector: str) -> tuple[str, dict[str, str]]:
    """'name{a="b"}' -> ("name", {"a": "b"}) for promtool input_series."""
    m = _SERIES.match(selector.strip())
    if not m:
        raise ValueError(f"not a series selector: {selector!r}")
    labels: dict[str, str] = {}
    body = m.group("labels") or ""
    pos = 0
    while pos < len(body):
        lm = _LABEL.match(body, pos)
        if not lm:
            raise ValueError(f"cannot parse labels of {selector!r}")
        labels[lm.group(1)] = lm.group(2)
        pos = lm.end()
    return m.group("name"), labels
