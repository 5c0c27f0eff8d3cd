"""The campaign report as a web page, for whoever holds a mailer token.

Browsers cannot send a bearer token on a plain navigation, so the API hands a mailer a
signed link that is valid for an hour (``POST /api/v1/campaigns/{id}/report-link``, or
``tracker report --campaign C --link``). The page has no scripts: figures, an SVG chart of
human, proxy and machine opens and clicks per hour, and the same figures as a table.
"""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import jinja2
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from aggregates.chart import render_chart
from aggregates.report import VERDICTS, build_report
from consent.page import PAGE_HEADERS
from tracker import db
from tracker.ids import format_id
from tracker.redirect import not_found_page
from tracker.runtime import Runtime

__all__ = ["LINK_LIFETIME", "report_link", "show_report_page"]

LINK_LIFETIME = timedelta(hours=1)
_TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)


def _serializer(runtime: Runtime) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(runtime.secrets.derived_key("report-link-v1"), salt="report-page")


def report_link(runtime: Runtime, campaign_id: int) -> tuple[str, datetime]:
    token = _serializer(runtime).dumps(campaign_id)
    expires = datetime.now(UTC) + LINK_LIFETIME
    return f"{runtime.settings.base_url}/reports/{token}", expires


async def show_report_page(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    try:
        campaign_id = _serializer(runtime).loads(
            request.path_params["token"], max_age=int(LINK_LIFETIME.total_seconds())
        )
    except (SignatureExpired, BadSignature):
        return not_found_page()
    pool: asyncpg.Pool = request.app.state.pool
    async with pool.acquire() as conn:
        campaign = await db.fetch_campaign(conn, int(campaign_id))
        if campaign is None:
            return not_found_page()
        links = [(link.link_no, link.url) for link in await db.fetch_links(conn, campaign.id)]
        report = await build_report(
            conn,
            campaign_id=campaign.id,
            campaign_label=format_id("cmp", campaign.id),
            links=links,
            k=runtime.settings.k_threshold,
        )
    k = report["k"]
    html = _TEMPLATES.get_template("report.html").render(
        name=campaign.name,
        report=report,
        k=k,
        verdicts=VERDICTS,
        opens_chart=render_chart(report["hourly"], "opens", k, "Opens per hour"),
        clicks_chart=render_chart(report["hourly"], "clicks", k, "Clicks per hour"),
        cell=lambda value: f"< {k}" if value is None else str(value),
        error=f"{report['unique_estimate_error'] * 100:.1f}",
    )
    return HTMLResponse(html, headers=PAGE_HEADERS)
