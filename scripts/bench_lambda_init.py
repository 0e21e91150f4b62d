#!/usr/bin/env python3
"""Cold-init benchmark of the Lambda handlers (issue 6).

Measures, for each handler, the time from process start to the first event handled, side by
side in one run: the two Rust Lambdas (`snooze-wake`, `snooze-reconciler`, release builds for
this machine) and a Python handler that does what the replaced system's wake handler did at
import time (`import boto3`, build an ECS and a DynamoDB client) and then handles the event.

Each handler runs against a minimal Lambda Runtime API served here on 127.0.0.1 (the protocol
the real runtime speaks: GET /2018-06-01/runtime/invocation/next, POST .../response). One event
is served; the clock stops when its response arrives. The process is then asked for its peak
memory (VmHWM) and stopped. AWS clients point at moto (MOTO_ENDPOINT), so no call leaves this
machine. Prints a table of median/min/max init times, the ratio, peak memory and zip sizes.

Usage: scripts/bench-lambda-init [--runs N]   (needs MOTO_ENDPOINT or starts nothing itself)

`--check` (stage 20 of scripts/test) is a smoke test instead: one real wake
(`POST /api/v1/services/demo/wake`) through `snooze-wake`, then a scheduled event through
`snooze-reconciler`, at log level info, after an event whose body claims base64 but is not
(which must be a 400 from snooze-wake, not an invocation error). It asserts each answer, that the wake's fact
(`wakeRequestedAt`) was written to the record on moto, and that every line each binary wrote to
stdout is one JSON object (what CloudWatch Logs needs to parse the logs and the EMF metrics).
The benchmark itself times the side-effect-free status read (`GET /api/v1/services/demo`), so
its figures compare like with like across runs and with the Python handler.
"""

import argparse
import http.server
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PY_HANDLER = r'''
import json, os, time, urllib.request
import boto3  # the replaced system's handler imported boto3 and built clients at import time
ecs = boto3.client("ecs", endpoint_url=os.environ["MOTO"], region_name="us-east-1")
ddb = boto3.client("dynamodb", endpoint_url=os.environ["MOTO"], region_name="us-east-1")

def handler(event):
    # What the replaced wake handler did per request: read the service's state.
    try:
        ecs.describe_services(cluster="bench", services=["bench-svc"])
    except Exception:
        pass
    return {"statusCode": 200, "body": "ok"}

api = os.environ["AWS_LAMBDA_RUNTIME_API"]
while True:
    with urllib.request.urlopen(f"http://{api}/2018-06-01/runtime/invocation/next") as r:
        rid = r.headers["Lambda-Runtime-Aws-Request-Id"]
        event = json.loads(r.read())
    body = json.dumps(handler(event)).encode()
    urllib.request.urlopen(urllib.request.Request(
        f"http://{api}/2018-06-01/runtime/invocation/{rid}/response", data=body, method="POST"))
'''

SEED = r'''
import os, boto3
ddb = boto3.client("dynamodb", endpoint_url=os.environ["MOTO"], region_name="us-east-1")
try:
    ddb.create_table(TableName="bench-table", BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "name", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "name", "KeyType": "HASH"}])
except ddb.exceptions.ResourceInUseException:
    pass
ddb.put_item(TableName="bench-table", Item={
    "name": {"S": "demo"}, "apiVersion": {"S": "snooze/v1"}, "kind": {"S": "Service"},
    "generation": {"N": "1"}, "resourceVersion": {"N": "1"},
    "metadata": {"M": {}},
    "spec": {"M": {"target": {"M": {"ecs": {"M": {"cluster": {"S": "bench"}, "service": {"S": "bench-svc"}}}}}}},
})
'''


class RuntimeApi:
    """Serves one event, records when its response arrives, then holds the next poll."""

    def __init__(self, event):
        self.event = json.dumps(event).encode()
        self.served = False
        self.done = threading.Event()
        self.response = None
        api = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                if not self.path.endswith("/invocation/next"):
                    self.send_error(404)
                    return
                if api.served:
                    api.done.wait(30)
                    time.sleep(30)  # hold the second poll; the process is killed meanwhile
                    return
                api.served = True
                self.send_response(200)
                self.send_header("Lambda-Runtime-Aws-Request-Id", "bench-1")
                self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 300_000))
                self.send_header("Lambda-Runtime-Invoked-Function-Arn",
                                 "arn:aws:lambda:us-east-1:123456789012:function:bench")
                self.send_header("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000")
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(api.event)))
                self.end_headers()
                self.wfile.write(api.event)

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                api.response = (self.path, body)
                api.at = time.perf_counter()
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()
                api.done.set()

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def address(self):
        return f"127.0.0.1:{self.server.server_address[1]}"

    def close(self):
        self.server.shutdown()


