#!/usr/bin/env bash
# The whole suite: install, start the services (stopping afterwards only those this run
# started), lint, type-check, then pytest. Extra arguments go to pytest.
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"
"$REPO_ROOT/ops/venv.sh"
"$REPO_ROOT/ops/sysdeps.sh"
"$REPO_ROOT/ops/focus_validator.sh" install  # Python 3.12 venv: tests/e2e/test_focus_validator.py
"$REPO_ROOT/ops/chromium.sh" install          # the browser tests of `stackledger serve`
"$REPO_ROOT/ops/openstack_client.sh" install  # the real CloudKitty CLI (writes openstack_client.env)

source "$REPO_ROOT/ops/services.list"
started=()
cleanup() {
  local i
  for ((i = ${#started[@]} - 1; i >= 0; i--)); do "$REPO_ROOT/ops/${started[i]}.sh" stop || true; done
}
trap cleanup EXIT
for svc in "${TEST_SERVICES[@]}"; do
  if ! "$REPO_ROOT/ops/$svc.sh" status | grep -q running; then started+=("$svc"); fi
done
"$REPO_ROOT/ops/up.sh" "${TEST_SERVICES[@]}"
set -a; source "$OPS_DIR/env"; set +a

log "ruff"; .venv/bin/ruff check .; .venv/bin/ruff format --check .
log "mypy"; .venv/bin/mypy
log "import rules"; .venv/bin/lint-imports --no-cache
log "pytest"
# pytest exits 5 when it collected nothing: that is a failure here, never a pass.
STACKLEDGER_REQUIRE_SERVICES=1 .venv/bin/python -m pytest "$@"
