"""Fuzzing (hypothesis): the token decoder and every public path, with whatever a client
can send. Nothing may answer 5xx, redirect anywhere but a registered target or this server,
record anything for a token it did not sign, or grow memory without bound."""

import dataclasses
import string
from collections.abc import AsyncIterator
from urllib.parse import quote

import asyncpg
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette

from tests.conftest import CLIENT_ADDRESS
from tests.factories import LINKS, grant, make_campaign, mint_for, path_of
from tracker.app import create_app
from tracker.runtime import Runtime
from tracker.settings import Settings
from tracker.tokens import BadToken, Kind, UrlSigner, UrlToken

FUZZ = settings(
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
TOKEN_ALPHABET = string.ascii_letters + string.digits + "-_."
ODD_TEXT = st.text(
    alphabet=st.characters(exclude_categories=["Cs"]), max_size=300
) | st.sampled_from(["", ".", "..", "%", "%FF%FE", "%00", "a" * 9000, "/", "\\", "~", "ä€😀"])


@pytest.fixture
def signer() -> UrlSigner:
    return UrlSigner((b"fuzzing-key-0123456789abcdefghijklmnopqrstuvwxyz",))


@pytest.fixture
def genuine(signer: UrlSigner) -> str:
    return signer.sign(UrlToken(Kind.CLICK, 42, 1, 1_800_000_000, 7_000_001, True))


@FUZZ
@given(text=st.text(max_size=200) | st.text(alphabet=TOKEN_ALPHABET, min_size=40, max_size=70))
def test_the_decoder_takes_any_text_and_only_ever_refuses_with_bad_token(
    signer: UrlSigner, text: str
) -> None:
    try:
        token = signer.verify(text)
    except BadToken:
        return
    assert signer.sign(token) == text  # anything accepted is exactly what was signed


@FUZZ
@given(data=st.data())
def test_an_altered_token_is_refused(signer: UrlSigner, genuine: str, data: st.DataObject) -> None:
    position = data.draw(st.integers(0, len(genuine) - 1))
    how = data.draw(st.sampled_from(["replace", "drop", "insert", "truncate", "extend"]))
    char = data.draw(st.sampled_from(TOKEN_ALPHABET + "=+/ %"))
    altered = {
        "replace": genuine[:position] + char + genuine[position + 1 :],
        "drop": genuine[:position] + genuine[position + 1 :],
        "insert": genuine[:position] + char + genuine[position:],
        "truncate": genuine[:position],
        "extend": genuine + char * (position % 5 + 1),
    }[how]
    if altered == genuine:
        return
    with pytest.raises(BadToken):
        signer.verify(altered)


@FUZZ
@given(
    campaign=st.integers(0, 2**63 - 1),
    link=st.integers(0, 2**16 - 1),
    subject=st.integers(0, 2**63 - 1),
)
def test_a_token_signed_with_another_key_is_refused(
    signer: UrlSigner, campaign: int, link: int, subject: int
) -> None:
    stranger = UrlSigner((b"a-different-servers-key-0123456789abcdefghijkl",))
    forged = stranger.sign(UrlToken(Kind.OPEN, campaign, link, 1_800_000_000, subject, True))
    with pytest.raises(BadToken):
        signer.verify(forged)


@dataclasses.dataclass
class Target:
    client: httpx.AsyncClient
    conn: asyncpg.Connection
    pixel: str
    links: dict[str, str]  # tracked path -> registered target


@pytest.fixture
async def target(
    conn: asyncpg.Connection, runtime: Runtime, client: httpx.AsyncClient
) -> AsyncIterator[Target]:
    scenario = await make_campaign(conn)
    await grant(conn, runtime, scenario, "fuzz@example.org")
    urls = await mint_for(conn, runtime, scenario, "fuzz@example.org")
    links = {path_of(tracked): url for url, tracked in urls.links.items()}
    yield Target(client, conn, path_of(urls.pixel), links)


def _assert_answer_is_safe(response: httpx.Response, registered: set[str]) -> None:
    assert response.status_code < 500, (response.request.url, response.text[:200])
    if 300 <= response.status_code < 400:
        location = response.headers["location"]
        # A registered target, or the consent page after a valid form (never reached here).
        assert location in registered or location.startswith("/consent/"), location


PATHS = [
    "/o/{}",
    "/o/{}.gif",
    "/c/{}",
    "/consent/{}",
    "/consent-assets/{}",
    "/reports/{}",
    "/nothing-here",
    "/healthz",
    "/readyz",
    "/api/v1/openapi.json",
    "/api/v1/campaigns/{}",
    "/api/v1/campaigns/{}/report",
    "/api/v1/dpo/{}",
    "/api/v1/webhooks/{}/deliveries",
    "/{}",
]
HEADER_VALUES = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF, blacklist_characters="\x7f"),
    max_size=2000,
)


