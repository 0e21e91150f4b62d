#!/usr/bin/env python3
"""The real Lambda binaries under `cargo lambda watch`'s Lambda Runtime API emulator.

cargo-lambda (from .venv-lambda, the same virtualenv `scripts/package` uses) serves the Runtime
API on 127.0.0.1 (`cargo lambda watch --only-lambda-apis`: it does not build anything; the
debug binaries of stage 10 are started here with the variables it asks for), and
`cargo lambda invoke` sends events to each function, against DynamoDB and ECS on moto (the
wake Lambda an API Gateway wake and a load balancer event for a route-mode record's host):

1. `snooze-wake` gets an API Gateway v2 `POST /api/v1/services/demo/wake`: the answer is a 202
   with the status JSON, and the record's `wakeRequestedAt` is written in the table.
2. `snooze-reconciler` gets an EventBridge scheduled event: the answer reports a full pass, and
   the record's `status` is published (the ECS service does not exist on moto, which the status
   must say).

Every line the binaries print must be JSON (what CloudWatch Logs Insights parses).

Usage: watch_invoke.py --moto URL --cargo-lambda PATH [--target-dir DIR]
Exit codes: 0 passed, 1 a check failed.
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port: int, proc: subprocess.Popen, limit: float = 60.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"cargo lambda watch exited early ({proc.returncode})")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise SystemExit(f"cargo lambda watch did not listen on {port} within {limit:.0f}s")


def snoozectl(target: Path, moto: str, table: str, *args: str, stdin: str | None = None) -> str:
    out = subprocess.run(
        [str(target / "debug/snoozectl"), "--store", f"dynamodb://{table}", "--endpoint-url", moto,
         "--region", "us-east-1", *args],
        input=stdin, capture_output=True, text=True, timeout=60,
        env=dict(os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test"),
    )
    if out.returncode != 0:
        raise SystemExit(f"snoozectl {' '.join(args)} failed: {out.stderr}")
    return out.stdout


def invoke(cargo_lambda: str, port: int, binary: Path, env: dict, event: dict, logs: Path) -> dict:
    """Starts `binary` against the emulator, invokes it once with `event`, stops it; returns the
    function's answer. The binary's output goes to `logs`."""
    with open(logs, "w") as out:
        fn = subprocess.Popen([str(binary)], env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
                json.dump(event, f)
            answer = subprocess.run(
                [cargo_lambda, "lambda", "invoke", "--invoke-address", "127.0.0.1",
                 "--invoke-port", str(port), "--data-file", f.name, "--output-format", "json"],
                capture_output=True, text=True, timeout=60,
            )
            os.unlink(f.name)
            if answer.returncode != 0:
                raise SystemExit(f"cargo lambda invoke {binary.name} failed: {answer.stderr}{answer.stdout}")
            return json.loads(answer.stdout)
        finally:
            stop(fn)


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL after 10 s."""
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def json_lines(path: Path) -> int:
    lines = [l for l in path.read_text().splitlines() if l.strip()]
    for line in lines:
        try:
            json.loads(line)
        except ValueError:
            raise SystemExit(f"{path.name}: a log line that is not JSON: {line!r}")
    return len(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--moto", required=True)
    ap.add_argument("--cargo-lambda", required=True, help="the cargo-lambda executable")
    ap.add_argument("--target-dir", default=os.environ.get("CARGO_TARGET_DIR", str(ROOT / "target")))
    args = ap.parse_args()
    target = Path(args.target_dir)
    table = f"snooze-watch-{os.getpid()}"
    snoozectl(target, args.moto, table, "init")
    manifest = (ROOT / "manifests/demo-ecs.yaml").read_text()
    snoozectl(target, args.moto, table, "apply", "-f", "-", stdin=manifest)

    port = free_port()
    watch = subprocess.Popen(
        [args.cargo_lambda, "lambda", "watch", "--only-lambda-apis", "--invoke-address", "127.0.0.1",
         "--invoke-port", str(port)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    tmp = Path(tempfile.mkdtemp(prefix="snooze-watch-"))
    try:
        wait_listening(port, watch)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            # What `cargo lambda watch --only-lambda-apis` says the function needs.
            "AWS_LAMBDA_RUNTIME_API": f"http://127.0.0.1:{port}/.rt",
            "AWS_LAMBDA_FUNCTION_NAME": "_",
            "AWS_LAMBDA_FUNCTION_VERSION": "1",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
            "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
            "SNOOZE_TABLE": table, "SNOOZE_ENDPOINT_URL": args.moto, "AWS_ENDPOINT_URL": args.moto,
            "RUST_LOG": "info",
        }

        event = json.loads((ROOT / "controller/tests/fixtures/apigw/wake-post-base64.json").read_text())
        wake_logs = tmp / "wake.log"
        answer = invoke(args.cargo_lambda, port, target / "debug/snooze-wake", env, event, wake_logs)
        if answer.get("statusCode") != 202:
            raise SystemExit(f"wake: expected a 202, got {answer}")
        record = json.loads(snoozectl(target, args.moto, table, "get", "demo", "-o", "json"))
        if not record.get("desired", {}).get("wakeRequestedAt"):
            raise SystemExit(f"wake: no wakeRequestedAt in the table: {record}")
        print(f"wake: 202, wakeRequestedAt {record['desired']['wakeRequestedAt']}, "
              f"{json_lines(wake_logs)} JSON log lines")

        # Route mode behind the shared load balancer: an ALB event for a stable address, served
        # by Host (the wake Lambda finds the record in its host index, a Scan of the table).
        site = (manifest.replace("name: demo", "name: site").replace("service: demo-svc", "service: site-svc")
                + "  routing:\n    mode: route\n    host: site.example.com\n")
        snoozectl(target, args.moto, table, "apply", "-f", "-", stdin=site)
        alb_event = {
            "requestContext": {"elb": {"targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/snooze-wake/6d0ecf831eec9f09"}},
            "httpMethod": "GET", "path": "/dashboard", "queryStringParameters": {},
            "headers": {"host": "Site.Example.com", "accept": "text/html", "user-agent": "Mozilla/5.0",
                        "x-forwarded-proto": "https", "x-forwarded-port": "443"},
            "body": "", "isBase64Encoded": False,
        }
        answer = invoke(args.cargo_lambda, port, target / "debug/snooze-wake", env, alb_event, tmp / "wake-alb.log")
        if answer.get("statusCode") != 200 or "statusDescription" not in answer or "waking up" not in answer.get("body", ""):
            raise SystemExit(f"wake (ALB): expected the wait page in the ALB's shape, got {str(answer)[:400]}")
        record = json.loads(snoozectl(target, args.moto, table, "get", "site", "-o", "json"))
        if not record.get("desired", {}).get("wakeRequestedAt"):
            raise SystemExit(f"wake (ALB): no wakeRequestedAt for site: {record}")
        print(f"wake (ALB event, Host site.example.com): 200 wait page, wakeRequestedAt {record['desired']['wakeRequestedAt']}")

        schedule = json.loads((ROOT / "lambdas/reconciler/tests/fixtures/schedule.json").read_text())
        rec_logs = tmp / "reconciler.log"
        answer = invoke(args.cargo_lambda, port, target / "debug/snooze-reconciler", env, schedule, rec_logs)
        record = json.loads(snoozectl(target, args.moto, table, "get", "demo", "-o", "json"))
        status = record.get("status") or {}
        messages = " ".join(c.get("message", "") for c in status.get("conditions", []))
        if "not found" not in messages and "MISSING" not in messages:
            raise SystemExit(f"reconciler: the status does not say the ECS service is missing: {status}")
        print(f"reconciler: answered {json.dumps(answer)[:120]}, status phase {status.get('phase')}, "
              f"{json_lines(rec_logs)} JSON log lines")
        return 0
    finally:
        stop(watch)
        for log in sorted(tmp.glob("*.log")):
            if os.environ.get("SNOOZE_VERBOSE"):
                print(f"--- {log.name}\n{log.read_text()}")


if __name__ == "__main__":
    sys.exit(main())
