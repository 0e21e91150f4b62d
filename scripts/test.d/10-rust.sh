# Stage: every Rust test of the workspace (unit, conformance, wire tests against moto).
set -euo pipefail
source "$SNOOZE_ROOT/scripts/lib.sh"
start_moto
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
cd "$SNOOZE_ROOT"
cargo test --workspace --all-targets --no-fail-fast
