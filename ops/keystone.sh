#!/usr/bin/env bash
# Keystone for tests and local use: PyPI keystone in its own venv, SQLite, fernet tokens, served by
# gunicorn on 127.0.0.1. `start` also seeds tagged projects and the catalog (Nova/Cinder simulator,
# Gnocchi) and writes .ops/keystone.env plus a clouds.yaml with the cloud `stackledger-test`.
source "$(dirname "$0")/lib.sh"

PORT="${STACKLEDGER_KEYSTONE_PORT:-55000}"
NOVA_PORT="${STACKLEDGER_NOVA_PORT:-58774}"
CINDER_PORT="${STACKLEDGER_CINDER_PORT:-58776}"
GNOCCHI_PORT="${STACKLEDGER_GNOCCHI_PORT:-58041}"
API_PORT="${STACKLEDGER_API_PORT:-8080}"  # `stackledger serve`'s default address, registered as type rating
REGION=RegionOne
DIR="$(state_dir keystone)"
TEMPLATES="$REPO_ROOT/ops/keystone"
AUTH_URL="http://127.0.0.1:$PORT/v3"
CLOUDS="$DIR/clouds.yaml"
USER_CLOUDS="$DIR/clouds-users.yaml"  # one entry per user of access.json (passwords in user_passwords.json)

venv() { service_venv keystone; }

install() {
  local v stamp
  v=$(venv)
  stamp=$(sha256sum "$TEMPLATES/requirements.txt" | cut -d' ' -f1)
  # Reinstall only when the pins change; the stamp lives inside the venv it describes.
  [[ -x "$v/bin/keystone-manage" && "$(cat "$v/.stackledger-reqs" 2>/dev/null)" == "$stamp" ]] && return 0
  ensure_uv
  log "installing keystone into $v"
  uv pip install -q --python "$v/bin/python" -r "$TEMPLATES/requirements.txt"
  printf '%s' "$stamp" >"$v/.stackledger-reqs"
}

manage() { "$(venv)/bin/keystone-manage" --config-file "$DIR/keystone.conf" "$@"; }

configure() {
  chmod 700 "$DIR"  # database, keys and the admin password live here
  sed "s|@STATE@|$DIR|g" "$TEMPLATES/keystone.conf.in" >"$DIR/keystone.conf"
  if [[ ! -s "$DIR/admin_password" ]]; then
    (umask 077; "$(venv)/bin/python" -c 'import secrets; print(secrets.token_urlsafe(24))' >"$DIR/admin_password")
    rm -f "$DIR/bootstrapped"  # a new password must reach the database: bootstrap resets it
  fi
  local kind
  for kind in fernet receipt credential; do  # key repositories named in keystone.conf.in
    mkdir -p "$DIR/$kind-keys"
    chmod 700 "$DIR/$kind-keys"  # keystone warns about readable keys
    [[ -f "$DIR/$kind-keys/0" ]] && continue
    manage "${kind}_setup" --keystone-user "$(id -un)" --keystone-group "$(id -gn)" >>"$DIR/setup.log" 2>&1 \
      || die "keystone ${kind}_setup failed (see $DIR/setup.log)"
  done
  bootstrap
}

bootstrap() {  # schema + admin user/project/role + identity endpoints; redone when keystone changes
  local version; version=$(grep '^keystone==' "$TEMPLATES/requirements.txt")
  [[ -f "$DIR/keystone.db" && "$(cat "$DIR/bootstrapped" 2>/dev/null)" == "$version" ]] && return 0
  log "keystone db_sync + bootstrap"
  manage db_sync >>"$DIR/setup.log" 2>&1 || die "keystone db_sync failed (see $DIR/setup.log)"
  # The password goes through the environment, never argv, so it stays out of ps and logs.
  OS_BOOTSTRAP_PASSWORD="$(cat "$DIR/admin_password")" manage bootstrap \
    --bootstrap-username admin --bootstrap-project-name admin --bootstrap-role-name admin \
    --bootstrap-service-name keystone --bootstrap-region-id "$REGION" \
    --bootstrap-public-url "$AUTH_URL" --bootstrap-internal-url "$AUTH_URL" \
    --bootstrap-admin-url "$AUTH_URL" >>"$DIR/setup.log" 2>&1 || die "keystone bootstrap failed (see $DIR/setup.log)"
  printf '%s' "$version" >"$DIR/bootstrapped"
}

