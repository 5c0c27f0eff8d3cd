"""Verifying the consent ledger's hash chain: proof that no row was changed or removed.

Each row carries ``row_hash = sha256(prev_hash || content)`` and the ``row_hash`` of the row
before it (per account, in ``seq`` order). A changed row no longer matches its own hash; a
removed or reordered row breaks the link to its neighbour. Rows removed by the retention
purge leave their hash in ``consent_ledger_purged``, so the chain still links across them.
"""

from dataclasses import dataclass

from consent import db
from tracker.database import Connection

__all__ = ["GENESIS", "ChainReport", "verify_ledger"]

GENESIS = bytes(32)


@dataclass(frozen=True)
class ChainReport:
    rows: int
    purged: int
    head: bytes  # the last row's hash: note it down to detect a rewrite of the whole chain
    first_bad_seq: int | None = None
    first_bad_id: int | None = None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


async def verify_ledger(conn: Connection, account_id: int) -> ChainReport:
    links = await db.fetch_chain(conn, account_id)
    previous, expected_seq, rows, purged = GENESIS, 1, 0, 0
    for link in links:
        problem = _check(link, previous, expected_seq)
        if problem is not None:
            return ChainReport(rows, purged, previous, link.seq, link.id, problem)
        if link.id is None:
            purged += 1
        else:
            rows += 1
        previous, expected_seq = link.row_hash, link.seq + 1
    return ChainReport(rows, purged, previous)


def _check(link: db.ChainLink, previous: bytes, expected_seq: int) -> str | None:
    if link.seq != expected_seq:
        return f"row {expected_seq} is missing: the chain jumps to {link.seq}"
    if link.id is None:
        return None  # removed by retention; only its hash is known
    if link.prev_hash != previous:
        return "it does not follow the row before it (a row was removed or reordered)"
    if link.recomputed != link.row_hash:
        return "its content was changed after it was written"
    return None
