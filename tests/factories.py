"""Building blocks for test scenarios: an account with a campaign, consent, minted URLs."""

from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from consent import ledger
from tracker import accounts, campaigns, db
from tracker.database import Connection
from tracker.minting import MintedUrls, mint
from tracker.runtime import Runtime

LINKS = ["https://example.org/offer?id=1", "https://example.org/pricing#plans"]


@dataclass(frozen=True)
class Scenario:
    account_id: int
    campaign: db.Campaign
    tokens: dict[str, str]


async def make_campaign(conn: Connection, links: list[str] | None = None) -> Scenario:
    created = await accounts.create_account(conn, "Example Newsletter GmbH")
    campaign, _ = await campaigns.create_campaign(
        conn, created.account.id, "November", LINKS if links is None else links
    )
    return Scenario(created.account.id, campaign, created.tokens)


async def grant(conn: Connection, runtime: Runtime, scenario: Scenario, email: str) -> int:
    async with conn.transaction():
        recipient_id = await runtime.directory.find_or_create(conn, scenario.account_id, email)
        await ledger.grant(
            conn,
            account=await accounts.get_account(conn, scenario.account_id),
            recipient_id=recipient_id,
            method="operator",
            at=datetime.now(UTC),
            evidence={"operator": "test"},
        )
    return recipient_id


async def withdraw(conn: Connection, runtime: Runtime, scenario: Scenario, email: str) -> None:
    async with conn.transaction():
        recipient_id = await runtime.directory.find_or_create(conn, scenario.account_id, email)
        await ledger.withdraw(
            conn,
            account=await accounts.get_account(conn, scenario.account_id),
            recipient_id=recipient_id,
            method="operator",
            at=datetime.now(UTC),
            evidence={"operator": "test"},
        )


async def mint_for(
    conn: Connection, runtime: Runtime, scenario: Scenario, email: str
) -> MintedUrls:
    async with conn.transaction():
        return await mint(
            conn, runtime, campaign=scenario.campaign, email=email, now=datetime.now(UTC)
        )


def path_of(url: str) -> str:
    """The path of a minted URL, to request it from the test client."""
    return urlsplit(url).path


def person(number: int) -> dict[str, str]:
    """Request headers of one person: a browser, on a network of their own."""
    return {
        "user-agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
        "x-forwarded-for": f"198.{51 + number // 250}.{number % 250}.10",
    }
