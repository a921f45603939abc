#!/usr/bin/env bash
# Gnocchi 4.7.1 for tests and local use: REST API (gunicorn) on 127.0.0.1 plus gnocchi-metricd,
# PostgreSQL indexer (the repo's cluster, database "gnocchi"), file storage under .ops/gnocchi,
# HTTP Basic auth, and Ceilometer's resource types (ops/gnocchi/bootstrap_types.py).
source "$(dirname "$0")/lib.sh"

PORT="${STACKLEDGER_GNOCCHI_PORT:-58041}"
PG_PORT="${STACKLEDGER_PG_PORT:-55432}"
DIR="$(state_dir gnocchi)"
HERE="$REPO_ROOT/ops/gnocchi"
CONF="$DIR/gnocchi.conf"
INDEXER_URL="postgresql://postgres@127.0.0.1:$PG_PORT/gnocchi"
# Basic auth: the user name is the user id; Gnocchi grants the admin role to user "admin" only
# (gnocchi/rest/auth_helper.py), and the collector needs to see every project's resources.
API_USER=admin

venv() { service_venv gnocchi; }

install() {
  local dir stamp want
  dir="$(venv)"
  # The lock's hash, kept inside the venv (so deleting the venv drops it too), stands for
  # "this venv matches the lock": warm starts skip the resolver.
  stamp="$dir/.stackledger-requirements.sha256"
  want=$(sha256sum "$HERE/requirements.txt" | cut -d' ' -f1)
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then return 0; fi
  ensure_uv
  log "installing gnocchi into $dir"
  uv pip sync -q -p "$dir/bin/python" "$HERE/requirements.txt"
  echo "$want" >"$stamp"
}

write_conf() {
  mkdir -p "$DIR/storage"
  # Regenerated on every start so a changed port or OPS_DIR never leaves a stale file behind.
  cat >"$CONF" <<EOF
[DEFAULT]
# WARNING level: at INFO the API logs its whole oslo.config object on every worker boot.
verbose = false

[indexer]
url = $INDEXER_URL

[storage]
driver = file
file_basepath = $DIR/storage

[incoming]
driver = file
file_basepath = $DIR/storage

[api]
auth_mode = basic

[metricd]
workers = 1
# The file incoming driver cannot notify metricd, so this poll period is the floor on how long
# a posted measure waits before it shows up in aggregates.
metric_processing_delay = 1
metric_reporting_delay = 60
EOF
}

indexer_ready() {  # the schema exists once gnocchi-upgrade has run against this database
  [[ $(psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -d gnocchi -tAc \
    "SELECT to_regclass('public.resource_type') IS NOT NULL") == t ]]
}

upgrade() {
  # gnocchi-upgrade leaves these two files behind once storage and incoming are laid out.
  if indexer_ready && [[ -f "$DIR/storage/tmp/gnocchi-config" \
    && -f "$DIR/storage/tmp/gnocchi-storage-config" ]]; then return 0; fi
  log "gnocchi-upgrade (first start)"
  "$(venv)/bin/gnocchi-upgrade" --config-file "$CONF" >"$DIR/upgrade.log" 2>&1 \
    || die "gnocchi-upgrade failed, see $DIR/upgrade.log"
}

spawn() {  # spawn PIDFILE LOGFILE CMD...: detached from our session, PID recorded
  local pidfile=$1 logfile=$2; shift 2
  # setsid: a Ctrl-C or CI step ending in the caller's terminal must not take the service down.
  # It execs in place (we are not a group leader), so $! is the service's own PID.
  GNOCCHI_CONFIG_FILE="$CONF" setsid "$@" >>"$logfile" 2>&1 </dev/null &
  echo $! >"$pidfile"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }

http_ready() {  # a real request through bash's /dev/tcp: curl is not on every fresh machine
  local line
  line=$({ exec 3<>"/dev/tcp/127.0.0.1/$PORT" && printf 'GET /healthcheck HTTP/1.0\r\n\r\n' >&3 \
    && IFS= read -r -t 5 line <&3 && printf '%s' "$line"; } 2>/dev/null) || return 1
  [[ $line == "HTTP/1."?" 200"* ]]
}

wait_api() {  # gunicorn binds at once but its workers need seconds to import Gnocchi
  local i
  for ((i = 0; i < 450; i++)); do
    http_ready && return 0
    pid_alive "$DIR/pid" || die "gnocchi api exited, see $DIR/log"
    sleep 0.2
  done
  die "gnocchi api did not answer on 127.0.0.1:$PORT within 90 s, see $DIR/log"
}

start() {
  install
  "$REPO_ROOT/ops/postgres.sh" start  # idempotent; it also creates the "gnocchi" database
  write_conf
  upgrade
  local py; py="$(venv)/bin"
  if pid_alive "$DIR/pid"; then log "gnocchi api already running"; else
    port_open && die "127.0.0.1:$PORT is taken by another process (set STACKLEDGER_GNOCCHI_PORT)"
    # Upstream's gnocchi.rest.wsgi parses sys.argv (gunicorn's flags), hence our own entry module.
    # Processes x threads, app loaded after fork: the same shape as upstream's uwsgi launcher.
    # graceful-timeout stays under stop_pidfile's 20 s so workers never outlive a KILLed master;
    # no control socket, because gunicorn would put one in $HOME, shared with any other gunicorn.
    spawn "$DIR/pid" "$DIR/log" "$py/gunicorn" --chdir "$HERE" \
      --bind "127.0.0.1:$PORT" --workers 2 --threads 4 --timeout 120 --graceful-timeout 5 \
      --no-control-socket stackledger_gnocchi_wsgi:application
  fi
  if pid_alive "$DIR/metricd.pid"; then log "gnocchi-metricd already running"; else
    spawn "$DIR/metricd.pid" "$DIR/metricd.log" "$py/gnocchi-metricd" --config-file "$CONF"
  fi
  # Not lib.sh's wait_port: its bare-newline probe makes gunicorn log an "Invalid request".
  wait_api
  "$py/python" "$HERE/bootstrap_types.py" "http://127.0.0.1:$PORT" "$API_USER" >>"$DIR/log" 2>&1 \
    || die "gnocchi bootstrap failed, see $DIR/log"
  pid_alive "$DIR/metricd.pid" || die "gnocchi-metricd exited, see $DIR/metricd.log"
  write_env gnocchi \
    "STACKLEDGER_GNOCCHI_URL=http://127.0.0.1:$PORT" \
    "STACKLEDGER_GNOCCHI_AUTH_MODE=basic" \
    "STACKLEDGER_GNOCCHI_USER=$API_USER"
  log "gnocchi ready on 127.0.0.1:$PORT (basic auth user '$API_USER')"
}

stop() {
  stop_pidfile "$DIR/metricd.pid" gnocchi-metricd
  stop_pidfile "$DIR/pid" gnocchi-api
}

status() {
  local up=0
  pid_alive "$DIR/pid" && echo "gnocchi api running (pid $(cat "$DIR/pid"))" && up=$((up + 1))
  pid_alive "$DIR/metricd.pid" && echo "gnocchi-metricd running (pid $(cat "$DIR/metricd.pid"))" \
    && up=$((up + 1))
  ((up)) || echo "gnocchi stopped"
}

"${1:-status}"
