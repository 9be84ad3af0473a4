#!/usr/bin/env bash
# Install (when missing) and start PostgreSQL and Redis from Debian packages on local ports, for development
# and CI, without Docker. Idempotent: "start" twice leaves one server of each running.
#
#   ops/services.sh start   # prints export lines; also written to $BILLRUN_OPS_DIR/services.env
#   ops/services.sh stop
#   ops/services.sh status
#
# Settings: BILLRUN_OPS_DIR (default /var/tmp/billrun-ops), PG_PORT (55432), REDIS_PORT (56379),
# PG_FAST=1 turns off fsync for throwaway test clusters (never in production), PG_SHARED_BUFFERS sets
# PostgreSQL's shared_buffers (default: the server's own, 128MB; production and the full-size benchmark want
# about a quarter of RAM, e.g. PG_SHARED_BUFFERS=6GB).
set -euo pipefail

OPS_DIR=${BILLRUN_OPS_DIR:-/var/tmp/billrun-ops}
PG_PORT=${PG_PORT:-55432}
REDIS_PORT=${REDIS_PORT:-56379}
PGDATA="$OPS_DIR/pg"
ENV_FILE="$OPS_DIR/services.env"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

pg_bin() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  echo "$d"
}

install_missing() {
  local pkgs=()
  [ -n "$(pg_bin)" ] || pkgs+=(postgresql)
  command -v redis-server >/dev/null 2>&1 || pkgs+=(redis-server)
  if [ ${#pkgs[@]} -gt 0 ]; then
    echo "installing ${pkgs[*]} from Debian packages" >&2
    as_root apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >&2
  fi
}

run_pg() {  # PostgreSQL refuses root: run its tools as the postgres system user.
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start_pg() {
  local bin; bin=$(pg_bin)
  as_root mkdir -p "$OPS_DIR"
  as_root chmod 755 "$OPS_DIR"
  if [ ! -f "$PGDATA/PG_VERSION" ]; then
    as_root mkdir -p "$PGDATA"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$PGDATA"
    run_pg "$bin/initdb" -D "$PGDATA" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
  fi
  if run_pg "$bin/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; then
    return
  fi
  local opts="-p $PG_PORT -c listen_addresses=127.0.0.1 -k $PGDATA -c max_connections=200"
  if [ -n "${PG_SHARED_BUFFERS:-}" ]; then
    opts="$opts -c shared_buffers=$PG_SHARED_BUFFERS"
  fi
  if [ "${PG_FAST:-0}" = 1 ]; then
    opts="$opts -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
  fi
  run_pg "$bin/pg_ctl" -D "$PGDATA" -l "$PGDATA/server.log" -o "$opts" -w -t 60 start >/dev/null
  run_pg "$bin/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname='billrun'" | grep -q 1 \
    || run_pg "$bin/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres billrun
}

stop_pg() {
  local bin; bin=$(pg_bin)
  [ -n "$bin" ] && [ -f "$PGDATA/PG_VERSION" ] || return 0
  run_pg "$bin/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null 2>&1 || true
}

start_redis() {
  if redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; then return; fi
  as_root mkdir -p "$OPS_DIR/redis"
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$OPS_DIR/redis" --daemonize yes \
    --pidfile "$OPS_DIR/redis/redis.pid" --logfile "$OPS_DIR/redis/redis.log" --save "" --appendonly no
  for _ in $(seq 1 100); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && return; sleep 0.1; done
  echo "redis did not start" >&2; exit 1
}

stop_redis() {
  redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
}

case "${1:-}" in
  start)
    install_missing
    start_pg
    start_redis
    cat > "$ENV_FILE" <<ENV
export BILLRUN_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:$PG_PORT/billrun
export BILLRUN_BROKER_URL=redis://127.0.0.1:$REDIS_PORT/0
ENV
    cat "$ENV_FILE"
    ;;
  stop)
    stop_redis
    stop_pg
    ;;
  status)
    bin=$(pg_bin)
    if [ -n "$bin" ] && run_pg "$bin/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; then
      echo "postgres: running on $PG_PORT"; else echo "postgres: stopped"; fi
    if redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; then
      echo "redis: running on $REDIS_PORT"; else echo "redis: stopped"; fi
    ;;
  *)
    echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
