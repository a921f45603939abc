#!/usr/bin/env bash
# The real `openstack` CLI with python-cloudkittyclient, in a venv of its own under $OPS_DIR/venvs
# (like Keystone's), so its pins never meet our lock. `install` is idempotent; `status` says where.
# Writes $OPS_DIR/openstack_client.env: STACKLEDGER_OPENSTACK_CLI=<path of the openstack command>.
source "$(dirname "$0")/lib.sh"

REQS="$REPO_ROOT/ops/openstack_client/requirements.in"

install() {
  local v stamp
  v=$(service_venv openstack-client)
  stamp=$(sha256sum "$REQS" | cut -d' ' -f1)
  if [[ ! -x "$v/bin/openstack" || "$(cat "$v/.stackledger-reqs" 2>/dev/null)" != "$stamp" ]]; then
    ensure_uv
    log "installing python-openstackclient + python-cloudkittyclient into $v"
    uv pip install -q --python "$v/bin/python" -r "$REQS"
    printf '%s' "$stamp" >"$v/.stackledger-reqs"
  fi
  write_env openstack_client "STACKLEDGER_OPENSTACK_CLI=$v/bin/openstack"
}

start() { install; }  # no server: `ops/up.sh openstack_client` just installs
stop() { :; }

status() {
  local v="$OPS_DIR/venvs/openstack-client"
  if [[ -x "$v/bin/openstack" ]]; then echo "openstack client installed ($v/bin/openstack)"; else echo "openstack client not installed"; fi
}

"${1:-status}"
