"""Executing a chunk of billing runs together (SPEC §6.3 "Chunks", DESIGN "Scale").

One short transaction claims the chunk's runs; :func:`billrun.billing.persist.persist_claimed` then computes
and writes them all in one transaction: it loads every schedule (one query per table), finds which metric
windows and seat timelines each invoice will read (a rating-only recording pass,
:func:`billrun.domain.invoice.read_inputs`), fetches them with one aggregation query per metric and one seat
query for the whole chunk, computes every invoice, and writes them with one COPY per table. If that
transaction fails, each run is executed again as a chunk of one, so a bad run fails alone.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Sequence

import structlog

from billrun.billing.clock import real_now
from billrun.billing.execution import execute_run
from billrun.billing.persist import Outcome, persist_claimed
from billrun.config import get_settings
from billrun.domain.statuses import ExecutionStatus
from billrun.store import runs as run_repo
from billrun.store import stats
from billrun.store.db import connection_lost, unit_of_work

log = structlog.get_logger(__name__)


def execute_chunk(
    run_ids: Sequence[uuid.UUID], trigger: str | None = None, token: uuid.UUID | None = None
) -> list[Outcome]:
    """Execute a chunk of runs exactly once (SPEC §6.3 "Chunks"): one short transaction claims them all, one
    transaction computes and persists them all. If that transaction fails (a safety bound, a bad input, a
    deadlock), the claimed runs are executed again one per transaction, so one bad run never fails the
    others; each keeps its claim token, so nobody else can have taken them in between.

    ``token``: the claim token to use; the same task retried passes the same one, and takes back the runs it
    had claimed before a database blip. A lost connection is raised, for the task to retry in seconds."""
    started = time.perf_counter()
    now = real_now()
    token = token or uuid.uuid4()
    with unit_of_work() as session:
        claimed = run_repo.claim_many(session, run_ids, token, now, dt.timedelta(seconds=get_settings().lease_seconds))
    outcomes = {run_id: Outcome(run_id, ExecutionStatus.SKIPPED) for run_id in run_ids}
    if claimed:
        try:
            outcomes.update(persist_claimed(claimed, token, trigger))
        except Exception as exc:
            if connection_lost(exc):
                raise
            log.warning(
                "chunk failed as one transaction; executing its runs one by one", size=len(claimed), error=str(exc)
            )
            for run_id in claimed:
                outcomes[run_id] = execute_run(run_id, trigger=trigger, claimed_token=token)
    if any(o.invoice_id for o in outcomes.values()):
        try:
            stats.analyze_if_unanalysed(["invoices"])  # before the next chunk's foreign-key checks
        except Exception as exc:  # statistics are an optimisation: the chunk is committed whatever happens
            log.warning("could not analyse invoices", error=str(exc))
    statuses = [o.status for o in outcomes.values()]
    log.info(
        "billing chunk executed",
        chunk_size=len(run_ids),
        completed=statuses.count(ExecutionStatus.COMPLETED),
        failed=statuses.count(ExecutionStatus.FAILED),
        skipped=statuses.count(ExecutionStatus.SKIPPED),
        deferred=statuses.count(ExecutionStatus.DEFERRED),
        trigger=trigger,
        duration_ms=round((time.perf_counter() - started) * 1000, 1),
    )
    return [outcomes[run_id] for run_id in run_ids]
