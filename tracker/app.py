"""The ASGI application: routes, lifespan and error handling in one place."""

import asyncio
import contextlib
import gc
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from consent.cache import ConsentCache
from consent.page import ConsentPage, record_consent, serve_stylesheet, show_consent_page
from tracker.api import api_routes
from tracker.classify import Classifier
from tracker.database import create_pool
from tracker.health import check_health, check_readiness
from tracker.hotpath import PlainEndpoint, TrackerApp
from tracker.linkcache import LinkCache
from tracker.mailing import HONEYPOT_PATH
from tracker.maintenance import Maintenance
from tracker.metrics import Metrics, serve_metrics
from tracker.migrations import default_sql_dir
from tracker.pixel import serve_pixel
from tracker.recorder import Recorder
from tracker.redirect import follow_link, not_found_page, serve_nothing_here
from tracker.reportpage import show_report_page
from tracker.runtime import Runtime
from tracker.settings import Settings
from tracker.spool import Spool
from tracker.tracking import Tracking
from tracker.webhooks import Deliverer, delivery_policy

__all__ = ["WORKER_DSN_VARIABLE", "app_from_environ", "create_app"]

WORKER_DSN_VARIABLE = "TRACKER_WORKER_DATABASE_URL"

_logger = logging.getLogger("tracker.app")
_PRELOAD_CAMPAIGNS = 1_000


def create_app(runtime: Runtime, dsn: str, *, sql_dir: Path | None = None) -> Starlette:
    settings = runtime.settings

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        pool = await create_pool(dsn, min_size=2, max_size=10)
        # The recorder's own connection: it runs only the group function and consent
        # reads, so it skips the session reset (a second round trip for every group).
        writer_pool = await create_pool(dsn, min_size=1, max_size=1, reset_sessions=False)
        cache = ConsentCache(settings.consent_cache_size)
        listening = asyncio.Event()
        listener = asyncio.get_running_loop().create_task(cache.listen(dsn, listening))
        classifier = Classifier.from_settings(settings)
        metrics = Metrics()
        recorder = Recorder(
            writer_pool,
            cache,
            runtime.hasher,
            spool=Spool(settings.data_dir / "spool"),
            max_batch=settings.writer_max_batch,
            take_remarks=classifier.take_remarks,
            metrics=metrics,
            webhook_hold_seconds=settings.webhook_hold_seconds,
        )
        recorder.start()
        maintenance = asyncio.get_running_loop().create_task(
            Maintenance(pool, k=settings.k_threshold).run_forever()
        )
        deliverer = Deliverer(pool, runtime.directory.vault, delivery_policy(settings))
        delivering = asyncio.get_running_loop().create_task(
            deliverer.run_forever()
            if settings.webhook_delivery == "inline"
            else asyncio.Event().wait()  # another process delivers (tracker webhook deliver)
        )
        links = LinkCache(pool, settings.link_cache_size)
        await links.preload(_PRELOAD_CAMPAIGNS)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(listening.wait(), 5)
        app.state.pool = pool
        app.state.runtime = runtime
        app.state.directory = runtime.directory
        app.state.links = links
        app.state.sql_dir = sql_dir or default_sql_dir()
        app.state.tracking = Tracking(
            runtime.signer, classifier, cache, recorder, settings.trusted_proxies, metrics
        )
        app.state.metrics = metrics
        app.state.deliverer = deliverer
        _register_gauges(metrics, recorder, cache, links)
        app.state.consent_page = ConsentPage(
            pool=pool,
            signer=runtime.signer,
            classifier=classifier,
            form_key=runtime.secrets.derived_key("consent-form-v1"),
            evidence_key=runtime.secrets.derived_key("consent-evidence-v1"),
            min_seconds=settings.consent_min_seconds,
            trusted_proxies=settings.trusted_proxies,
        )
        # What exists now (modules, templates, preloaded links) lives as long as the
        # process: keep it out of the collector's full passes, which pause every request.
        gc.collect()
        gc.freeze()
        tune_garbage_collector(settings.gc_young_threshold)
        try:
            yield
        finally:
            await recorder.close()
            background = (listener, maintenance, delivering)
            for task in background:
                task.cancel()
            # A task stopped in the middle of a statement may fail on the way out (its
            # connection is still busy with the cancelled one); nothing is lost by that.
            for outcome in await asyncio.gather(*background, return_exceptions=True):
                if isinstance(outcome, Exception):
                    _logger.warning("a background task stopped with %r", outcome)
            await deliverer.close()
            await writer_pool.close()
            await pool.close()

    app = TrackerApp(
        routes=[
            Route("/o/{token}", PlainEndpoint(serve_pixel), methods=["GET", "HEAD"]),
            Route("/c/{token}", PlainEndpoint(follow_link), methods=["GET", "HEAD"]),
            Route("/consent/{token}", show_consent_page, methods=["GET", "HEAD"]),
            Route("/consent/{token}", record_consent, methods=["POST"]),
            Route("/consent-assets/{name}", serve_stylesheet),
            Route("/reports/{token}", show_report_page),
            Route(HONEYPOT_PATH, serve_nothing_here, methods=["GET", "HEAD"]),
            *api_routes(),
            Route("/healthz", check_health),
            Route("/metrics", serve_metrics),
            Route("/readyz", check_readiness),
        ],
        exception_handlers={HTTPException: _http_error, Exception: _server_error},
        lifespan=lifespan,
    )
    app.fast_paths = {"/o/": serve_pixel, "/c/": follow_link}
    # No redirects of our own making: "/x/" is not "/x" here (a 404, not a 307 to it).
    app.router.redirect_slashes = False
    return app


