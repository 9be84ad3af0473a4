"""Benchmarks: ``python -m bench ingest --events N``, ``python -m bench billing ...``,
``python -m bench chunks ...``, ``python -m bench webhooks --events N``,
``python -m bench documents --invoices N`` and ``python -m bench backtest --schedules N --months M`` (see the
README's Performance section).

They run on BILLRUN_DATABASE_URL / BILLRUN_BROKER_URL when set, else on the embedded servers, which they
start and stop themselves. They are never part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from billrun.config import get_settings
from billrun.embedded import embedded_services

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    sub = parser.add_subparsers(dest="bench", required=True)
    ingest = sub.add_parser("ingest", help="batch ingestion path vs a raw COPY of the same rows")
    ingest.add_argument("--events", type=int, default=1_000_000)
    ingest.add_argument(
        "--ingest-preload",
        type=int,
        default=0,
        metavar="N",
        help="events already in the table before the measured ingest",
    )
    billing = sub.add_parser("billing", help="a month's billing runs through real workers vs the SQL floor")
    billing.add_argument("--schedules", type=int, default=100_000)
    billing.add_argument("--events", type=int, default=10_000_000)
    billing.add_argument("--workers", type=int, default=1, choices=[1, 2])
    billing.add_argument("--quick", action="store_true", help="2,000 schedules and 200,000 events")
    chunks = sub.add_parser("chunks", help="the chunk path in-process, timed stage by stage (no Celery)")
    chunks.add_argument("--schedules", type=int, default=2_000)
    chunks.add_argument("--profile", action="store_true", help="also print cProfile's top functions")
    chunks.add_argument("--webhook-endpoint", action="store_true", help="one endpoint subscribed to every event")
    chunks.add_argument(
        "--webhook-ab", action="store_true", help="the endpoint subscribed for every other chunk: the cost, paired"
    )
    billing.add_argument("--webhook-endpoint", action="store_true", help="one endpoint subscribed to every event")
    billing.add_argument(
        "--deliver-during",
        action="store_true",
        help="with --webhook-endpoint: run the delivery worker during the run (default: after it, timed apart)",
    )
    hooks = sub.add_parser("webhooks", help="webhook deliveries per second by one worker process")
    hooks.add_argument("--events", type=int, default=20_000)
    documents = sub.add_parser("documents", help="invoices rendered to PDF (read, HTML, PDF), one and two processes")
    documents.add_argument("--invoices", type=int, default=1_000)
    backtest = sub.add_parser("backtest", help="a pricing backtest through a real worker: time and peak memory")
    backtest.add_argument("--schedules", type=int, default=20_000)
    backtest.add_argument("--months", type=int, default=12)
    args = parser.parse_args(argv)
    with embedded_services(get_settings().data_dir):
        if args.bench == "ingest":
            from bench.ingest import main as run_ingest

            result = run_ingest(args.events, args.ingest_preload)
            RESULTS.mkdir(exist_ok=True)
            suffix = f"-preload-{args.ingest_preload}" if args.ingest_preload else ""
            (RESULTS / f"ingest-{args.events}{suffix}.json").write_text(json.dumps(result) + "\n")
        elif args.bench == "chunks":
            from bench.chunks import main as run_chunks

            run_chunks(args.schedules, args.profile, RESULTS, args.webhook_endpoint, args.webhook_ab)
        elif args.bench == "backtest":
            from bench.backtest import main as run_backtest

            run_backtest(args.schedules, args.months, RESULTS)
        elif args.bench == "documents":
            from bench.documents import main as run_documents

            run_documents(args.invoices, RESULTS)
        elif args.bench == "webhooks":
            from bench.webhooks import main as run_webhooks

            run_webhooks(args.events, RESULTS)
        else:
            from bench.billing import main as run_billing

            schedules, events = (2_000, 200_000) if args.quick else (args.schedules, args.events)
            run_billing(schedules, events, args.workers, RESULTS, args.webhook_endpoint, args.deliver_during)
    return 0


if __name__ == "__main__":
    sys.exit(main())
