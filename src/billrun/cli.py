"""The ``billrun`` command. Thin: every subcommand calls into billrun's packages.

Unless ``BILLRUN_DATABASE_URL`` / ``BILLRUN_BROKER_URL`` are set, each command runs on embedded servers
that it starts under ``BILLRUN_DATA_DIR`` and stops before it returns.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections.abc import Callable, Sequence

from billrun.config import get_settings
from billrun.embedded import embedded_services


def _with_services(
    need_redis: bool,
) -> Callable[[Callable[[argparse.Namespace], int]], Callable[[argparse.Namespace], int]]:
    def wrap(fn: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
        def run(args: argparse.Namespace) -> int:
            with embedded_services(get_settings().data_dir, need_redis=need_redis):
                return fn(args)

        run.__doc__ = fn.__doc__
        return run

    return wrap


@_with_services(need_redis=False)
def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from billrun.store import migrate

    migrate.upgrade(args.revision)
    return 0


@_with_services(need_redis=False)
def cmd_db_downgrade(args: argparse.Namespace) -> int:
    from billrun.store import migrate

    migrate.downgrade(args.revision)
    return 0


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


@_with_services(need_redis=True)
def cmd_api(args: argparse.Namespace) -> int:
    import uvicorn

    from billrun.api.app import create_app
    from billrun.store import migrate

    migrate.upgrade("head")
    uvicorn.run(create_app(), host=args.host, port=args.port, log_level="info")
    return 0


@_with_services(need_redis=True)
def cmd_worker(args: argparse.Namespace) -> int:
    from billrun.worker.app import make_celery

    app = make_celery()
    argv = ["worker", "--loglevel", args.loglevel, "--concurrency", str(args.concurrency)]
    if args.pool:
        argv += ["--pool", args.pool]
    app.worker_main(argv)
    return 0


@_with_services(need_redis=True)
def cmd_beat(args: argparse.Namespace) -> int:
    from billrun.worker.app import make_celery

    app = make_celery()
    data_dir = get_settings().data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    app.start(["beat", "--loglevel", args.loglevel, "--schedule", str(data_dir / "celerybeat-schedule")])
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from billrun.demo import run_demo

    run_demo()
    return 0


@_with_services(need_redis=True)
def cmd_run(args: argparse.Namespace) -> int:
    """The manual trigger (SPEC §6.4), executed in this process with a progress bar and a summary."""
    from billrun.billing.runner import run_manual
    from billrun.store import migrate

    migrate.upgrade("head")
    summary = run_manual(args.schedule, args.date, progress=not args.quiet)
    print(json.dumps(summary))
    return 0 if summary["failures"] == 0 else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="billrun", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    db = sub.add_parser("db", help="database schema management")
    dbsub = db.add_subparsers(dest="db_command", required=True)
    up = dbsub.add_parser("upgrade", help="apply migrations (default: to head)")
    up.add_argument("revision", nargs="?", default="head")
    up.set_defaults(func=cmd_db_upgrade)
    down = dbsub.add_parser("downgrade", help="revert migrations to REVISION (e.g. base)")
    down.add_argument("revision")
    down.set_defaults(func=cmd_db_downgrade)

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

    settings = get_settings()
    api = sub.add_parser("api", help="run the HTTP API server")
    api.add_argument("--host", default=settings.api_host)
    api.add_argument("--port", type=int, default=settings.api_port)
    api.set_defaults(func=cmd_api)

    worker = sub.add_parser("worker", help="run a Celery worker that executes billing runs")
    worker.add_argument("--concurrency", type=int, default=2)
    worker.add_argument("--pool", default=None, help="Celery pool (prefork, solo, threads)")
    worker.add_argument("--loglevel", default="INFO")
    worker.set_defaults(func=cmd_worker)

    beat = sub.add_parser("beat", help="run Celery beat (one tick every BILLRUN_TICK_SECONDS)")
    beat.add_argument("--loglevel", default="INFO")
    beat.set_defaults(func=cmd_beat)
    demo = sub.add_parser("demo", help="run the seed guide end to end on embedded servers and print the invoice")
    demo.set_defaults(func=cmd_demo)

    run = sub.add_parser("run", help="execute billing now (manual trigger): one schedule or every schedule")
    run.add_argument("--schedule", help="billing schedule id (default: every ACTIVE schedule of every account)")
    run.add_argument("--date", help="as-of date YYYY-MM-DD (default: today on the schedule clock)")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.set_defaults(func=cmd_run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # platformdirs (through Celery) warns about an unset XDG_RUNTIME_DIR on servers; it is harmless here.
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    parser = build_parser()
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
