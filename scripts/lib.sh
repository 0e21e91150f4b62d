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

# The two feature sets the Rust code is built and tested with (README, "Cargo feature aws"):
# - the local half: snooze without the cargo feature `aws` (what scripts/dev builds), the demo
#   app, and every target of theirs except those that require `aws`;
# - the AWS half: snooze with `aws` and the Lambdas: their libraries and binaries, the Lambdas'
#   tests, and snooze's test targets that require `aws` (listed in controller/Cargo.toml).
# controller/workspace-hack pins shared dependencies' features so both halves compile each
# dependency once (scripts/check-one-build checks it). Stage 10 builds both; after it, the
# build_* functions below only link.
LOCAL_HALF=(-p snooze -p snooze-demo-app -p snooze-test-support -p snooze-workspace-hack)
# What `cargo test` runs of the local half. Not --all-targets: that would compile the examples a
# second time, as tests; build_local builds them as the programs the later stages run.
LOCAL_TESTS=(--lib --bins --tests --benches)
AWS_HALF=(-p snooze -p snooze-wake -p snooze-reconciler --features snooze/aws)

# aws_targets : prints the AWS half's cargo target selection (see above).
aws_targets() {
  python3 - "$SNOOZE_ROOT" <<'PY'
import pathlib, sys, tomllib
root = pathlib.Path(sys.argv[1])
args = ["--lib", "--bins"]
snooze = tomllib.loads((root / "controller/Cargo.toml").read_text())
args += [f"--test={t['name']}" for t in snooze.get("test", []) if "aws" in t.get("required-features", [])]
for crate in ("lambdas/wake", "lambdas/reconciler"):
    args += [f"--test={p.stem}" for p in sorted((root / crate / "tests").glob("*.rs"))]
print(" ".join(args))
PY
}

# build_local : scripts/dev's own build (`scripts/dev --build-only`) and the local half's
# examples (wake_server, ...): target/debug/snoozectl is scripts/dev's binary (no `aws`) after it.
build_local() {
  (cd "$SNOOZE_ROOT" && cargo build --quiet "${LOCAL_HALF[@]}" --examples \
    && scripts/dev --build-only --quiet)
}

# build_aws : the Lambda binaries and a snoozectl with `aws` (target/debug/snoozectl is that one
# afterwards: for what reads DynamoDB or ECS).
build_aws() {
  (cd "$SNOOZE_ROOT" && cargo build --quiet "${AWS_HALF[@]}" --bins)
}
