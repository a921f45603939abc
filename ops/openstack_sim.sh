#!/usr/bin/env bash
# Nova + Cinder API simulator for tests and local use (ops/openstack_sim/, standard library only).
# One process serves compute on 127.0.0.1:$STACKLEDGER_NOVA_PORT and block-storage on
# 127.0.0.1:$STACKLEDGER_CINDER_PORT; Keystone (started on demand) lists both in its catalog and
# validates every token. Fleet: $STACKLEDGER_SIM_FLEET or ops/openstack_sim/default_fleet.json;
# swap it at runtime with POST /_sim/fleet (admin token) -- see ops/openstack_sim/README.md.
source "$(dirname "$0")/lib.sh"

NOVA_PORT="${STACKLEDGER_NOVA_PORT:-58774}"
CINDER_PORT="${STACKLEDGER_CINDER_PORT:-58776}"
FLEET="$(realpath -m "${STACKLEDGER_SIM_FLEET:-$REPO_ROOT/ops/openstack_sim/default_fleet.json}")"  # it runs from ops/
DIR="$(state_dir openstack_sim)"

# A private interpreter with no packages: the simulator must keep working on the stdlib alone.
install() { service_venv openstack_sim >/dev/null; }

wait_ready() {  # wait_ready PID URL...: version documents answer, without a token, once loaded
  "$(service_venv openstack_sim)/bin/python" - "$@" <<'PY' || die "simulator not answering (see $DIR/log)"
import os, sys, time, urllib.request
pid, urls = int(sys.argv[1]), sys.argv[2:]
deadline = time.monotonic() + 150  # the simulator waits up to 120 s for a busy port
for url in urls:
    while True:
        try:
            urllib.request.urlopen(url, timeout=5).read()
            break
        except OSError:
            os.kill(pid, 0)  # raises (and fails the start at once) when the simulator died
            if time.monotonic() > deadline:
                sys.exit(1)
            time.sleep(0.2)
PY
}

launch() {
  local py; py="$(service_venv openstack_sim)/bin/python"
  # keystone.env carries the admin credentials used to resolve fleet project names; they reach
  # the simulator through its environment only. exec keeps $! equal to the simulator's PID.
  (
    # shellcheck source=/dev/null  # written by ops/keystone.sh at start
    source "$OPS_DIR/keystone.env"
    cd "$REPO_ROOT/ops"
    exec nohup "$py" -m openstack_sim --fleet "$FLEET" --nova-port "$NOVA_PORT" \
      --cinder-port "$CINDER_PORT" --keystone-url "$OS_AUTH_URL"
  ) >>"$DIR/log" 2>&1 </dev/null &
  echo $! >"$DIR/pid"
  wait_ready "$(cat "$DIR/pid")" "http://127.0.0.1:$NOVA_PORT/v2.1/" "http://127.0.0.1:$CINDER_PORT/v3/"
}

start() {
  install
  "$REPO_ROOT/ops/keystone.sh" start  # the catalog and token validation live there
  if pid_alive "$DIR/pid"; then log "openstack_sim already running"; else launch; fi
  write_env openstack_sim \
    "STACKLEDGER_NOVA_PORT=$NOVA_PORT" "STACKLEDGER_CINDER_PORT=$CINDER_PORT" \
    "STACKLEDGER_SIM_FLEET=$FLEET" \
    "STACKLEDGER_SIM_ADMIN_URL=http://127.0.0.1:$NOVA_PORT/_sim/fleet"
  log "openstack_sim ready: nova http://127.0.0.1:$NOVA_PORT/v2.1, cinder http://127.0.0.1:$CINDER_PORT/v3"
}

stop() { stop_pidfile "$DIR/pid" openstack_sim; }

status() {
  pid_alive "$DIR/pid" && echo "openstack_sim running (pid $(cat "$DIR/pid"))" || echo "openstack_sim stopped"
}

"${1:-status}"
