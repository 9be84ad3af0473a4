"""The ``billrun`` command. Thin: every subcommand calls into billrun's packages.

Unless ``BILLRUN_DATABASE_URL`` / ``BILLRUN_BROKER_URL`` are set, each command runs on embedded servers
that it starts under ``BILLRUN_DATA_DIR`` and stops before it returns.

A user error (bad argument, unknown id, unreachable server) is one ``error: ...`` line on stderr and exit
status 2 for usage errors, 1 otherwise; ``--debug`` (or ``BILLRUN_DEBUG=1``) adds the traceback.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import errno
import json
import os
import socket
import sys
import uuid
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from billrun import __version__
from billrun.config import get_settings


class UserError(Exception):
    """A failure the user can fix; printed as one ``error:`` line."""


class _Parser(argparse.ArgumentParser):
    """Usage errors as one ``error:`` line and exit status 2 (``--help`` still prints the usage)."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"error: {message} (see '{self.prog} --help')\n")
        raise SystemExit(2)


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date (YYYY-MM-DD)") from None


def _uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an id (a UUID)") from None


def _with_services(
    need_redis: bool, process: str = "cli"
) -> Callable[[Callable[[argparse.Namespace], int]], Callable[[argparse.Namespace], int]]:
    def wrap(fn: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
        def run(args: argparse.Namespace) -> int:
            from billrun import logs
            from billrun.embedded import embedded_services

            logs.configure(process)
            with embedded_services(get_settings().data_dir, need_redis=need_redis):
                return fn(args)

        run.__doc__ = fn.__doc__
        return run

    return wrap


def _print_revisions(done: str, revisions: Sequence[Any]) -> None:
    if not revisions:
        print(f"nothing {done}: the database is already at that revision")
    for r in revisions:
        print(f"{done} {r.id}: {r.title}")


@_with_services(need_redis=False)
def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from billrun.store import migrate

    _print_revisions("applied", migrate.upgrade(args.revision))
    return 0


@_with_services(need_redis=False)
def cmd_db_downgrade(args: argparse.Namespace) -> int:
    from billrun.store import migrate

    _print_revisions("reverted", migrate.downgrade(args.revision))
    return 0


@_with_services(need_redis=False)
def cmd_db_current(args: argparse.Namespace) -> int:
    from billrun.store import migrate

    revisions = migrate.history()
    at = next((r.id for r in reversed(revisions) if r.applied), None)
    pending = [r for r in revisions if not r.applied]
    print(f"{at or 'empty database'} ({'up to date' if not pending else f'{len(pending)} pending migrations'})")
    return 0


@_with_services(need_redis=False)
def cmd_db_history(args: argparse.Namespace) -> int:
    from billrun.store import migrate

    for r in migrate.history():
        print(f"{'[x]' if r.applied else '[ ]'} {r.id}: {r.title}")
    return 0


def _account_json(account: Any, keys: list[str]) -> dict[str, Any]:
    return {
        "id": str(account.id),
        "name": account.name,
        "isOperator": account.is_operator,
        "invoiceNumberPrefix": account.invoice_number_prefix,
        "paymentTermDays": account.payment_term_days,
        "autoIssueGraceSeconds": account.auto_issue_grace_seconds,
        "billingRunOffsetSeconds": account.billing_run_offset_seconds,
        "rateLimitPerMinute": account.rate_limit_per_minute,
        "legalName": account.legal_name,
        "address": account.address,
        "taxId": account.tax_id,
        "logoUrl": account.logo_url,
        "locale": account.locale,
        "paperSize": account.paper_size,
        "disabled": account.disabled_at is not None,
        "apiKeys": keys,
        "createdAt": account.created_at.isoformat() if account.created_at else None,
    }


@_with_services(need_redis=False)
def cmd_accounts_create(args: argparse.Namespace) -> int:
    from billrun.store import migrate
    from billrun.store.accounts import create_account
    from billrun.store.db import dispose_engines, unit_of_work

    migrate.upgrade("head")
    with unit_of_work() as session:
        limit = args.rate_limit if args.rate_limit is not None else get_settings().default_rate_limit_per_minute
        new = create_account(session, args.name, is_operator=args.operator, rate_limit_per_minute=limit)
    dispose_engines()
    print(json.dumps({"id": str(new.id), "apiKey": new.api_key, "apiSecret": new.api_secret}))
    return 0


def _accounts(action: Callable[[Any, argparse.Namespace], Any]) -> Callable[[argparse.Namespace], int]:
    """An account command: one transaction, its result printed as JSON (an account with its API keys); an
    unknown account id is a user error."""

    @_with_services(need_redis=False)
    def run(args: argparse.Namespace) -> int:
        from billrun.store import accounts
        from billrun.store.db import unit_of_work
        from billrun.store.models import Account

        try:
            with unit_of_work() as session:
                result = action(session, args)
                if isinstance(result, Account):  # shown with its live keys, never a secret
                    result = _account_json(result, accounts.api_keys(session, result.id))
        except accounts.UnknownAccount as exc:
            raise UserError(str(exc)) from None
        print(json.dumps(result, indent=2))
        return 0

    return run


def _list(session: Any, args: argparse.Namespace) -> Any:
    from billrun.store import accounts

    return [_account_json(a, accounts.api_keys(session, a.id)) for a in accounts.list_accounts(session)]


def _show(session: Any, args: argparse.Namespace) -> Any:
    from billrun.store import accounts

    return accounts.get_account(session, args.id)


def _update(session: Any, args: argparse.Namespace) -> Any:
    from billrun.store import accounts

    changes = {}
    for name, (kind, low, high) in accounts.SETTINGS.items():
        value = getattr(args, name)
        if value is None:
            continue
        if kind is str:
            value = _document_setting(name, value.replace("\\n", "\n").strip())
        size = len(value or "") if kind is str else value
        if not low <= size <= high:
            what = "length" if kind is str else "value"
            raise UserError(f"--{name.replace('_', '-')}: {what} must be between {low} and {high}")
        changes[name] = None if name in accounts.CLEARABLE and not value else value
    if not changes:
        raise UserError("nothing to update: give at least one setting (see 'billrun accounts update --help')")
    return accounts.update_settings(session, args.id, changes)


def _document_setting(name: str, value: str) -> str:
    """A seller setting as stored, or a UserError saying what is accepted."""
    from billrun.documents.formatting import PAPER_SIZES, known_locale

    if name == "locale" and not known_locale(value):
        raise UserError(f"--locale: {value!r} is not a locale CLDR knows (e.g. en-GB, en-US, de-DE, fr-FR)")
    if name == "paper_size":
        value = value.upper()
        if value not in PAPER_SIZES:
            raise UserError(f"--paper-size: must be one of {', '.join(PAPER_SIZES)}")
    if name == "logo_url" and value and not value.startswith(("https://", "http://", "data:image/")):
        raise UserError("--logo-url: must be an https:// or http:// URL, or a data:image/ URL")
    return value


def _rotate(session: Any, args: argparse.Namespace) -> Any:
    from billrun.billing.clock import real_now
    from billrun.store import accounts

    new = accounts.rotate_secret(session, args.id, real_now())
    return {"id": str(new.id), "apiKey": new.api_key, "apiSecret": new.api_secret}


def _disable(session: Any, args: argparse.Namespace) -> Any:
    from billrun.store import accounts

    return accounts.set_disabled(session, args.id, True)


def _enable(session: Any, args: argparse.Namespace) -> Any:
    from billrun.store import accounts

    return accounts.set_disabled(session, args.id, False)


@_with_services(need_redis=False)
def cmd_invoice_show(args: argparse.Namespace) -> int:
    """One invoice for an operator, whatever its account: JSON with its lines, its explanation, or the
    document written as HTML or PDF (``-`` for standard output)."""
    from billrun.billing import documents, explanation
    from billrun.store import invoices
    from billrun.store.db import unit_of_work
    from billrun.views.invoices import line_json, one_invoice_json

    with unit_of_work() as session:
        invoice = invoices.find(session, args.id)
        if invoice is None:
            raise UserError(f"no invoice {args.id}")
        if args.explain:
            print(json.dumps(explanation.explain_invoice(session, invoice), indent=2))
            return 0
        if not (args.html or args.pdf):
            body = one_invoice_json(session, invoice)
            body["lineItems"] = [line_json(line, invoice.currency) for line in invoices.lines_of(session, invoice.id)]
            print(json.dumps(body, indent=2))
            return 0
        doc = documents.invoice_document(session, invoice)
    target = args.html or args.pdf
    content = documents.invoice_page(doc).encode() if args.html else documents.invoice_pdf(doc)
    if target == "-":
        sys.stdout.buffer.write(content)
    else:
        try:
            Path(target).write_bytes(content)
        except OSError as exc:
            raise UserError(f"cannot write {target}: {exc.strerror}") from None
        sys.stderr.write(f"wrote {target} ({len(content):,} bytes)\n")
    return 0


def _check_port_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise UserError(f"port {port} on {host} is already in use (choose another with --port)") from None
            raise UserError(f"cannot listen on {host}:{port}: {exc.strerror}") from None


def cmd_api(args: argparse.Namespace) -> int:
    _check_port_free(args.host, args.port)
    return _serve_api(args)


@_with_services(need_redis=True, process="api")
def _serve_api(args: argparse.Namespace) -> int:
    import uvicorn

    from billrun.api.app import create_app
    from billrun.store import migrate

    migrate.upgrade("head")
    # log_config=None: uvicorn's records go through billrun.logs; access lines come from billrun's middleware
    uvicorn.run(create_app(), host=args.host, port=args.port, log_config=None, access_log=False)
    return 0


@_with_services(need_redis=True, process="worker")
def cmd_worker(args: argparse.Namespace) -> int:
    from billrun import logs
    from billrun.worker.app import celery

    app = celery()
    argv = ["worker", "--loglevel", args.loglevel or get_settings().log_level, "--concurrency", str(args.concurrency)]
    if args.pool:
        argv += ["--pool", args.pool]
    if args.queues:
        argv += ["--queues", args.queues]
    if logs.renders_json():
        argv.insert(0, "--quiet")  # Celery's banner is free text; JSON log consumers want one object per line
    app.worker_main(argv)
    return 0


@_with_services(need_redis=True, process="beat")
def cmd_beat(args: argparse.Namespace) -> int:
    from billrun.worker.app import celery

    app = celery()
    schedule_file = _writable_data_dir() / "celerybeat-schedule"
    app.start(["beat", "--loglevel", args.loglevel or get_settings().log_level, "--schedule", str(schedule_file)])
    return 0


def _writable_data_dir() -> Path:
    """Where beat keeps its schedule state: ``BILLRUN_DATA_DIR``, made absolute, which must be writable."""
    data_dir = get_settings().data_dir.resolve()
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        probe = data_dir / f".write-test-{os.getpid()}"
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise UserError(
            f"BILLRUN_DATA_DIR {data_dir} is not writable ({exc.strerror}); point it at a directory this user "
            "owns, e.g. /var/lib/billrun"
        ) from None
    return data_dir


def cmd_demo(args: argparse.Namespace) -> int:
    from billrun import logs
    from billrun.demo import run_demo

    logs.configure("cli")
    run_demo()
    return 0


@_with_services(need_redis=True)
def cmd_run(args: argparse.Namespace) -> int:
    """The manual trigger (SPEC §6.4), executed in this process with a progress bar and a summary."""
    from billrun.billing.errors import Refused
    from billrun.billing.runner import run_manual
    from billrun.store import migrate

    migrate.upgrade("head")
    try:
        summary = run_manual(args.schedule, args.date, None if args.quiet else _progress_bar)
    except Refused as exc:
        raise UserError(f"schedule {args.schedule}: {exc}") from None
    if not args.quiet:
        sys.stderr.write("\n")
    print(json.dumps(summary))
    for refusal in summary["refused"]:
        sys.stderr.write(f"error: {refusal}\n")
    return 0 if summary["failures"] == 0 and not summary["refused"] else 1


@_with_services(need_redis=False)
def cmd_webhooks_pending(args: argparse.Namespace) -> int:
    """Deliveries waiting for an attempt, per endpoint, with the oldest one's age."""
    from billrun.billing.clock import real_now
    from billrun.store import webhooks
    from billrun.store.db import unit_of_work

    with unit_of_work() as session:
        rows = webhooks.pending_by_endpoint(session)
    now = real_now()
    print(
        json.dumps(
            {
                "pending": sum(n for _, _, n, _ in rows),
                "endpoints": [
                    {
                        "accountId": str(account),
                        "endpointId": str(endpoint),
                        "pending": n,
                        "oldestSeconds": round((now - oldest).total_seconds()) if oldest else None,
                    }
                    for account, endpoint, n, oldest in rows
                ],
            },
            indent=2,
        )
    )
    return 0


@_with_services(need_redis=True)
def cmd_webhooks_retry(args: argparse.Namespace) -> int:
    """Make deliveries due now; a worker attempts them (the process enqueues the delivery task)."""
    from billrun.billing import webhook_endpoints
    from billrun.store.db import unit_of_work
    from billrun.worker.app import celery

    if not (args.delivery or args.failed or args.account or args.endpoint):
        raise UserError("nothing to retry: name deliveries, or give --failed, --account or --endpoint")
    celery()  # installs the dispatcher that enqueues the delivery task after the commit
    with unit_of_work() as session:
        count = webhook_endpoints.retry_many(
            session,
            args.delivery,
            failed_of_account=args.account,
            failed_of_endpoint=args.endpoint,
            all_failed=args.failed,
        )
    print(json.dumps({"retried": count}))
    return 0


def _progress_bar(done: int, total: int, width: int = 30, what: str = "runs") -> None:
    filled = width * done // total if total else width
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {what}")
    sys.stderr.flush()


def _replacement_arg(value: str) -> tuple[str, Any]:
    """``PRICE_ID=FILE``: the price and the JSON body of its replacement."""
    price_id, sep, path = value.partition("=")
    if not sep or not price_id or not path:
        raise argparse.ArgumentTypeError(f"{value!r} is not PRICE_ID=FILE")
    try:
        return price_id, json.loads(Path(path).read_text())
    except OSError as exc:
        raise argparse.ArgumentTypeError(f"cannot read {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"{path} is not JSON: {exc}") from None


@_with_services(need_redis=False)
def cmd_backtest(args: argparse.Namespace) -> int:
    """A pricing backtest of one account, run in this process with a progress bar: prints the monthly totals
    as JSON, and writes every row as CSV with --csv."""
    from billrun.api.backtest_input import parse_backtest
    from billrun.billing import backtests
    from billrun.domain.statuses import BacktestStatus
    from billrun.store import accounts, migrate
    from billrun.store import backtests as repo
    from billrun.store.db import unit_of_work
    from billrun.store.models import Backtest
    from billrun.validation import ValidationFailed
    from billrun.views.backtests import CSV_COLUMNS, backtest_json, row_json

    migrate.upgrade("head")
    body: dict[str, Any] = {
        "from": args.from_date.isoformat(),
        "to": args.to_date.isoformat(),
        "replacePrices": [{"priceId": price_id, "with": replacement} for price_id, replacement in args.replace],
    }
    if args.customer:
        body["customerIds"] = args.customer
    with unit_of_work() as s:
        try:
            accounts.get_account(s, args.account)
            parsed = parse_backtest(s, args.account, body)
        except accounts.UnknownAccount as exc:
            raise UserError(str(exc)) from None
        except ValidationFailed as exc:
            raise UserError("; ".join(f"{e.key or 'request'}: {e.message}" for e in exc.errors)) from None
        backtest_id = backtests.start(
            s, args.account, parsed.first, parsed.last, parsed.replacements, parsed.customers
        ).id
    backtests.run(backtest_id, None if args.quiet else lambda done, total: _progress_bar(done, total, what="schedules"))
    if not args.quiet:
        sys.stderr.write("\n")
    with unit_of_work() as s:
        backtest = s.get(Backtest, backtest_id)
        assert backtest is not None
        summary = backtest_json(backtest, repo.monthly_totals(s, backtest_id), repo.most_affected(s, backtest_id))
        if args.csv:
            with open(args.csv, "w", newline="") as out:
                writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS)
                writer.writeheader()
                writer.writerows(row_json(row) for row in repo.rows_of(s, backtest_id))
            sys.stderr.write(f"wrote {args.csv}\n")
    print(json.dumps(summary, indent=2))
    return 0 if summary["status"] == BacktestStatus.COMPLETED else 1


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="billrun", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"billrun {__version__}")
    parser.add_argument("--debug", action="store_true", help="print tracebacks of errors (also BILLRUN_DEBUG=1)")
    sub = parser.add_subparsers(dest="command", required=True)

    db = sub.add_parser("db", help="database schema management")
    dbsub = db.add_subparsers(dest="db_command", required=True)
    up = dbsub.add_parser("upgrade", help="apply migrations (default: to head) and say which")
    up.add_argument("revision", nargs="?", default="head")
    up.set_defaults(func=cmd_db_upgrade)
    down = dbsub.add_parser("downgrade", help="revert migrations to REVISION (e.g. base)")
    down.add_argument("revision")
    down.set_defaults(func=cmd_db_downgrade)
    dbsub.add_parser("current", help="the revision the database is at").set_defaults(func=cmd_db_current)
    dbsub.add_parser("history", help="every migration, [x] where applied").set_defaults(func=cmd_db_history)

    accounts = sub.add_parser("accounts", help="merchant accounts and API credentials")
    asub = accounts.add_subparsers(dest="accounts_command", required=True)
    create = asub.add_parser("create", help='create an account; prints {"id", "apiKey", "apiSecret"}')
    create.add_argument("--name", required=True)
    create.add_argument("--operator", action="store_true", help="may call operator-only endpoints")
    create.add_argument(
        "--rate-limit",
        type=int,
        default=None,
        help="requests per minute per credential (default BILLRUN_DEFAULT_RATE_LIMIT_PER_MINUTE or 100; 0 = unlimited)",
    )
    create.set_defaults(func=cmd_accounts_create)
    asub.add_parser("list", help="every account, with its settings and API keys").set_defaults(func=_accounts(_list))
    for name, action, text in (
        ("show", _show, "one account's settings and API keys"),
        ("rotate-secret", _rotate, "revoke the account's credentials; prints a new key and secret, shown once"),
        ("disable", _disable, "refuse every credential of the account (401) until enabled"),
        ("enable", _enable, "accept the account's credentials again"),
    ):
        command = asub.add_parser(name, help=text)
        command.add_argument("id", type=_uuid, help="account id")
        command.set_defaults(func=_accounts(action))
    upd = asub.add_parser("update", help="change per-account settings")
    upd.add_argument("id", type=_uuid, help="account id")
    upd.add_argument("--name", dest="name")
    upd.add_argument("--invoice-number-prefix", help="prefix of invoice numbers (default INV-)")
    upd.add_argument("--payment-term-days", type=int, help="days from issue to due date (default 30)")
    upd.add_argument("--auto-issue-grace-seconds", type=int, help="DRAFT to FINAL grace period (default 3600)")
    upd.add_argument("--billing-run-offset-seconds", type=int, help="billing-run offset (default 0)")
    upd.add_argument("--rate-limit", dest="rate_limit_per_minute", type=int, help="requests per minute; 0 = none")
    upd.add_argument("--legal-name", help="the seller's name on invoice documents (default: the account name)")
    upd.add_argument("--address", help="the seller's address on invoices, one line per line (newlines or \\n)")
    upd.add_argument("--tax-id", help="the seller's tax id printed on invoices (e.g. a VAT number)")
    upd.add_argument("--logo-url", help="https:// URL of a logo for invoices (fetched when a PDF is rendered)")
    upd.add_argument("--locale", help="how invoices format amounts and dates (default en-GB; e.g. en-US, de-DE)")
    upd.add_argument("--paper-size", help="PDF paper size: A4 (default) or LETTER")
    upd.set_defaults(func=_accounts(_update))

    settings = get_settings()
    api = sub.add_parser("api", help="run the HTTP API server")
    api.add_argument("--host", default=settings.api_host)
    api.add_argument("--port", type=int, default=settings.api_port)
    api.set_defaults(func=cmd_api)

    worker = sub.add_parser("worker", help="run a Celery worker that executes billing runs")
    worker.add_argument("--concurrency", type=int, default=2)
    worker.add_argument("--pool", default=None, choices=["prefork", "solo", "threads"], help="Celery pool")
    worker.add_argument("--loglevel", default=None, help="default BILLRUN_LOG_LEVEL")
    worker.add_argument(
        "--queues",
        default=None,
        help="comma-separated: celery (billing), webhooks (deliveries), backtests (what-if); default all three",
    )
    worker.set_defaults(func=cmd_worker)

    beat = sub.add_parser("beat", help="run Celery beat (one tick every BILLRUN_TICK_SECONDS)")
    beat.add_argument("--loglevel", default=None, help="default BILLRUN_LOG_LEVEL")
    beat.set_defaults(func=cmd_beat)
    demo = sub.add_parser("demo", help="run the seed guide end to end on embedded servers and print the invoice")
    demo.set_defaults(func=cmd_demo)

    run = sub.add_parser("run", help="execute billing now (manual trigger): one schedule or every schedule")
    run.add_argument(
        "--schedule", type=_uuid, help="billing schedule id (default: every ACTIVE schedule of every account)"
    )
    run.add_argument("--date", type=_date, help="as-of date YYYY-MM-DD (default: today on the schedule clock)")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.set_defaults(func=cmd_run)

    invoice = sub.add_parser("invoice", help="invoices for operators")
    isub = invoice.add_subparsers(dest="invoice_command", required=True)
    show = isub.add_parser("show", help="an invoice as JSON, its explanation, or its HTML or PDF document")
    show.add_argument("id", type=_uuid, help="invoice id")
    form = show.add_mutually_exclusive_group()
    form.add_argument("--html", metavar="FILE", help="write the HTML document to FILE (- for stdout)")
    form.add_argument("--pdf", metavar="FILE", help="write the PDF to FILE (- for stdout)")
    form.add_argument("--explain", action="store_true", help="print why each line is what it is (JSON)")
    show.set_defaults(func=cmd_invoice_show)

    backtest = sub.add_parser("backtest", help="re-rate past drafting dates with replacement prices (what-if)")
    backtest.add_argument("--account", type=_uuid, required=True, help="account id")
    backtest.add_argument("--from", dest="from_date", type=_date, required=True, help="first drafting date")
    backtest.add_argument("--to", dest="to_date", type=_date, required=True, help="last drafting date")
    backtest.add_argument(
        "--replace",
        type=_replacement_arg,
        action="append",
        required=True,
        metavar="PRICE_ID=FILE",
        help="a price and a JSON file holding its replacement (a price body); repeatable",
    )
    backtest.add_argument("--customer", action="append", help="only this customer's schedules; repeatable")
    backtest.add_argument("--csv", help="write every row (customer, schedule, date, old, new, delta) to this file")
    backtest.add_argument("--quiet", action="store_true", help="no progress bar")
    backtest.set_defaults(func=cmd_backtest)

    hooks = sub.add_parser("webhooks", help="webhook deliveries: what waits, and retrying")
    hsub = hooks.add_subparsers(dest="webhooks_command", required=True)
    hsub.add_parser("pending", help="deliveries waiting for an attempt, per endpoint").set_defaults(
        func=cmd_webhooks_pending
    )
    retry = hsub.add_parser("retry", help="make deliveries due now (named ones, or FAILED ones)")
    retry.add_argument("delivery", nargs="*", type=_uuid, help="delivery ids")
    retry.add_argument("--failed", action="store_true", help="every FAILED delivery")
    retry.add_argument("--account", type=_uuid, help="every FAILED delivery of this account")
    retry.add_argument("--endpoint", type=_uuid, help="every FAILED delivery of this endpoint")
    retry.set_defaults(func=cmd_webhooks_retry)
    return parser


