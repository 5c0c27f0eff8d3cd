"""The campaign report: totals, exact consenting uniques, estimated uniques, k-anonymous.

Every figure that includes non-consenting recipients (totals and estimates) is shown only
when it is at least k; below that it is ``None`` ("< k"). Exact uniques come from
per-recipient events, which exist only for consenting recipients, and are shown as they
are. A campaign whose audience is below k gets no per-link breakdown at all.
"""

from collections.abc import Mapping, Sequence
from typing import Any

from aggregates import db
from aggregates.hll import STANDARD_ERROR, estimate, merge
from tracker.database import Connection

__all__ = ["AUDIENCE_SKETCH", "VERDICTS", "build_report", "k_split", "render_text", "sketch_name"]

VERDICTS = ("human", "proxy", "machine")
AUDIENCE_SKETCH = "audience"

Split = dict[str, int | None]


def sketch_name(link_no: int, verdict: str) -> str:
    return f"open:{verdict}" if link_no == 0 else f"click:{link_no}:{verdict}"


async def build_report(
    conn: Connection,
    *,
    campaign_id: int,
    campaign_label: str,
    links: Sequence[tuple[int, str]],
    k: int,
) -> dict[str, Any]:
    """The report in its fixed JSON shape; ``links`` is [(link_no, url)]."""
    totals = await db.fetch_counter_totals(conn, campaign_id)
    sketches = await db.fetch_sketches(conn, campaign_id)
    consenting = await db.fetch_consenting_uniques(conn, campaign_id)
    audience = estimate(sketches.get(AUDIENCE_SKETCH, {}))
    small_audience = audience < k

    def figures(link_no: int, *, hide_anonymous: bool) -> dict[str, Split]:
        estimates = {v: sketches.get(sketch_name(link_no, v), {}) for v in VERDICTS}
        return {
            "total": k_split(
                {v: totals.get((link_no, v), 0) for v in VERDICTS}, k, hide_all=hide_anonymous
            ),
            "unique_estimate": k_split(
                {v: estimate(estimates[v]) for v in VERDICTS},
                k,
                all_value=estimate(merge(estimates.values())),
                hide_all=hide_anonymous,
            ),
            "unique_consenting": {
                **{v: consenting.get((link_no, v), 0) for v in VERDICTS},
                "all": consenting.get((link_no, "all"), 0),
            },
        }

    hourly = await db.fetch_hourly(conn, campaign_id)
    return {
        "campaign": campaign_label,
        "audience": audience,
        "k": k,
        "unique_estimate_error": round(STANDARD_ERROR, 4),
        "breakdown_suppressed": small_audience,
        "opens": figures(0, hide_anonymous=False),
        "links": [
            {"url": url, "link": link_no, "clicks": figures(link_no, hide_anonymous=small_audience)}
            for link_no, url in links
        ],
        "hourly": [] if small_audience else _hourly(hourly, k),
    }


def _hourly(counts: Mapping[tuple[Any, str, str], int], k: int) -> list[dict[str, Any]]:
    """One entry per hour with events: opens and clicks, each split and k-suppressed, and
    withheld further where the campaign's totals would give withheld hours away."""
    hours = sorted({hour for hour, _, _ in counts})
    rows: list[dict[str, Any]] = [{"hour": hour.isoformat()} for hour in hours]
    for kind in ("opens", "clicks"):
        values = [{v: counts.get((hour, kind, v), 0) for v in VERDICTS} for hour in hours]
        splits = [k_split(hour_values, k) for hour_values in values]
        _withhold_complements(values, splits, k)
        for row, split in zip(rows, splits, strict=True):
            row[kind] = split
    return rows


def _withhold_complements(
    values: Sequence[Mapping[str, int]], splits: Sequence[Split], k: int
) -> None:
    """Withhold more cells of a series, in place, until no withheld figure can be worked
    out from what is shown (complementary suppression).

    The hours of a column add up to the campaign's total, which the report shows when it
    is k or more: human 3 withheld at 10:00 and 20 shown at 11:00 beside a total of 23
    would say "3 at 10:00". So while what a column withholds adds up to between 1 and
    k - 1, its smallest shown cell is withheld too; and an hour's "all" is withheld, as in
    ``k_split``, when it would give its withheld verdicts away. Each pass withholds at
    least one more cell, so this ends.
    """
    rows = [{**hour_values, "all": sum(hour_values.values())} for hour_values in values]
    changed = True
    while changed:
        changed = False
        for column in (*VERDICTS, "all"):
            if sum(row[column] for row in rows) < k:
                continue  # the total is withheld itself
            hidden = sum(
                row[column]
                for row, split in zip(rows, splits, strict=True)
                if split[column] is None
            )
            if 0 < hidden < k:
                shown = [n for n, split in enumerate(splits) if split[column] is not None]
                splits[min(shown, key=lambda n: rows[n][column])][column] = None
                changed = True
        for row, split in zip(rows, splits, strict=True):
            shown_verdicts = sum(split[v] or 0 for v in VERDICTS)
            if split["all"] is not None and 0 < row["all"] - shown_verdicts < k:
                split["all"] = None
                changed = True


def k_split(
    values: Mapping[str, int], k: int, *, all_value: int | None = None, hide_all: bool = False
) -> Split:
    """Counts by verdict and in all, each None when it is under ``k`` (the k rule).

    "all" is withheld too when it would give the withheld figures away: if what it adds to
    the figures shown is between 1 and k - 1 (human 3 withheld, proxy 20 shown, all 23
    would say "3 humans"). What it adds being 0 only tells that the withheld figures are 0.
    """
    total = sum(values.values()) if all_value is None else all_value
    split: Split = {v: None if hide_all or n < k else n for v, n in values.items()}
    shown = sum(n for n in split.values() if n is not None)
    hidden = total - shown
    split["all"] = None if hide_all or total < k or 0 < hidden < k else total
    return split


def render_text(report: Mapping[str, Any]) -> str:
    k = report["k"]
    lines = [
        f"Campaign {report['campaign']}: audience {report['audience']},"
        f" figures below {k} that include non-consenting recipients show as '< {k}'",
        "",
        f"{'':34}{'human':>9}{'proxy':>9}{'machine':>9}{'all':>9}",
    ]
    lines += _render_figures("Opens", report["opens"], k)
    if report["breakdown_suppressed"]:
        lines += ["", f"Per-link figures are withheld: the audience is below {k}."]
    for link in report["links"]:
        lines += ["", f"Clicks on {link['url']}"]
        lines += _render_figures("", link["clicks"], k)
    error = report["unique_estimate_error"] * 100
    lines += ["", f"Estimated uniques are HyperLogLog estimates (standard error {error:.1f} %)."]
    return "\n".join(lines)


def _render_figures(title: str, figures: Mapping[str, Split], k: int) -> list[str]:
    labels = {
        "total": "events",
        "unique_estimate": "unique (estimated, everyone)",
        "unique_consenting": "unique (exact, consenting)",
    }
    rows = [title] if title else []
    for key, label in labels.items():
        cells = "".join(f"{_cell(figures[key][c], k):>9}" for c in (*VERDICTS, "all"))
        rows.append(f"  {label:32}{cells}")
    return rows


def _cell(value: int | None, k: int) -> str:
    return f"< {k}" if value is None else str(value)
