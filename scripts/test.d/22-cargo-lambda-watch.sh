# Stage: the real Lambda binaries (debug builds) under `cargo lambda watch`'s Runtime API
# emulator (cargo-lambda from .venv-lambda, as scripts/package installs it), one wake and one
# scheduled pass against moto (tests/lambda/watch_invoke.py).
set -euo pipefail
source "$SNOOZE_ROOT/scripts/lib.sh"
start_moto
cd "$SNOOZE_ROOT"
build_aws
venv=$(ensure_venv lambda 'cargo-lambda==1.9.2' 'ziglang==0.15.2')
python3 tests/lambda/watch_invoke.py --moto "$MOTO_ENDPOINT" --cargo-lambda "$venv/bin/cargo-lambda"
