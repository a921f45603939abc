#!/usr/bin/env bash
# The FinOps Foundation's FOCUS validator (PyPI focus-validator, ops/focus_validator/requirements.txt)
# in its own venv: it needs Python 3.12 (pyenv's on these machines), StackLedger runs on 3.11.
#
#   ops/focus_validator.sh install       create/refresh $OPS_DIR/venvs/focus-validator (idempotent)
#   ops/focus_validator.sh status        "installed <path>" or "not installed"
#   ops/focus_validator.sh run FILE ...  validate a FOCUS CSV (FOCUS 1.2, default applicability,
#                                        no downloads); extra arguments go to focus-validator
#
# Not a service: nothing to start or stop. tests/e2e/test_focus_validator.py runs the installed one.
source "$(dirname "$0")/lib.sh"

HERE="$REPO_ROOT/ops/focus_validator"
DIR="$OPS_DIR/venvs/focus-validator"
STAMP="$DIR/.stackledger-requirements.sha256"

python312() {  # the first Python 3.12 found: pyenv's versions, then PATH
  local root="${PYENV_ROOT:-$HOME/.pyenv}" candidate
  for candidate in "$root"/versions/3.12*/bin/python3.12 "$(command -v python3.12 2>/dev/null || true)"; do
    [[ -n "$candidate" && -x "$candidate" ]] || continue
    "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' 2>/dev/null && { printf '%s' "$candidate"; return 0; }
  done
  return 1
}

install() {
  local want python
  want=$(sha256sum "$HERE/requirements.txt" | cut -d' ' -f1)
  if [[ -x "$DIR/bin/focus-validator" && -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]]; then return 0; fi
  python=$(python312) || die "focus-validator needs Python 3.12: none under ${PYENV_ROOT:-$HOME/.pyenv}/versions or on PATH"
  ensure_uv
  log "installing focus-validator into $DIR (Python $python)"
  [[ -x "$DIR/bin/python" ]] || uv venv -q --python "$python" "$DIR"
  uv pip sync -q -p "$DIR/bin/python" "$HERE/requirements.txt"
  echo "$want" >"$STAMP"
}

run() {
  (($# >= 1)) || die "usage: ops/focus_validator.sh run FILE [focus-validator options]"
  local file site
  file="$(realpath "$1")"; shift
  [[ -x "$DIR/bin/focus-validator" ]] || die "focus-validator is not installed: run ops/focus_validator.sh install"
  # 2.2.1 opens its currency code list by a path relative to the working directory
  # (focus_validator/rules/currency_codes.csv), so it runs from its site-packages folder.
  site=$("$DIR/bin/python" -c 'import focus_validator, os; print(os.path.dirname(os.path.dirname(focus_validator.__file__)))')
  cd "$site" && exec "$DIR/bin/focus-validator" --data-file "$file" --validate-version 1.2 --block-download "$@"
}

case "${1:-}" in
  install) install ;;
  status) if [[ -x "$DIR/bin/focus-validator" ]]; then echo "installed $DIR"; else echo "not installed"; fi ;;
  run) shift; run "$@" ;;
  *) die "usage: $0 install|status|run FILE [options]" ;;
esac
