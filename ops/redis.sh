#!/usr/bin/env bash
# Redis (Debian's redis-server) for tests and local use: the Celery broker of Airflow's
# CeleryExecutor (tests/dags/test_celery_distributed.py). 127.0.0.1 only, no persistence
# (a broker's queues are rebuilt by the scheduler), state under .ops/redis.
source "$(dirname "$0")/lib.sh"

PORT="${STACKLEDGER_REDIS_PORT:-56379}"
DIR="$(state_dir redis)"
CONF="$DIR/redis.conf"

install() { command -v redis-server >/dev/null 2>&1 || apt_install redis-server; }

write_conf() {  # regenerated on every start so a port override takes effect
  cat >"$CONF" <<EOF
bind 127.0.0.1
port $PORT
protected-mode yes
daemonize no
dir $DIR
logfile $DIR/log
# A test broker: no RDB snapshots, no append-only file.
save ""
appendonly no
databases 16
EOF
}

ping() {  # a real PING through bash's /dev/tcp: redis-cli may not be installed
  local line
  line=$({ exec 3<>"/dev/tcp/127.0.0.1/$PORT" && printf 'PING\r\n' >&3 \
    && IFS= read -r -t 5 line <&3 && printf '%s' "$line"; } 2>/dev/null) || return 1
  [[ $line == "+PONG"* ]]
}

start() {
  install
  if pid_alive "$DIR/pid"; then
    grep -qx "port $PORT" "$CONF" || die "redis is already running on another port; run '$0 stop' first"
    log "redis already running"
  else
    (echo >"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && die "127.0.0.1:$PORT is taken by a process we did not start"
    write_conf
    # setsid: a Ctrl-C in the caller's terminal must not reach the broker. It execs in place
    # (we are not a group leader), so $! is redis-server's own PID.
    setsid redis-server "$CONF" </dev/null >>"$DIR/log" 2>&1 &
    echo $! >"$DIR/pid"
    local i
    for ((i = 0; i < 150; i++)); do
      ping && break
      pid_alive "$DIR/pid" || die "redis exited during startup, see $DIR/log"
      sleep 0.2
    done
    ping || die "redis did not answer PING on 127.0.0.1:$PORT within 30 s, see $DIR/log"
  fi
  write_env redis "STACKLEDGER_REDIS_URL=redis://127.0.0.1:$PORT"
  log "redis ready on 127.0.0.1:$PORT"
}

stop() { stop_pidfile "$DIR/pid" redis; }

status() { pid_alive "$DIR/pid" && echo "redis running (pid $(cat "$DIR/pid"))" || echo "redis stopped"; }

"${1:-status}"
