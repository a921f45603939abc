#!/usr/bin/env bash
# Create .venv and install the locked dependencies plus StackLedger itself (editable).
source "$(dirname "$0")/lib.sh"
ensure_uv
VENV="$REPO_ROOT/.venv"
STAMP="$VENV/.installed-lock"
LOCK="$REPO_ROOT/requirements/lock.txt"
[[ -x "$VENV/bin/python" ]] || uv venv -q --python 3.11 "$VENV"
if [[ ! -f "$STAMP" ]] || ! cmp -s "$LOCK" "$STAMP" || [[ "$REPO_ROOT/pyproject.toml" -nt "$STAMP" ]]; then
  log "installing locked dependencies into .venv"
  uv pip install -q --python "$VENV/bin/python" -r "$LOCK"
  uv pip install -q --python "$VENV/bin/python" --no-deps -e "$REPO_ROOT"
  cp "$LOCK" "$STAMP"
  touch "$VENV/.bytecode"  # UV_COMPILE_BYTECODE (lib.sh) compiled what it installed
fi
# Venvs made before UV_COMPILE_BYTECODE (lib.sh) are compiled once; StackLedger's own sources on
# every call (only files changed since are compiled again).
if [[ ! -f "$VENV/.bytecode" ]]; then
  log "compiling .venv's bytecode"
  compile_bytecode "$VENV/bin/python" "$VENV/lib" && touch "$VENV/.bytecode"
fi
compile_bytecode "$VENV/bin/python" "$REPO_ROOT/stackledger" "$REPO_ROOT/benchmarks" "$REPO_ROOT/airflow_dags"
