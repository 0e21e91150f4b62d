# Shared helpers for scripts/*. Source it; it expects SNOOZE_ROOT (the repository root).
: "${SNOOZE_ROOT:=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
export SNOOZE_ROOT
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
STATE_DIR="$SNOOZE_ROOT/target/test-state"
mkdir -p "$STATE_DIR"

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# ensure_venv NAME PACKAGES... : a project-local virtualenv .venv-NAME with the packages installed.
ensure_venv() {
  local name=$1; shift
  local dir="$SNOOZE_ROOT/.venv-$name" stamp
  stamp="$dir/.installed-$(printf '%s ' "$@" | sha256sum | cut -c1-16)"
  if [ ! -f "$stamp" ]; then
    log "installing into .venv-$name: $*"
    python3 -m venv "$dir"
    "$dir/bin/pip" install --quiet --disable-pip-version-check "$@"
    touch "$stamp"
  fi
  echo "$dir"
}

# ensure_apt PACKAGE BINARY : installs a Debian package unless BINARY already exists.
ensure_apt() {
  local pkg=$1 bin=$2
  if ! command -v "$bin" >/dev/null 2>&1; then
    log "installing Debian package $pkg"
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$pkg" >/dev/null
  fi
}

# free_port : prints a free TCP port on 127.0.0.1.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_moto : starts moto_server on 127.0.0.1 (once per test run) and exports MOTO_ENDPOINT.
start_moto() {
  if [ -f "$STATE_DIR/moto.env" ] && kill -0 "$(cat "$STATE_DIR/moto.pid" 2>/dev/null)" 2>/dev/null; then
    source "$STATE_DIR/moto.env"; return
  fi
  local venv port
  venv=$(ensure_venv moto 'moto[server]==5.2.1')
  port=$(free_port)
  "$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$STATE_DIR/moto.log" 2>&1 &
  echo $! >"$STATE_DIR/moto.pid"
  for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$port/moto-api/" >/dev/null 2>&1 && break
    sleep 0.1
  done
  echo "export MOTO_ENDPOINT=http://127.0.0.1:$port" >"$STATE_DIR/moto.env"
  source "$STATE_DIR/moto.env"
  log "moto_server on $MOTO_ENDPOINT"
}

# stop_services : stops everything start_* started.
stop_services() {
  for f in "$STATE_DIR"/*.pid; do
    [ -f "$f" ] || continue
    kill "$(cat "$f")" 2>/dev/null || true
    rm -f "$f" "${f%.pid}.env"
  done
}

# build_workspace : builds every target of the workspace exactly as stage 10's
# `cargo test --workspace --all-targets` does (same feature unification), so after stage 10 it
# is a no-op. Building a subset (`-p x --bin y`) would resolve features differently and
# recompile large crates such as the AWS SDKs.
build_workspace() { (cd "$SNOOZE_ROOT" && cargo build --quiet --workspace --all-targets); }
