"""Webhooks: per-recipient events of consenting recipients, signed the Standard Webhooks way.

An event that passes an endpoint's verdict filter is queued in the outbox in the commit
that records it, held for a while (so that a honeypot or burst can still turn it into a
machine event), then posted by a ``Deliverer``: ``webhook-id`` (the outbox id, the same on
every retry), ``webhook-timestamp`` and ``webhook-signature: v1,<base64 HMAC-SHA256 of
"id.timestamp.body">``. Failures are retried with exponential backoff and jitter until the
give-up time; then the delivery is kept as failed, for ``replay``. Just before each attempt
the event is checked again: withdrawn or lapsed consent, erasure, a removed endpoint or a
verdict that no longer passes the filter drop it.
"""

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import random
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import aiohttp
import asyncpg

from tracker import webhooks_db
from tracker.campaigns import validate_target
from tracker.crypto import EmailVault, UnreadableEmail
from tracker.database import Connection
from tracker.errors import InvalidInput, NotFound
from tracker.ids import format_id, new_id
from tracker.settings import Settings

__all__ = ["Deliverer", "DeliveryPolicy", "add_webhook", "new_secret", "sign"]

_logger = logging.getLogger("tracker.webhooks")
VERDICTS = ("human", "proxy", "machine")


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


async def add_webhook(
    conn: Connection,
    account_id: int,
    url: str,
    verdicts: Sequence[str],
    *,
    hourly_summary: bool = False,
) -> tuple[int, str]:
    """A new endpoint for events of these verdicts, or (``hourly_summary``) for the hourly
    anonymous campaign summary instead."""
    validate_target(url)
    unknown = sorted(set(verdicts) - set(VERDICTS))
    if unknown or not verdicts:
        raise InvalidInput(f"verdicts must be some of {', '.join(VERDICTS)}")
    webhook_id, secret = new_id(), new_secret()
    await webhooks_db.insert_webhook(
        conn, webhook_id, account_id, url, secret, sorted(set(verdicts)), hourly_summary
    )
    return webhook_id, secret


async def remove_webhook(conn: Connection, account_id: int, webhook_id: int) -> None:
    if not await webhooks_db.remove_webhook(conn, account_id, webhook_id):
        raise NotFound(f"there is no webhook {format_id('whk', webhook_id)} in this account")


@dataclass(frozen=True)
class DeliveryPolicy:
    hold_seconds: float = 30.0  # before the first attempt, for reclassification
    timeout_seconds: float = 10.0
    backoff_seconds: float = 5.0  # first retry; doubles each time, with jitter
    give_up_seconds: float = 86_400.0
    batch: int = 50


def delivery_policy(settings: Settings) -> DeliveryPolicy:
    return DeliveryPolicy(
        hold_seconds=settings.webhook_hold_seconds,
        timeout_seconds=settings.webhook_timeout_seconds,
        backoff_seconds=settings.webhook_backoff_seconds,
        give_up_seconds=settings.webhook_give_up_seconds,
    )


class Deliverer:
    def __init__(
        self,
        pool: asyncpg.Pool,
        vault: EmailVault,
        policy: DeliveryPolicy,
    ) -> None:
        self._pool = pool
        self._vault = vault
        self._policy = policy
        self._session: aiohttp.ClientSession | None = None
        self.delivered = 0

    def _http(self) -> aiohttp.ClientSession:
        # aiohttp rather than httpx here: posting costs about a tenth of the CPU time, and a
        # busy account means one post per human open or click. Made on first use, so a
        # process that never delivers (or fails to start) leaves no session open.
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self._policy.timeout_seconds)
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def run_forever(self, idle_seconds: float = 0.5) -> None:
        while True:
            try:
                if await self.deliver_due():
                    continue
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                _logger.warning("webhook delivery paused (%s)", exc.__class__.__name__)
            await asyncio.sleep(idle_seconds)

    async def deliver_due(self) -> int:
        """Attempt every due delivery once; returns how many were attempted or dropped."""
        # The batch is posted all at once: each post ends within the timeout. If this
        # process dies meanwhile, another deliverer takes the batch after the lease.
        lease = self._policy.timeout_seconds * 2 + 30
        async with self._pool.acquire() as conn:
            claimed = await webhooks_db.claim_due(conn, self._policy.batch, lease)
        outcomes = await asyncio.gather(*(self._deliver(delivery) for delivery in claimed))
        async with self._pool.acquire() as conn:
            await webhooks_db.record_outcomes(conn, outcomes)
        return len(claimed)

    async def _deliver(self, delivery: webhooks_db.Delivery) -> webhooks_db.Outcome:
        body = self._payload(delivery) if delivery.deliverable else None
        if body is None:
            return webhooks_db.Outcome(delivery.id, "dropped")
        started = time.perf_counter()
        status, error = await self._post(delivery, body)
        duration = int((time.perf_counter() - started) * 1000)
        if status is not None and 200 <= status < 300:
            self.delivered += 1
            return webhooks_db.Outcome(delivery.id, "delivered", status, None, duration)
        if self._gave_up(delivery):
            return webhooks_db.Outcome(delivery.id, "failed", status, error, duration)
        return webhooks_db.Outcome(
            delivery.id, "pending", status, error, duration, self._backoff(delivery)
        )

    async def _post(
        self, delivery: webhooks_db.Delivery, body: bytes
    ) -> tuple[int | None, str | None]:
        timestamp = int(time.time())
        headers: Mapping[str, str] = {
            "content-type": "application/json",
            "webhook-id": str(delivery.id),
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(delivery.secret, str(delivery.id), timestamp, body),
        }
        try:
            async with self._http().post(
                delivery.url, data=body, headers=headers, allow_redirects=False
            ) as response:
                await response.read()
                status = response.status
        except TimeoutError:
            return None, "timed out"
        except aiohttp.ClientError as exc:
            return None, exc.__class__.__name__
        return status, None if 200 <= status < 300 else f"HTTP {status}"

    def _payload(self, delivery: webhooks_db.Delivery) -> bytes | None:
        if delivery.payload is not None:
            return delivery.payload.encode()  # a summary, built when it was queued
        assert delivery.recipient_id is not None and delivery.at is not None
        try:
            if delivery.email_ciphertext is None:
                return None
            email = self._vault.open(
                delivery.recipient_id, delivery.email_ciphertext, delivery.wrapped_key
            )
        except UnreadableEmail:
            return None  # erased
        assert delivery.campaign_id is not None
        return json.dumps(
            {
                "type": "open" if delivery.link_no == 0 else "click",
                "campaign": format_id("cmp", delivery.campaign_id),
                "recipient": email,
                "link": delivery.link_url if delivery.link_no else None,
                "at": delivery.at.isoformat(),
                "verdict": delivery.verdict,
                "reasons": delivery.reasons or [],
            },
            separators=(",", ":"),
        ).encode()

    def _gave_up(self, delivery: webhooks_db.Delivery) -> bool:
        age = (datetime.now(UTC) - delivery.created_at).total_seconds()
        return age >= self._policy.give_up_seconds

    def _backoff(self, delivery: webhooks_db.Delivery) -> float:
        base = self._policy.backoff_seconds * 2 ** max(delivery.attempts - 1, 0)
        return float(min(base, 3600.0) * random.uniform(0.5, 1.5))  # noqa: S311 - jitter
