#!/usr/bin/env bash
# Start the named services (default: all) and collect their connection details in .ops/env.
source "$(dirname "$0")/lib.sh"
ALL_SERVICES=(postgres kafka gnocchi keystone openstack_sim redis)
services=("$@"); ((${#services[@]})) || services=("${ALL_SERVICES[@]}")
for svc in "${services[@]}"; do
  [[ -x "$REPO_ROOT/ops/$svc.sh" ]] || die "unknown service '$svc' (known: ${ALL_SERVICES[*]})"
  "$REPO_ROOT/ops/$svc.sh" start
done
(umask 077; cat "$OPS_DIR"/*.env >"$OPS_DIR/env")  # holds OS_PASSWORD
log "services up: ${services[*]}; source $OPS_DIR/env for their addresses"
