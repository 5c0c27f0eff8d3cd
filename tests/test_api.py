"""The JSON API against its OpenAPI document, and a scripted scenario through the client."""

from typing import Any

import asyncpg
import httpx
import jsonschema
import pytest
from openapi_spec_validator import validate
from starlette.applications import Starlette
from starlette.routing import Route

from tests.factories import make_campaign, person
from tracker.client import ApiError, TrackerClient
from tracker.openapi import DOCUMENT
from tracker.runtime import Runtime

NEWSLETTER = (
    '<html><body><p>Hello &amp; welcome</p><a href="https://example.org/offer?a=1&amp;b=2">'
    'Offer</a> <a href="mailto:info@example.org">mail us</a></body></html>'
)


def _api_routes(app: Starlette) -> set[tuple[str, str]]:
    return {
        (route.path, method.lower())
        for route in app.routes
        if isinstance(route, Route)
        and route.path.startswith("/api/v1/")
        and route.path != "/api/v1/openapi.json"
        for method in (route.methods or set()) - {"HEAD"}
    }


async def test_the_openapi_document_is_valid_and_matches_the_routes(app: Starlette) -> None:
    validate(DOCUMENT)
    documented = {(path, method) for path, item in DOCUMENT["paths"].items() for method in item}
    assert documented == _api_routes(app)


def _check(response: httpx.Response, path: str, method: str) -> None:
    operation = DOCUMENT["paths"][path][method]
    documented = operation["responses"].get(str(response.status_code))
    assert documented is not None, (path, method, response.status_code, response.text)
    content = documented.get("content", {})
    if "application/json" in content and response.headers["content-type"].startswith(
        "application/json"
    ):
        schema = {**content["application/json"]["schema"], "components": DOCUMENT["components"]}
        jsonschema.validate(response.json(), schema)


async def test_every_documented_operation_answers_as_documented(
    conn: asyncpg.Connection, client: httpx.AsyncClient
) -> None:
    scenario = await make_campaign(conn)
    mailer = {"authorization": f"Bearer {scenario.tokens['mailer']}"}
    dpo = {"authorization": f"Bearer {scenario.tokens['dpo']}"}
    created = await client.post(
        "/api/v1/campaigns",
        headers=mailer,
        json={"name": "API", "links": ["https://example.org/a"]},
    )
    _check(created, "/api/v1/campaigns", "post")
    campaign = created.json()["campaign"]
    examples: dict[str, dict[str, Any]] = {
        "createCampaign": {"json": {"name": "Another", "links": []}},
        "registerLinks": {"json": {"links": ["https://example.org/b"]}},
        "mint": {"json": {"recipient": "ada@example.org"}},
        "mintBatch": {"json": {"recipients": ["a@example.org", "b@example.org"]}},
        "rewrite": {"json": {"recipient": "ada@example.org", "html": NEWSLETTER, "lang": "de"}},
        "importConsents": {
            "json": {
                "consents": [
                    {
                        "email": "imp@example.org",
                        "granted_at": "2026-01-01T00:00:00Z",
                        "evidence": "double opt-in",
                    }
                ]
            }
        },
        "dpoAccess": {"json": {"email": "ada@example.org"}},
        "dpoErase": {"json": {"email": "b@example.org"}},
        "addWebhook": {"json": {"url": "https://crm.example.org/hook"}},
        "replayWebhook": {"json": {"since": "2026-01-01T00:00:00Z"}},
    }
    hook = await client.post(
        "/api/v1/webhooks", headers=mailer, json={"url": "https://crm.example.org/other"}
    )
    webhook = hook.json()["webhook"]
    order = sorted(
        ((path, method) for path, item in DOCUMENT["paths"].items() for method in item),
        key=lambda pm: (
            DOCUMENT["paths"][pm[0]][pm[1]]["operationId"] in ("dpoErase", "removeWebhook")
        ),
    )
    for path, method in order:
        operation = DOCUMENT["paths"][path][method]
        url = path.replace("{campaign}", campaign).replace("{webhook}", webhook)
        scopes = {scope for entry in operation["security"] for scope in entry["bearer"]}
        token = mailer if "mailer" in scopes else dpo
        options = examples.get(operation["operationId"], {})
        response = await client.request(method, url, headers=token, **options)
        assert response.status_code < 400, (path, method, response.text)
        _check(response, path, method)
        unauthenticated = await client.request(method, url, **options)
        assert unauthenticated.status_code == 401
        _check(unauthenticated, path, method)
        if scopes == {"mailer"} or scopes == {"dpo"}:
            wrong = dpo if scopes == {"mailer"} else mailer
            refused = await client.request(method, url, headers=wrong, **options)
            assert refused.status_code == 403, (path, method)
            _check(refused, path, method)


