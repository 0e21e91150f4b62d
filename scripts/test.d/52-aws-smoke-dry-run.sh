# Stage: scripts/aws-smoke (the first-deployment smoke test of route mode on a real account) as
# a dry run of its own logic against moto: tests/smoke/dry_run.py builds the table and the shared
# load balancer there and plays the reconciler and the load balancer's data path, then runs the
# script twice (all 8 steps pass; a rule that never moves fails at "routed"). Uses the moto
# virtualenv's boto3 (the same version scripts/aws-smoke installs into .venv-smoke).
set -euo pipefail
source "$SNOOZE_ROOT/scripts/lib.sh"
start_moto
cd "$SNOOZE_ROOT"
venv=$(ensure_venv moto 'moto[server]==5.2.1')
timeout 300 "$venv/bin/python" tests/smoke/dry_run.py --moto "$MOTO_ENDPOINT"
