"""Link targets cached in process, so a redirect needs no database round trip.

Links never change once registered. A miss loads all links of that campaign at once
(concurrent misses for one campaign share one query); recent campaigns are loaded at
start-up. The cache is bounded; the oldest entries go first.
"""

import asyncio
from collections import OrderedDict

import asyncpg

from tracker import db

__all__ = ["LinkCache"]


class LinkCache:
    def __init__(self, pool: asyncpg.Pool, max_size: int) -> None:
        self._pool = pool
        self._targets: OrderedDict[tuple[int, int], db.Link] = OrderedDict()
        self._loading: dict[int, asyncio.Future[None]] = {}
        self._max_size = max_size

    def __len__(self) -> int:
        return len(self._targets)

    async def target(self, campaign_id: int, link_no: int) -> db.Link | None:
        key = (campaign_id, link_no)
        link = self._targets.get(key)
        if link is None:
            await self._load_campaign(campaign_id)
            link = self._targets.get(key)
        return link

    async def preload(self, campaigns: int) -> None:
        async with self._pool.acquire() as conn:
            ids = await db.fetch_recent_campaign_ids(conn, campaigns)
            self._store(await db.fetch_links_of_campaigns(conn, ids))

    async def _load_campaign(self, campaign_id: int) -> None:
        pending = self._loading.get(campaign_id)
        if pending is not None:
            await asyncio.shield(pending)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._loading[campaign_id] = future
        try:
            async with self._pool.acquire() as conn:
                self._store(await db.fetch_links(conn, campaign_id, include_honeypot=True))
            future.set_result(None)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: the caller below re-raises it
            raise
        finally:
            del self._loading[campaign_id]

    def _store(self, links: list[db.Link]) -> None:
        for link in links:
            self._targets[(link.campaign_id, link.link_no)] = link
        while len(self._targets) > self._max_size:
            self._targets.popitem(last=False)
