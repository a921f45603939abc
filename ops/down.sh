#!/usr/bin/env bash
# Stop every service we started, by the PIDs recorded under .ops/ (reverse start order).
source "$(dirname "$0")/lib.sh"
ALL_SERVICES=(postgres kafka gnocchi keystone openstack_sim redis)
for ((i = ${#ALL_SERVICES[@]} - 1; i >= 0; i--)); do
  "$REPO_ROOT/ops/${ALL_SERVICES[i]}.sh" stop || true
done
