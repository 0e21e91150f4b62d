# Stage: the real Lambda binaries (debug builds from stage 10) answer one event each through the
# Lambda Runtime API protocol (served locally by scripts/bench_lambda_init.py), against moto: a
# real wake (POST /api/v1/services/demo/wake, whose wakeRequestedAt must land in the record) and
# a scheduled pass (which must publish the record's status). Every line either binary writes to
# stdout must be one JSON object (JSON logs or EMF), as CloudWatch Logs needs.
set -euo pipefail
source "$SNOOZE_ROOT/scripts/lib.sh"
start_moto
cd "$SNOOZE_ROOT"
build_aws
python3 scripts/bench_lambda_init.py --profile debug --check