def vm_hwm_kib(pid):
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def run_once(cmd, env, event):
    """Starts `cmd` against a Runtime API serving `event`; returns (seconds to the response,
    peak RSS KiB, (response path, body), stdout text). Stdout is drained while the process runs
    (a full pipe would block it)."""
    api = RuntimeApi(event)
    env = dict(env, AWS_LAMBDA_RUNTIME_API=api.address)
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = []
    reader = threading.Thread(target=lambda: out.append(proc.stdout.read()), daemon=True)
    reader.start()
    ok = api.done.wait(60)
    elapsed = (api.at - start) if ok else None
    hwm = vm_hwm_kib(proc.pid)
    proc.kill()
    err = proc.stderr.read()
    proc.wait()
    reader.join(10)
    api.close()
    if not ok:
        raise SystemExit(f"{cmd[0]} handled no event within 60 s:\n{err.decode()[-2000:]}")
    if api.response[0].endswith("/error"):
        raise SystemExit(f"{cmd[0]} reported an invocation error: {api.response[1][:500]!r}")
    return elapsed, hwm, api.response, b"".join(out).decode(errors="replace")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--target-dir", default=os.environ.get("CARGO_TARGET_DIR", str(ROOT / "target")))
    ap.add_argument("--profile", choices=["release", "debug"], default="release")
    ap.add_argument("--check", action="store_true",
                    help="smoke test: one run, assert each handler answered its event correctly")
    args = ap.parse_args()
    moto = os.environ.get("MOTO_ENDPOINT")
    if not moto:
        raise SystemExit("MOTO_ENDPOINT is unset: `source scripts/lib.sh; start_moto` first")
    python = ROOT / ".venv-moto/bin/python"  # moto depends on boto3: the same boto3 a Lambda gets
    release = Path(args.target_dir) / args.profile
    base_env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true", "AWS_LAMBDA_FUNCTION_NAME": "bench",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128", "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": "bench", "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
        "SNOOZE_TABLE": "bench-table", "SNOOZE_ENDPOINT_URL": moto, "MOTO": moto, "RUST_LOG": "warn",
    }
    # The table and one record, so each handler's first event makes one real round trip.
    subprocess.run([str(python), "-c", SEED], env=dict(base_env), check=True)
    http_event = json.loads((ROOT / "lambdas/wake/tests/fixtures/bench-status.json").read_text())
    schedule = json.loads((ROOT / "lambdas/reconciler/tests/fixtures/schedule.json").read_text())
    handlers = [
        ("python wake (boto3, 2 clients)", [str(python), "-c", PY_HANDLER], http_event),
        ("rust snooze-wake", [str(release / "snooze-wake")], http_event),
        ("rust snooze-reconciler", [str(release / "snooze-reconciler")], schedule),
    ]
    for name, cmd, _ in handlers:
        if not Path(cmd[0]).exists():
            raise SystemExit(f"{cmd[0]} is missing: build with `cargo build --release -p snooze-wake -p snooze-reconciler`")
    if args.check:
        return check(release, dict(base_env, RUST_LOG="info"), python, http_event, schedule)
    results = {}
    for i in range(args.runs):  # interleaved, so machine noise hits every handler alike
        for name, cmd, event in handlers:
            t, hwm, _, _ = run_once(cmd, base_env, event)
            results.setdefault(name, []).append((t, hwm))
    print(f"cold init: process start -> first event handled, {args.runs} runs each, interleaved")
    print(f"{'handler':34} {'median ms':>10} {'min ms':>8} {'max ms':>8} {'peak RSS MiB':>13}")
    medians = {}
    for name, rows in results.items():
        ts = [t * 1000 for t, _ in rows]
        hwm = max((h or 0) for _, h in rows) / 1024
        medians[name] = statistics.median(ts)
        print(f"{name:34} {medians[name]:10.1f} {min(ts):8.1f} {max(ts):8.1f} {hwm:13.1f}")
    py = medians[handlers[0][0]]
    for name in list(medians)[1:]:
        print(f"ratio python / {name}: {py / medians[name]:.1f}x")
    for zip_path in sorted((ROOT / "build").glob("*/bootstrap.zip")):
        print(f"zip {zip_path.relative_to(ROOT)}: {zip_path.stat().st_size / 1e6:.2f} MB")


