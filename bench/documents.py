"""``python -m bench documents --invoices N``: N invoices rendered to PDF, as ``GET /invoices/{id}/download``
renders each one: the document read from PostgreSQL, the HTML from the template, the PDF by WeasyPrint.

Makes one account (seller details set) with N draft invoices of 8 lines in two groups (hand-added lines, so
that making them takes seconds, not a billing run), then renders them one after the other in this process,
timing the three stages apart, and again split over two processes (one per core of the reference machine).
"""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing
import resource
import statistics
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any

LINES = [
    ("Platform", "1", "499", None),
    ("Editor seats", "12", "15", None),
    ("Editor seats (prorated)", "3", "9.6774193548", None),
    ("API calls — Tier 1", "1000", "0.10", "API"),
    ("API calls — Tier 2", "4250", "0.08", "API"),
    ("API calls — Tier 2 flat fee", "1", "25", "API"),
    ("Payment fees", "1", "13", "API"),
    ("Support", "1", "120", None),
]


def _make(invoices: int) -> tuple[uuid.UUID, list[uuid.UUID]]:
    from billrun.billing import manual_invoices
    from billrun.store.accounts import create_account, update_settings
    from billrun.store.db import unit_of_work
    from billrun.store.models import Customer

    with unit_of_work() as s:
        account = create_account(s, f"bench-documents-{uuid.uuid4().hex[:6]}", rate_limit_per_minute=0)
        update_settings(
            s,
            account.id,
            {"legal_name": "Bench Seller Ltd", "address": "2 Market Street\nCambridge CB2 3QZ", "tax_id": "GB123"},
        )
        now = dt.datetime.now(dt.UTC)
        address = {"line1": "1 Road", "town": "London", "postcode": "AB1 2EF", "country": "GB"}
        customer = Customer(account_id=account.id, legal_name="Customer Ltd", address=address, created_at=now)
        customer.updated_at = now
        s.add(customer)
        s.flush()
        account_id, customer_id = account.id, customer.id
    ids = []
    for start in range(0, invoices, 100):
        with unit_of_work() as s:
            customer = s.get(Customer, customer_id)
            assert customer is not None
            for _ in range(start, min(invoices, start + 100)):
                period = (dt.date(2024, 1, 1), dt.date(2024, 1, 31))
                invoice = manual_invoices.create_invoice(s, customer, "GBP", None, period, {})
                api = manual_invoices.add_group(s, invoice, {"title": "API", "description": None})
                platform = manual_invoices.add_group(s, invoice, {"title": "Platform", "description": None})
                for title, quantity, rate, group in LINES:
                    fields = {
                        "title": title,
                        "quantity": Decimal(quantity),
                        "rate": Decimal(rate),
                        "tax_rate": Decimal("0.2"),
                        "group_id": (api if group else platform).id,
                    }
                    manual_invoices.add_line(s, invoice, fields)
                ids.append(invoice.id)
    return account_id, ids


def _rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20


def _render(ids: list[uuid.UUID]) -> dict[str, list[float]]:
    """Each invoice read, rendered to HTML and to PDF: seconds per stage (and the process's resident memory
    before and after, in MiB)."""
    from billrun.billing import documents
    from billrun.documents.render import html_to_pdf
    from billrun.store.db import unit_of_work
    from billrun.store.models import Invoice

    times: dict[str, list[float]] = {"read": [], "html": [], "pdf": [], "bytes": [], "rss": [_rss_mib()]}
    for invoice_id in ids:
        started = time.perf_counter()
        with unit_of_work() as s:
            invoice = s.get(Invoice, invoice_id)
            assert invoice is not None
            doc = documents.invoice_document(s, invoice)
        read = time.perf_counter()
        html = documents.invoice_page(doc)
        rendered = time.perf_counter()
        pdf = html_to_pdf(html)
        done = time.perf_counter()
        times["read"].append(read - started)
        times["html"].append(rendered - read)
        times["pdf"].append(done - rendered)
        times["bytes"].append(len(pdf))
    times["rss"].append(_rss_mib())
    return times


def _ms(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "median_ms": round(statistics.median(ordered) * 1000, 2),
        "p95_ms": round(ordered[int(len(ordered) * 0.95) - 1] * 1000, 2),
    }


def main(invoices: int, results: Path) -> dict[str, Any]:
    from billrun.store import migrate

    migrate.upgrade("head")
    started = time.perf_counter()
    _, ids = _make(invoices)
    made = time.perf_counter() - started
    _render(ids[:5])  # warm: imports, fonts, the template
    started = time.perf_counter()
    times = _render(ids)
    one_process = time.perf_counter() - started
    halves = [ids[: len(ids) // 2], ids[len(ids) // 2 :]]
    started = time.perf_counter()
    # spawned, not forked: a forked child would share this process's database connections
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        list(pool.map(_render, halves))
    two_processes = time.perf_counter() - started
    result = {
        "invoices": invoices,
        "lines_per_invoice": len(LINES),
        "make_seconds": round(made, 2),
        "one_process_seconds": round(one_process, 2),
        "one_process_per_s": round(invoices / one_process, 1),
        "two_processes_seconds": round(two_processes, 2),
        "two_processes_per_s": round(invoices / two_processes, 1),
        "read": _ms(times["read"]),
        "html": _ms(times["html"]),
        "pdf": _ms(times["pdf"]),
        "pdf_kib_median": round(statistics.median(times["bytes"]) / 1024, 1),
        "rss_mib_before_after": [round(v, 1) for v in times["rss"]],
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    print(json.dumps(result))
    results.mkdir(exist_ok=True)
    (results / f"documents-{invoices}.json").write_text(json.dumps(result) + "\n")
    return result
