#!/usr/bin/env bash
# Shared helpers for ops/<service>.sh scripts.
#
# Conventions every service script follows:
#   ops/<svc>.sh install|start|stop|status
#   state lives in $OPS_DIR/<svc>/ (pid file "pid", log file "log");
#   connection details are written to $OPS_DIR/<svc>.env as `export K=V` lines;
#   servers bind 127.0.0.1 only; `stop` kills only the PID we recorded.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OPS_DIR="${STACKLEDGER_OPS_DIR:-$REPO_ROOT/.ops}"
SHARED_DIR="${STACKLEDGER_SHARED_DIR:-$REPO_ROOT/../shared}"
mkdir -p "$OPS_DIR"

log() { printf '[ops] %s\n' "$*" >&2; }
die() { printf '[ops] error: %s\n' "$*" >&2; exit 1; }

state_dir() { mkdir -p "$OPS_DIR/$1"; printf '%s' "$OPS_DIR/$1"; }

pid_alive() {  # pid_alive FILE -> 0 when the recorded process runs
  [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null
}

wait_port() {  # wait_port PORT SECONDS NAME
  local port=$1 secs=$2 name=$3 i
  for ((i = 0; i < secs * 5; i++)); do
    if (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.2
  done
  die "$name did not open 127.0.0.1:$port within ${secs}s (see its log under $OPS_DIR)"
}

stop_pidfile() {  # stop_pidfile FILE NAME: TERM the recorded PID, then KILL after 20 s
  local file=$1 name=$2 pid i
  if ! pid_alive "$file"; then rm -f "$file"; log "$name not running"; return 0; fi
  pid=$(cat "$file")
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  rm -f "$file"
  log "$name stopped (pid $pid)"
}

apt_install() {  # apt_install PKG...: installs only what is missing
  local missing=() p
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  ((${#missing[@]} == 0)) && return 0
  log "apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

service_venv() {  # service_venv NAME -> path of a private venv for a service (created on demand)
  local dir="$OPS_DIR/venvs/$1"
  if [[ ! -x "$dir/bin/python" ]]; then
    ensure_uv
    uv venv -q --python 3.11 "$dir"
  fi
  printf '%s' "$dir"
}

# Python here runs with PYTHONDONTWRITEBYTECODE=1 (the sandbox sets it), so nothing writes .pyc
# files on import and every process compiled its imports from source: ~5 s of CPU per
# `stackledger` command (pandas, SQLAlchemy, alembic). Installs therefore compile bytecode.
export UV_COMPILE_BYTECODE=1

compile_bytecode() {  # compile_bytecode PYTHON DIR...: write the .pyc files an import would (errors ignored:
  # some packages ship deliberately invalid .py test data)
  local python=$1; shift
  "$python" -m compileall -q -j 0 "$@" >/dev/null 2>&1 || true
}

ensure_uv() {
  command -v uv >/dev/null 2>&1 && return 0
  python3 -m pip install -q --disable-pip-version-check uv >/dev/null 2>&1 || die "could not install uv from PyPI"
  command -v uv >/dev/null 2>&1 || die "uv installed but not on PATH"
}

write_env() {  # write_env SVC "K=V"...
  local file="$OPS_DIR/$1.env"; shift
  : >"$file"
  local kv
  for kv in "$@"; do printf 'export %s\n' "$kv" >>"$file"; done
}

# Our default ports sit inside Linux's ephemeral range (32768–60999): under heavy test load a
# short-lived client socket can hold one for a minute and a service start then fails. As root
# we reserve them so the kernel never hands them out as client ports (best effort elsewhere).
reserve_ports() {
  local file=/proc/sys/net/ipv4/ip_local_reserved_ports current missing="" port
  [[ -w "$file" ]] || return 0
  current=$(cat "$file")
  # One by one, so a port added here later is reserved on a machine that has the older ones.
  for port in 55000 55432 56379 58041 58774 58776 59092-59093; do
    [[ ",$current," == *",$port,"* ]] || missing="${missing:+$missing,}$port"
  done
  [[ -n "$missing" ]] || return 0
  echo "${current:+$current,}$missing" >"$file" 2>/dev/null || true
}
reserve_ports