def tune_garbage_collector(young_threshold: int) -> None:
    """Collect the youngest objects after ``young_threshold`` net allocations (Python: 700).

    At 700 that is every few dozen requests, and each collection walks the objects of every
    request in flight, all waiting for their group commit: 6 to 12 µs of CPU per request in
    the pixel benchmark (the bare app: under 0.1 µs), in pauses of about 1.5 ms. At 10,000
    it cost 1 to 2 µs, but the count is net of objects freed, old ones included, so what a
    collection walks is not bounded by it: single pauses of 20 to 74 ms were seen, and a
    pause that long queues hundreds of requests (p99 at half rate: 191 ms). So Python's
    default stays; ``TRACKER_GC_YOUNG_THRESHOLD`` is there for an operator who measures
    otherwise (``tracker_gc_pause_seconds``).
    """
    gc.set_threshold(young_threshold, *gc.get_threshold()[1:])


def _register_gauges(
    metrics: Metrics, recorder: Recorder, cache: ConsentCache, links: LinkCache
) -> None:
    metrics.gauge(
        "tracker_spool_depth",
        "Groups waiting in this process's spool",
        lambda: recorder.spool_depth,
    )
    metrics.gauge(
        "tracker_degraded", "1 while PostgreSQL cannot be reached", lambda: float(recorder.degraded)
    )
    metrics.gauge("tracker_consent_cache_entries", "Consent states cached", lambda: len(cache))
    metrics.gauge(
        "tracker_consent_cache_hits", "Consent cache hits since start", lambda: cache.hits
    )
    metrics.gauge(
        "tracker_consent_cache_misses", "Consent cache misses since start", lambda: cache.misses
    )
    metrics.gauge("tracker_link_cache_entries", "Link targets cached", lambda: len(links))


def app_from_environ() -> Starlette:
    """Factory for uvicorn workers; ``tracker serve --workers N`` sets the database address."""
    settings = Settings.from_environ()
    return create_app(Runtime.from_settings(settings), os.environ[WORKER_DSN_VARIABLE])


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return not_found_page()
    return PlainTextResponse(exc.detail, status_code=exc.status_code)


async def _server_error(request: Request, exc: Exception) -> Response:
    _logger.error(
        "unhandled %s on /%s", exc.__class__.__name__, request.url.path.split("/")[1], exc_info=exc
    )
    return PlainTextResponse("Internal Server Error", status_code=500)
