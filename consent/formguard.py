"""The consent form's CSRF token: signed, bound to the recipient and the page, short-lived.

It also carries the time the page was shown, so that a grant that comes sooner than a
person could have read the page is refused. itsdangerous compares in constant time.
"""

import hashlib
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeSerializer

__all__ = ["BadForm", "FormGuard"]


class BadForm(Exception):
    """Missing, forged, for another page or recipient, or too old."""


@dataclass(frozen=True)
class FormGuard:
    key: bytes
    max_age: float = 3600.0

    def issue(self, recipient_id: int, page_token: str, now: float) -> str:
        return str(self._serializer().dumps([recipient_id, _page(page_token), round(now, 3)]))

    def seconds_on_page(
        self, form_token: str, recipient_id: int, page_token: str, now: float
    ) -> float:
        """Seconds since the page was shown; raises BadForm if the token does not fit."""
        try:
            bound_recipient, bound_page, shown_at = self._serializer().loads(form_token)
            elapsed = now - float(shown_at)
        except (BadSignature, ValueError, TypeError):
            raise BadForm("the form token is not valid") from None
        if bound_recipient != recipient_id or bound_page != _page(page_token):
            raise BadForm("the form token belongs to another page")
        if not 0 <= elapsed <= self.max_age:
            raise BadForm("the form token is too old")
        return elapsed

    def _serializer(self) -> URLSafeSerializer:
        return URLSafeSerializer(self.key, salt="consent-form")


def _page(page_token: str) -> str:
    return hashlib.sha256(page_token.encode()).hexdigest()[:16]
