"""`tracker demo`: a demo account and campaign on first run, and fresh URLs to try."""

import json
import os
from argparse import Namespace
from datetime import UTC, datetime
from typing import Any

from consent import ledger
from tracker import accounts, campaigns
from tracker.commands import Output, with_database
from tracker.database import Connection
from tracker.errors import NotFound
from tracker.ids import format_id, parse_id
from tracker.minting import mint
from tracker.runtime import Runtime

__all__ = ["demo"]

CONSENTING = "ada@example.org"
NOT_CONSENTING = "bob@example.org"
LINKS = ["https://example.org/", "https://example.org/pricing"]


async def _demo(conn: Connection, runtime: Runtime, args: Namespace) -> Output:
    path = runtime.settings.data_dir / "demo.json"
    state = await _existing(conn, path) or await _create(conn, runtime)
    campaign = await campaigns.get_campaign(conn, parse_id("cmp", state["campaign"]))
    now = datetime.now(UTC)
    async with conn.transaction():
        named = await mint(conn, runtime, campaign=campaign, email=CONSENTING, now=now)
        anonymous = await mint(conn, runtime, campaign=campaign, email=NOT_CONSENTING, now=now)
    if state.get("new"):
        state.pop("new")
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as stream:
            json.dump(state, stream, indent=2)
    base = runtime.settings.base_url
    text = "\n".join(
        [
            f"Demo account {state['account']}, campaign {state['campaign']} (tokens in {path}).",
            f"{CONSENTING} has granted consent; these URLs name her:",
            f"  pixel:   {named.pixel}",
            *(f"  link:    {url}" for url in named.links.values()),
            f"  consent: {named.consent}",
            f"{NOT_CONSENTING} has not; his URLs carry a random nonce:",
            f"  pixel:   {anonymous.pixel}",
            *(f"  link:    {url}" for url in anonymous.links.values()),
            f"  consent: {anonymous.consent}",
            f"Report: .venv/bin/tracker report --campaign {state['campaign']}",
            f"Health: {base}/healthz   Readiness: {base}/readyz",
        ]
    )
    data = {
        "account": state["account"],
        "campaign": state["campaign"],
        "consenting": named.as_json(),
        "not_consenting": anonymous.as_json(),
    }
    return Output(data, text)


async def _existing(conn: Connection, path: Any) -> dict[str, Any] | None:
    try:
        state: dict[str, Any] = json.loads(path.read_text())
        await campaigns.get_campaign(conn, parse_id("cmp", state["campaign"]))
    except (OSError, ValueError, KeyError, NotFound):
        return None
    return state


async def _create(conn: Connection, runtime: Runtime) -> dict[str, Any]:
    created = await accounts.create_account(conn, "Demo sender")
    campaign, _ = await campaigns.create_campaign(
        conn, created.account.id, "Demo newsletter", LINKS
    )
    async with conn.transaction():
        recipient_id = await runtime.directory.find_or_create(conn, created.account.id, CONSENTING)
        await ledger.grant(
            conn,
            account=created.account,
            recipient_id=recipient_id,
            method="operator",
            at=datetime.now(UTC),
            evidence={"operator": "tracker demo"},
        )
    return {
        "account": created.label,
        "campaign": format_id("cmp", campaign.id),
        "tokens": created.tokens,
        "new": True,
    }


demo = with_database(_demo)