WAKE_RECORDED = r'''
import json, os, sys, boto3
ddb = boto3.client("dynamodb", endpoint_url=os.environ["MOTO"], region_name="us-east-1")
item = ddb.get_item(TableName="bench-table", Key={"name": {"S": "demo"}}, ConsistentRead=True).get("Item", {})
print(json.dumps({k: item[k] for k in ("wakeRequestedAt", "status") if k in item}))
'''


def wake_event(status_event):
    """The API Gateway v2 event of `POST /api/v1/services/demo/wake`, from the status read's."""
    event = json.loads(json.dumps(status_event))
    path = "/api/v1/services/demo/wake"
    event["rawPath"] = path
    event["requestContext"]["http"].update(method="POST", path=path)
    event["requestContext"]["requestId"] = "check-wake-1"
    return event


def log_problems(stdout):
    """Lines of `stdout` CloudWatch could not parse: each must be one JSON object, either an
    EMF document (`_aws`) or a tracing event (`level` and `fields`)."""
    problems = []
    for line in stdout.splitlines():
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
        except ValueError:
            problems.append(f"not JSON: {line[:200]!r}")
            continue
        if not isinstance(doc, dict) or not ("_aws" in doc or {"level", "fields"} <= set(doc)):
            problems.append(f"neither an EMF document nor a JSON log event: {line[:200]!r}")
    return problems


def messages(stdout):
    """The `fields.message` of every JSON log event in `stdout`."""
    out = []
    for line in stdout.splitlines():
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if isinstance(doc, dict) and isinstance(doc.get("fields"), dict):
            out.append(doc["fields"].get("message"))
    return out


def check(release, env, python, status_event, schedule):
    """A real wake through snooze-wake, then a scheduled pass through snooze-reconciler, through
    the real runtime protocol; asserts the answers, the record on moto and the log lines."""
    def record():
        out = subprocess.run([str(python), "-c", WAKE_RECORDED], env=env, check=True, capture_output=True, text=True)
        return json.loads(out.stdout)

    results = []

    def expect(name, ok, detail):
        results.append(ok)
        print(f"{'ok  ' if ok else 'FAIL'} {name}: {detail}")

    expect("seeded record has no wake yet", "wakeRequestedAt" not in record(), record())
    bad = wake_event(status_event)  # issue 13 class 8: a body that claims base64 but is not
    bad.update(body="%%% not base64 %%%", isBase64Encoded=True)
    runs = [
        ("rust snooze-wake (malformed event)", [str(release / "snooze-wake")], bad,
         lambda r: r.get("statusCode") == 400 and "base64" in r.get("body", ""),
         "malformed event rejected"),
        ("rust snooze-wake", [str(release / "snooze-wake")], wake_event(status_event),
         lambda r: r.get("statusCode") in (200, 202) and '"name":"demo"' in r.get("body", ""),
         "wake recorded"),
        ("rust snooze-reconciler", [str(release / "snooze-reconciler")], schedule,
         lambda r: r.get("trigger") == "schedule" and r.get("records") == 1,
         "scheduled event: full pass"),
    ]
    for name, cmd, event, answer_ok, logged in runs:
        _, _, (path, body), stdout = run_once(cmd, env, event)
        answer = json.loads(body)
        expect(name, path.endswith("/response") and answer_ok(answer), f"{path} {body[:300]!r}")
        problems = log_problems(stdout)
        lines = len([line for line in stdout.splitlines() if line.strip()])
        expect(f"{name} stdout is JSON lines", not problems and lines > 0,
               f"{lines} lines" + "".join(f"\n     {p}" for p in problems))
        expect(f"{name} logged {logged!r}", logged in messages(stdout), messages(stdout)[:10])
        stored = record()
        if name == "rust snooze-wake (malformed event)":
            expect("the malformed event wrote nothing", "wakeRequestedAt" not in stored, stored)
        elif name == "rust snooze-wake":
            expect("the wake was written to the record on moto", "wakeRequestedAt" in stored, stored)
        else:
            expect("the pass published the record's status on moto", "status" in stored,
                   f"phase {stored.get('status', {}).get('M', {}).get('phase')}")
    print(f"lambda runtime: {sum(results)} passed, {len(results) - sum(results)} failed")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