def describe(exc: BaseException) -> str:
    """One line for an error the user can act on: which server or setting, and what went wrong."""
    import kombu.exceptions
    import psycopg
    import pydantic
    import redis.exceptions
    from sqlalchemy.exc import OperationalError as SqlOperationalError

    from billrun.embedded import EmbeddedServerError

    if isinstance(exc, EmbeddedServerError):
        return str(exc)
    if isinstance(exc, pydantic.ValidationError):
        problems = [f"BILLRUN_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in exc.errors()]
        return "invalid setting " + "; ".join(problems)
    if isinstance(exc, SqlOperationalError | psycopg.OperationalError):
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        return f"cannot use the database at {_where(get_settings().database_url)}: {detail}"
    if isinstance(getattr(exc, "orig", None), psycopg.errors.UndefinedTable | psycopg.errors.UndefinedColumn):
        return (
            f"the database at {_where(get_settings().database_url)} is behind this billrun's schema "
            "(run 'billrun db upgrade')"
        )
    if isinstance(exc, kombu.exceptions.OperationalError | redis.exceptions.ConnectionError):
        return f"cannot reach the broker at {_where(get_settings().broker_url)}: {exc}"
    return f"{type(exc).__name__}: {exc} (run with --debug for the traceback)"


def _where(url: str | None) -> str:
    """host:port/database of a server URL, without credentials."""
    from sqlalchemy import make_url

    try:
        parsed = make_url(url or "")
    except Exception:
        return "the configured URL"
    return f"{parsed.host or 'localhost'}:{parsed.port or 'default port'}/{parsed.database or ''}"


def main(argv: Sequence[str] | None = None) -> int:
    # platformdirs (through Celery) warns about an unset XDG_RUNTIME_DIR on servers; it is harmless here.
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    raw = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in raw or os.environ.get("BILLRUN_DEBUG", "").lower() in ("1", "true", "yes")
    try:
        args = build_parser().parse_args(raw)
        return int(args.func(args))
    except (SystemExit, KeyboardInterrupt):
        raise
    except Exception as exc:
        if debug:
            raise
        try:
            message = str(exc) if isinstance(exc, UserError) else describe(exc)
        except Exception:  # describing must never hide the error itself
            message = f"{type(exc).__name__}: {exc}"
        sys.stderr.write(f"error: {message}\n")
        return 1


if __name__ == "__main__":
    sys.exit(main())
