"""``tracker classify``: JSON lines of requests in, one verdict line per request out.

Each input line is an object ``{"ua": str|null, "ip": str, "method": "GET"|"HEAD",
"kind": "open"|"click", "seconds_since_send": float|null, "headers": {name: value}}``;
each output line is ``{"verdict": "human"|"machine"|"proxy", "reasons": [code, ...]}``, in
input order. A line that also carries ``"campaign"``, ``"recipient"`` and ``"at"`` (seconds)
is seen by the rules across requests (burst, multi-link, honeypot) together with the lines
before it; ``"link"`` (the link's number or URL) and ``"honeypot": true`` help them.

Blank lines are skipped. The first malformed line stops the run with an error naming its
number; the verdicts of the lines before it have been written by then.
"""

import json
import math
from collections.abc import Iterable
from typing import Any, Literal, TextIO

from tracker.classify import Classifier, RequestFacts, Verdict
from tracker.errors import InvalidInput
from tracker.ipranges import parse_address

__all__ = ["classify_lines", "facts_from_line", "verdict_line"]


def classify_lines(classifier: Classifier, lines: Iterable[bytes], out: TextIO) -> int:
    """Classify each line and write its verdict line at once; returns how many were written."""
    written = 0
    for number, raw in enumerate(lines, start=1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidInput(f"line {number}: not UTF-8 text") from None
        if not line.strip():
            continue
        facts = facts_from_line(line, number)
        out.write(verdict_line(classifier.classify(facts)) + "\n")
        out.flush()
        written += 1
    return written


def verdict_line(verdict: Verdict) -> str:
    return json.dumps({"verdict": verdict.verdict, "reasons": list(verdict.reasons)})


def facts_from_line(line: str, number: int) -> RequestFacts:
    """The request one input line describes; InvalidInput names the line and what is wrong."""
    try:
        request = json.loads(line)
    except ValueError as exc:
        raise InvalidInput(f"line {number}: not JSON ({exc})") from None
    if not isinstance(request, dict):
        raise InvalidInput(f"line {number}: expected a JSON object, got {_type(request)}")
    field = _Fields(request, number)
    stateful = all(request.get(name) is not None for name in ("campaign", "recipient", "at"))
    return RequestFacts(
        ua=field.text_or_null("ua"),
        ip=field.address("ip"),
        method=field.method("method"),
        kind=field.kind("kind"),
        seconds_since_send=field.number_or_null("seconds_since_send"),
        headers=field.headers("headers"),
        campaign=field.key("campaign") if stateful else None,
        subject=field.key("recipient") if stateful else None,
        link=field.key("link") if request.get("link") is not None else None,
        at=field.number_or_null("at") if stateful else None,
        honeypot=field.flag("honeypot"),
    )


class _Fields:
    """Reads one line's fields, each with the message that names the line and the field."""

    def __init__(self, request: dict[str, Any], number: int) -> None:
        self.request = request
        self.number = number

    def bad(self, name: str, wanted: str) -> InvalidInput:
        got = _type(self.request.get(name)) if name in self.request else "nothing"
        return InvalidInput(f'line {self.number}: "{name}" must be {wanted}, got {got}')

    def text_or_null(self, name: str) -> str | None:
        value = self.request.get(name)
        if value is None or isinstance(value, str):
            return value
        raise self.bad(name, "a string or null")

    def address(self, name: str) -> str:
        value = self.request.get(name)
        if isinstance(value, str) and parse_address(value) is not None:
            return value
        raise self.bad(name, "an IPv4 or IPv6 address")

    def method(self, name: str) -> str:
        value = self.request.get(name, "GET")
        if isinstance(value, str) and value.isalpha():
            return value.upper()
        raise self.bad(name, '"GET" or "HEAD"')

    def kind(self, name: str) -> Literal["open", "click"]:
        value = self.request.get(name)
        if value == "open":
            return "open"
        if value == "click":
            return "click"
        raise self.bad(name, '"open" or "click"')

    def number_or_null(self, name: str) -> float | None:
        value = self.request.get(name)
        if value is None:
            return None
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
        raise self.bad(name, "a number or null")

    def headers(self, name: str) -> dict[str, str]:
        value = self.request.get(name) or {}
        if isinstance(value, dict) and all(isinstance(v, str) for v in value.values()):
            return {str(key).lower(): text for key, text in value.items()}
        raise self.bad(name, "an object of strings")

    def key(self, name: str) -> int | str:
        value = self.request.get(name)
        if isinstance(value, int | str) and not isinstance(value, bool):
            return value
        raise self.bad(name, "a string or a whole number")

    def flag(self, name: str) -> bool:
        value = self.request.get(name, False)
        if isinstance(value, bool):
            return value
        raise self.bad(name, "true or false")


def _type(value: object) -> str:
    if isinstance(value, dict | list):
        return "an object" if isinstance(value, dict) else "a list"
    shown = json.dumps(value, ensure_ascii=False)
    return shown if len(shown) <= 40 else shown[:37] + "..."
