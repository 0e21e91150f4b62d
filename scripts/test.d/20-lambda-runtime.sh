# Stage: the real Lambda binaries (debug builds from stage 10) answer one event each through the
# Lambda Runtime API protocol (served locally by scripts/bench_lambda_init.py), against moto.
set -euo pipefail
source "$SNOOZE_ROOT/scripts/lib.sh"
start_moto
cd "$SNOOZE_ROOT"
build_workspace
python3 scripts/bench_lambda_init.py --profile debug --check
