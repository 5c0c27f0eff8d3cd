"""What classifying a request costs, per request, in the cases the pixel path meets.

Times ``Classifier.classify`` on a mix of real user agents (the evaluation set) from a few
thousand addresses, with the campaign and message known (so the burst, multi-link and
honeypot rules run), in three cases: every user agent new (no cache hit), every one seen
before (the usual case: a few hundred agents make most requests), and Apple MPP fetches
from Private Relay. Compare with the time the server needs to serve one pixel.

    .venv/bin/python -m tests.bench.bench_classify [--requests 200000]
"""

import argparse
import json
import random
import time
from collections.abc import Callable
from pathlib import Path

from tracker.classify import Classifier, RequestFacts, Thresholds
from tracker.useragents import UserAgents

DATA = Path(__file__).resolve().parent.parent / "data" / "classify"


def agents() -> list[str]:
    lines = (DATA / "useragents.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line)[2] for line in lines]


def requests(count: int, uas: list[str], ips: list[str]) -> list[RequestFacts]:
    rng = random.Random(7)
    return [
        RequestFacts(
            ua=rng.choice(uas),
            ip=rng.choice(ips),
            method="GET",
            kind="open" if n % 4 else "click",
            seconds_since_send=rng.uniform(0, 86_400),
            headers={},
            campaign=n % 20,
            subject=rng.getrandbits(64),
            link=n % 5,
            at=1_800_000_000 + n * 0.001,
        )
        for n in range(count)
    ]


def per_request(run: Callable[[], int]) -> float:
    start = time.perf_counter()
    count = run()
    return (time.perf_counter() - start) / count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument(
        "--pixel", action="store_true", help="also serve pixels from a real server, to compare"
    )
    args = parser.parse_args()
    count = args.requests
    uas = agents()
    rng = random.Random(1)
    ips = [f"198.51.{rng.randrange(256)}.{rng.randrange(1, 255)}" for _ in range(5_000)]
    relay = json.loads((DATA / "private-relay-addresses.json").read_text())["inside"]
    thresholds = Thresholds(too_fast_seconds=5.0)

    def classify_all(classifier: Classifier, batch: list[RequestFacts]) -> int:
        for facts in batch:
            classifier.classify(facts)
        return len(batch)

    cold = Classifier(agents=UserAgents(cache_size=0), thresholds=thresholds)
    fresh = requests(min(count, 20_000), uas, ips)
    print(f"new user agent each time: {per_request(lambda: classify_all(cold, fresh)):6.1f} µs")

    warm = Classifier(thresholds=thresholds)
    classify_all(warm, requests(len(uas) * 3, uas, ips))  # every agent seen once
    batch = requests(count, uas, ips)
    print(f"user agent seen before:   {per_request(lambda: classify_all(warm, batch)):6.1f} µs")

    mpp = [
        RequestFacts("Mozilla/5.0", rng.choice(relay), "GET", "open", 30.0, {}, 1, n, None, n)
        for n in range(count)
    ]
    print(f"Apple MPP fetch:          {per_request(lambda: classify_all(warm, mpp)):6.1f} µs")
    if args.pixel:
        from tests.bench.pixel_rate import measure_pixel_rate

        rate = measure_pixel_rate().rate
        print(
            f"serving one pixel (one worker, end to end): {1e6 / rate:6.0f} µs"
            f" ({rate:,.0f} requests/s)"
        )


if __name__ == "__main__":
    main()