async def test_bad_json_and_bad_fields_get_a_422_naming_the_field(
    conn: asyncpg.Connection, client: httpx.AsyncClient
) -> None:
    scenario = await make_campaign(conn)
    mailer = {"authorization": f"Bearer {scenario.tokens['mailer']}"}
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("/api/v1/campaigns", {"content": b"{nope"}, "body"),
        ("/api/v1/campaigns", {"json": {"links": []}}, "name"),
        ("/api/v1/campaigns", {"json": {"name": "x", "links": "https://a"}}, "links"),
        ("/api/v1/campaigns", {"json": {"name": "x", "links": ["ftp://a"]}}, "links"),
    ]
    for path, options, field in cases:
        response = await client.post(path, headers=mailer, **options)
        assert response.status_code == 422, response.text
        assert response.json()["field"] == field
    other = await client.get("/api/v1/campaigns/cmp_0000000000001", headers=mailer)
    assert other.status_code == 404


async def test_a_scripted_campaign_through_the_client_reports_the_known_counts(
    conn: asyncpg.Connection, runtime: Runtime, app: Starlette, client: httpx.AsyncClient
) -> None:
    scenario = await make_campaign(conn)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 4000))
    async with TrackerClient(
        "http://t.test", scenario.tokens["mailer"], transport=transport
    ) as api:
        created = await api.create_campaign("Scripted", ["https://example.org/offer"])
        campaign = created["campaign"]
        recipients = [f"r{n}@example.org" for n in range(12)]
        minted = await api.mint_batch(campaign, recipients)
        assert len(minted) == 12 and not any(item["named"] for item in minted)
        for n, item in enumerate(minted[:8]):
            await client.get(item["pixel"].removeprefix("http://tracker.test"), headers=person(n))
        for n, item in enumerate(minted[:6]):
            link = item["links"]["https://example.org/offer"]
            await client.get(link.removeprefix("http://tracker.test"), headers=person(n))
        await client.head(minted[0]["pixel"].removeprefix("http://tracker.test"))
        report = await api.report(campaign)
        # Estimates (HyperLogLog): exact at this size unless two of the random per-mail
        # nonces share one of the 4,096 registers (about 1.6 % of runs for twelve).
        assert 10 <= report["audience"] <= 12
        # The HEAD request is a machine's open: 9 in all would give that 1 away.
        assert report["opens"]["total"] == {"human": 8, "proxy": None, "machine": None, "all": None}
        assert 6 <= report["opens"]["unique_estimate"]["human"] <= 8
        assert report["links"][0]["clicks"]["total"]["human"] == 6
        assert report["opens"]["unique_consenting"]["all"] == 0
        assert len(report["hourly"]) == 1 and report["hourly"][0]["opens"]["human"] == 8

        for n in range(3):
            await api.create_campaign(f"Page {n}")
        names = [c["name"] async for c in api.campaigns(page_size=2)]
        assert names[:4] == ["Page 2", "Page 1", "Page 0", "Scripted"]
        assert len(names) == 5  # and the scenario's campaign

        with pytest.raises(ApiError) as refused:
            await api.mint(campaign, "not-an-address")
        assert (refused.value.status, refused.value.field) == (422, "recipient")
