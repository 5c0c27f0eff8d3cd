"""What webhook delivery costs the pixel path, delivered by the server or apart from it.

Serves pixels of consenting recipients (the only ones webhooks are for) with a webhook
registered for every human open, so that every answered request also means one delivery;
the worst case. Three runs: no webhook; delivery inside the server (the default,
``TRACKER_WEBHOOK_DELIVERY=inline``); delivery by ``tracker webhook deliver`` in a process
of its own (``TRACKER_WEBHOOK_DELIVERY=off`` for the server). For each: the pixel rate,
the server process's CPU time per request (the figure a shared machine does not distort:
the deliverer, the receiver and PostgreSQL compete for the same cores as the server here)
and how many webhooks arrived meanwhile.

    .venv/bin/python -m tests.bench.bench_webhooks [--seconds 10]
"""

import argparse

from tests.bench.pixel_rate import measure_pixel_rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    runs = {
        "no webhook": measure_pixel_rate(args.seconds, consenting=True),
        "delivered by the server": measure_pixel_rate(args.seconds, consenting=True, webhooks=True),
        "delivered apart": measure_pixel_rate(
            args.seconds, consenting=True, webhooks=True, separate_delivery=True
        ),
    }
    print("pixels of consenting recipients, every human open also a webhook, one worker:")
    for label, run in runs.items():
        print(
            f"  {label:24} {run.rate:7,.0f} requests/s, {run.server_cpu_us:5.0f} µs server CPU"
            f" per request, {run.delivered:7,} webhooks delivered meanwhile"
        )


if __name__ == "__main__":
    main()
