# Stage: every Rust test, in the two feature sets (scripts/lib.sh, "the two feature sets"), after
# the formatting and lint checks (rustfmt; clippy with warnings as errors, so missing docs on
# public items and the workspace lints fail here, not only in GitHub's CI).
#
# 1. The local half, starting with exactly what scripts/dev builds, with its own command
#    (`scripts/dev --build-only`): the main job after the tests starts at once.
# 2. The AWS half: snooze with the cargo feature `aws`, the Lambdas, the tests against moto.
# 3. scripts/check-one-build: no dependency was compiled twice across these builds.
set -euo pipefail
source "$SNOOZE_ROOT/scripts/lib.sh"
start_moto
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
cd "$SNOOZE_ROOT"
status=0
messages="$STATE_DIR/cargo-messages"
rm -rf "$messages" && mkdir -p "$messages"
json=(--message-format=json-render-diagnostics)
step() { log "stage 10: $*"; }

cargo fmt --all --check || { echo "cargo fmt --check: run cargo fmt" >&2; status=1; }

step "local half (no feature aws): scripts/dev --build-only"
scripts/dev --build-only --quiet "${json[@]}" >"$messages/1-scripts-dev.json" || status=1
step "local half: clippy, build, test"
cargo clippy --quiet "${LOCAL_HALF[@]}" --all-targets -- -D warnings || status=1
cargo build --quiet "${LOCAL_HALF[@]}" --examples "${json[@]}" >"$messages/2-local-examples.json" || status=1
cargo test --quiet "${LOCAL_HALF[@]}" "${LOCAL_TESTS[@]}" --no-run "${json[@]}" >"$messages/3-local-tests.json" || status=1
cargo test "${LOCAL_HALF[@]}" "${LOCAL_TESTS[@]}" --no-fail-fast || status=1

aws=$(aws_targets)
step "AWS half (feature aws, Lambdas): clippy, build, test ($aws)"
# shellcheck disable=SC2086  # $aws is a list of cargo arguments
{
  cargo clippy --quiet "${AWS_HALF[@]}" --all-targets -- -D warnings || status=1
  cargo test --quiet "${AWS_HALF[@]}" $aws --no-run "${json[@]}" >"$messages/4-aws-tests.json" || status=1
  cargo test "${AWS_HALF[@]}" $aws --no-fail-fast || status=1
}

step "each dependency compiled once"
scripts/check-one-build "$messages"/*.json || status=1
exit $status
