# Stage: every Rust test of the workspace (unit, conformance, wire tests against moto), after
# the formatting and lint checks (rustfmt; clippy with warnings as errors, so missing docs on
# public items and the workspace lints fail here, not only in GitHub's CI).
set -euo pipefail
source "$SNOOZE_ROOT/scripts/lib.sh"
start_moto
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
cd "$SNOOZE_ROOT"
status=0
cargo fmt --all --check || { echo "cargo fmt --check: run cargo fmt" >&2; status=1; }
cargo clippy --workspace --all-targets --quiet -- -D warnings || status=1
cargo test --workspace --all-targets --no-fail-fast || status=1
exit $status