wait_http() {  # wait_http URL SECONDS: port open is not enough, the WSGI app loads after bind
  "$(venv)/bin/python" - "$1" "$2" <<'PY' || die "keystone did not answer $1 (see $DIR/log)"
import sys, time, urllib.request
deadline = time.monotonic() + float(sys.argv[2])
while True:
    try:
        urllib.request.urlopen(sys.argv[1], timeout=5).read()
        break
    except OSError:
        if time.monotonic() > deadline:
            sys.exit(1)
        time.sleep(0.3)
PY
}

launch() {
  local v; v=$(venv)
  # gunicorn stays in the foreground of its own background job so $! is the master we stop later.
  # One process with threads: Keystone's in-memory cache stays coherent. No control socket: its
  # default lives in $HOME and would be shared with every other gunicorn on the machine.
  OS_KEYSTONE_CONFIG_DIR="$DIR" nohup "$v/bin/gunicorn" --bind "127.0.0.1:$PORT" --workers 1 \
    --threads 8 --timeout 120 --no-control-socket --access-logfile - --chdir "$DIR" \
    --pythonpath "$TEMPLATES" keystone_wsgi:application \
    >>"$DIR/log" 2>&1 </dev/null &
  echo $! >"$DIR/pid"
  wait_port "$PORT" 60 keystone
  wait_http "$AUTH_URL" 60
}

seed() {
  "$(venv)/bin/python" "$TEMPLATES/seed.py" --auth-url "$AUTH_URL" \
    --password-file "$DIR/admin_password" --projects "$TEMPLATES/projects.json" --region "$REGION" \
    --catalog "identity=keystone=$AUTH_URL" \
    --catalog "compute=nova=http://127.0.0.1:$NOVA_PORT/v2.1" \
    --catalog "block-storage=cinder=http://127.0.0.1:$CINDER_PORT/v3" \
    --catalog "volumev3=cinderv3=http://127.0.0.1:$CINDER_PORT/v3/\$(project_id)s" \
    --catalog "metric=gnocchi=http://127.0.0.1:$GNOCCHI_PORT" \
    --catalog "rating=stackledger=http://127.0.0.1:$API_PORT" \
    --access "$TEMPLATES/access.json" --user-passwords "$DIR/user_passwords.json" --user-clouds "$USER_CLOUDS" \
    >>"$DIR/setup.log" 2>&1 || die "keystone seeding failed (see $DIR/setup.log)"
}

write_client_config() {
  local password; password=$(cat "$DIR/admin_password")
  (umask 077; cat >"$CLOUDS" <<EOF
# Written by ops/keystone.sh: the admin of the test Keystone. Nova/Cinder/Gnocchi come from its catalog.
clouds:
  stackledger-test:
    auth:
      auth_url: $AUTH_URL
      username: admin
      password: '$password'
      project_name: admin
      user_domain_name: Default
      project_domain_name: Default
    region_name: $REGION
    identity_api_version: 3
    interface: public
EOF
  )
  write_env keystone \
    "STACKLEDGER_KEYSTONE_PORT=$PORT" "OS_AUTH_URL=$AUTH_URL" "OS_USERNAME=admin" \
    "OS_PASSWORD=$password" "OS_PROJECT_NAME=admin" "OS_USER_DOMAIN_NAME=Default" \
    "OS_PROJECT_DOMAIN_NAME=Default" "OS_REGION_NAME=$REGION" "OS_IDENTITY_API_VERSION=3" \
    "OS_INTERFACE=public" "OS_CLIENT_CONFIG_FILE=$CLOUDS" "OS_CLOUD=stackledger-test" \
    "STACKLEDGER_KEYSTONE_USER_CLOUDS=$USER_CLOUDS"
  chmod 600 "$OPS_DIR/keystone.env"
}

start() {
  install
  configure
  if pid_alive "$DIR/pid"; then log "keystone already running"; else launch; fi
  seed
  write_client_config
  log "keystone ready on $AUTH_URL (cloud stackledger-test in $CLOUDS)"
}

stop() { stop_pidfile "$DIR/pid" keystone; }

status() { pid_alive "$DIR/pid" && echo "keystone running (pid $(cat "$DIR/pid"))" || echo "keystone stopped"; }

"${1:-status}"