@pytest.mark.anyio
@settings(FUZZ, max_examples=300)
@given(
    template=st.sampled_from(PATHS),
    segment=ODD_TEXT,
    method=st.sampled_from(["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS"]),
    query=st.dictionaries(st.text(max_size=20), st.text(max_size=50), max_size=3),
    user_agent=HEADER_VALUES,
    forwarded=HEADER_VALUES | st.ip_addresses().map(str),
    authorization=st.sampled_from(["", "Bearer ", "Bearer x", "Basic Zm9vOmJhcg=="])
    | HEADER_VALUES,
    body=st.binary(max_size=2000),
    content_type=st.sampled_from(
        ["application/json", "application/x-www-form-urlencoded", "multipart/form-data", "a/b"]
    ),
)
async def test_no_public_path_answers_5xx_or_redirects_elsewhere(
    target: Target,
    template: str,
    segment: str,
    method: str,
    query: dict[str, str],
    user_agent: str,
    forwarded: str,
    authorization: str,
    body: bytes,
    content_type: str,
) -> None:
    path = template.format(quote(segment, safe=""))
    headers = {
        "user-agent": user_agent,
        "x-forwarded-for": forwarded,
        "authorization": authorization,
        "content-type": content_type,
    }
    response = await target.client.request(
        method,
        path,
        params=query,
        headers=[(k.encode(), v.encode("latin-1")) for k, v in headers.items()],
        content=body if method in ("POST", "PUT") else None,
    )
    _assert_answer_is_safe(response, set(target.links.values()))


@pytest.mark.anyio
@settings(FUZZ, max_examples=200)
@given(data=st.data())
async def test_a_mutated_genuine_token_is_never_followed_nor_counted(
    target: Target, data: st.DataObject
) -> None:
    counted_before = await target.conn.fetchval(
        "SELECT (SELECT count(*) FROM events) + (SELECT coalesce(sum(events), 0) FROM counters)"
    )
    path = data.draw(st.sampled_from([target.pixel, *target.links]))
    prefix, token = path[:3], path[3:]
    position = data.draw(st.integers(0, len(token) - 1))
    char = data.draw(st.sampled_from(TOKEN_ALPHABET + "%~!"))
    mutated = data.draw(
        st.sampled_from(
            [
                token[:position] + char + token[position + 1 :],
                token[:position] + token[position + 1 :],
                token[:position] + char + token[position:],
            ]
        )
    )
    if mutated in (token, token.removesuffix(".gif")):
        return
    response = await target.client.get(prefix + quote(mutated, safe=".-_~"))
    _assert_answer_is_safe(response, set())  # a mutated token redirects nowhere at all
    assert response.status_code in (200, 404)
    if response.status_code == 200:
        assert response.content.startswith(b"GIF89a")
    counted_after = await target.conn.fetchval(
        "SELECT (SELECT count(*) FROM events) + (SELECT coalesce(sum(events), 0) FROM counters)"
    )
    assert counted_after == counted_before


async def test_the_genuine_links_still_work_after_all_that(target: Target) -> None:
    """The fuzzing above is only meaningful if the same set-up does redirect and count."""
    for path, url in target.links.items():
        response = await target.client.get(path)
        assert response.status_code == 302 and response.headers["location"] == url
    response = await target.client.get(target.pixel)
    assert response.status_code == 200
    assert await target.conn.fetchval("SELECT count(*) FROM events") == len(LINKS) + 1


async def test_memory_stays_within_the_configured_bounds_under_endless_variety(
    conn: asyncpg.Connection, runtime: Runtime, settings: Settings, dsn: str
) -> None:
    small = dataclasses.replace(settings, classifier_memory=100, link_cache_size=10)
    app: Starlette = create_app(Runtime.from_settings(small), dsn)
    scenario = await make_campaign(conn)
    mails = [await mint_for(conn, runtime, scenario, f"m{n}@example.org") for n in range(40)]
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=CLIENT_ADDRESS)
        async with httpx.AsyncClient(transport=transport, base_url="http://t.test") as client:
            for n in range(1500):
                mail = mails[n % len(mails)]
                path = path_of(mail.pixel) if n % 2 else path_of(next(iter(mail.links.values())))
                headers = {
                    "user-agent": f"Agent/{n} (fuzz; {n * 7919})",
                    "x-forwarded-for": f"198.{n % 250}.{n // 250 % 250}.{n % 200 + 1}",
                }
                response = await client.get(path, headers=headers)
                assert response.status_code in (200, 302)
                bogus = await client.get(f"/o/{n:064x}.gif", headers=headers)
                assert bogus.status_code == 200
        classifier = app.state.tracking.classifier
        behaviour = classifier.behaviour
        for table in (behaviour._bursts, behaviour._clicks, behaviour._honeypots):
            assert len(table) <= 100
        assert classifier.agents.kind_of.cache_info().currsize <= 8192
        assert len(app.state.links) <= 10
        assert app.state.tracking.bad_tokens == 1500
