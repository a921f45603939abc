#!/usr/bin/env bash
# PostgreSQL for tests and local use: a private cluster under .ops/postgres on 127.0.0.1.
source "$(dirname "$0")/lib.sh"

PORT="${STACKLEDGER_PG_PORT:-55432}"
DIR="$(state_dir postgres)"
DATA="$DIR/data"
RUN_AS=postgres  # initdb refuses to run as root

pg_bin() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [[ -n "$d" ]] || die "PostgreSQL server binaries not found after install"
  printf '%s' "$d"
}

as_pg() { if [[ $(id -u) == 0 ]]; then runuser -u "$RUN_AS" -- "$@"; else "$@"; fi; }

install() {
  apt_install postgresql postgresql-contrib
  if [[ $(id -u) == 0 ]]; then chown -R "$RUN_AS" "$DIR"; fi
}

start() {
  install
  if pid_alive "$DIR/pid"; then log "postgres already running"; else
    local bin; bin=$(pg_bin)
    if [[ ! -f "$DATA/PG_VERSION" ]]; then
      as_pg "$bin/initdb" -D "$DATA" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$DIR/initdb.log"
    fi
    as_pg "$bin/pg_ctl" -D "$DATA" -l "$DIR/log" -w -t 60 start \
      -o "-h 127.0.0.1 -p $PORT -k $DIR -c fsync=off -c max_connections=200" >/dev/null
    head -n 1 "$DATA/postmaster.pid" >"$DIR/pid"
    wait_port "$PORT" 30 postgres
  fi
  local db
  for db in stackledger stackledger_test gnocchi airflow; do
    as_pg psql -h 127.0.0.1 -p "$PORT" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='$db'" \
      | grep -q 1 || as_pg psql -q -h 127.0.0.1 -p "$PORT" -U postgres -c "CREATE DATABASE $db"
  done
  write_env postgres \
    "STACKLEDGER_PG_PORT=$PORT" \
    "STACKLEDGER_TEST_PG_URL=postgresql+psycopg://postgres@127.0.0.1:$PORT/stackledger_test"
  log "postgres ready on 127.0.0.1:$PORT"
}

stop() {
  if pid_alive "$DIR/pid"; then
    as_pg "$(pg_bin)/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null || stop_pidfile "$DIR/pid" postgres
    rm -f "$DIR/pid"; log "postgres stopped"
  else log "postgres not running"; fi
}

status() { pid_alive "$DIR/pid" && echo "postgres running (pid $(cat "$DIR/pid"))" || echo "postgres stopped"; }

"${1:-status}"
