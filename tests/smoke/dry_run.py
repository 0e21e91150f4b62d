#!/usr/bin/env python3
"""Dry run of scripts/aws_smoke.py against moto (stage 52): its own logic, every step, end to end.

moto has the record table and the shared load balancer (listener, the wake and the service
target groups, the host's rule tagged snooze:host at weights 100/0). What moto cannot be, this
harness plays, from what it reads and writes in moto:
- the reconciler: a wake request newer than the last sleep takes the record Asleep -> Waking ->
  Ready and then moves the rule's weights to the service; a sleep request moves them back and
  takes the record Sleeping -> Asleep;
- the load balancer's data path: an HTTP server on 127.0.0.1 that answers as the wait page
  (recording a wake, `X-Robots-Tag: noindex`) while the rule weights the wake group, else as
  the app.

Run 1 must pass all 8 steps. Run 2, where the "reconciler" never moves the weights, must fail
at step "routed" (the script can fail). Exit code 0 when both behave so.

Usage: dry_run.py --moto URL
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import aws_smoke  # noqa: E402

HOST = "demo.example.com"


def world(moto: str, n: int) -> dict:
    kw = {"endpoint_url": moto, "region_name": "us-east-1"}
    ddb, ec2, elb = (boto3.client(s, **kw) for s in ("dynamodb", "ec2", "elbv2"))
    table = f"snooze-smoke-{os.getpid()}-{n}"
    ddb.create_table(TableName=table, KeySchema=[{"AttributeName": "name", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "name", "AttributeType": "S"}],
                     BillingMode="PAY_PER_REQUEST")
    ddb.put_item(TableName=table, Item={
        "name": {"S": "demo"},
        "spec": {"M": {"routing": {"M": {"mode": {"S": "route"}, "host": {"S": HOST}}}}},
        "status": {"M": {"phase": {"S": "Asleep"}}},
    })
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=az)["Subnet"]["SubnetId"]
               for i, az in enumerate(["us-east-1a", "us-east-1b"])]
    lb = elb.create_load_balancer(Name=f"smoke-{os.getpid()}-{n}", Subnets=subnets)["LoadBalancers"][0]["LoadBalancerArn"]
    group = lambda name: elb.create_target_group(Name=name, Protocol="HTTP", Port=8080, VpcId=vpc,  # noqa: E731
                                                 TargetType="ip")["TargetGroups"][0]["TargetGroupArn"]
    wake, service = group(f"wake-{os.getpid()}-{n}"), group(f"svc-{os.getpid()}-{n}")
    listener = elb.create_listener(LoadBalancerArn=lb, Protocol="HTTP", Port=80,
                                   DefaultActions=[{"Type": "forward", "TargetGroupArn": wake}])["Listeners"][0]["ListenerArn"]
    rule = elb.create_rule(ListenerArn=listener, Priority=1,
                           Conditions=[{"Field": "host-header", "HostHeaderConfig": {"Values": [HOST]}}],
                           Actions=[forward(wake, service, to_service=False)],
                           Tags=[{"Key": "snooze:host", "Value": HOST}])["Rules"][0]["RuleArn"]
    return {"ddb": ddb, "elb": elb, "table": table, "listener": listener, "rule": rule, "wake": wake, "service": service}


def forward(wake: str, service: str, to_service: bool) -> dict:
    return {"Type": "forward", "ForwardConfig": {"TargetGroups": [
        {"TargetGroupArn": wake, "Weight": 0 if to_service else 100},
        {"TargetGroupArn": service, "Weight": 100 if to_service else 0}]}}


def routed_to_service(w: dict) -> bool:
    rule = w["elb"].describe_rules(RuleArns=[w["rule"]])["Rules"][0]
    return any(g["TargetGroupArn"] == w["service"] and g["Weight"] > 0
               for g in rule["Actions"][0]["ForwardConfig"]["TargetGroups"])


def controller(w: dict, stop: threading.Event, moves_weights: bool) -> None:
    """The reconciler's part, by what the record says."""
    ddb, key = w["ddb"], {"name": {"S": "demo"}}

    def set_phase(p: str) -> None:
        ddb.update_item(TableName=w["table"], Key=key, UpdateExpression="SET #s.phase = :p",
                        ExpressionAttributeNames={"#s": "status"}, ExpressionAttributeValues={":p": {"S": p}})

    while not stop.is_set():
        item = ddb.get_item(TableName=w["table"], Key=key, ConsistentRead=True)["Item"]
        phase = item["status"]["M"]["phase"]["S"]
        woke = item.get("wakeRequestedAt", {}).get("S", "")
        slept = item.get("sleepRequestedAt", {}).get("S", "")
        wanted = woke > slept
        if wanted and phase == "Asleep":
            set_phase("Waking")
            time.sleep(0.5)
            set_phase("Ready")
            if moves_weights:
                w["elb"].modify_rule(RuleArn=w["rule"], Actions=[forward(w["wake"], w["service"], True)])
        elif not wanted and phase in ("Ready", "Waking"):
            w["elb"].modify_rule(RuleArn=w["rule"], Actions=[forward(w["wake"], w["service"], False)])
            set_phase("Sleeping")
            time.sleep(0.3)
            set_phase("Asleep")
        time.sleep(0.1)


def serve(w: dict) -> ThreadingHTTPServer:
    """The stable address: the wait page (and a wake) while the rule weights the wake group."""
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            if self.headers.get("Host") != HOST:
                self.send_response(404)
                self.end_headers()
                return
            if routed_to_service(w):
                body, extra = b"<h1>demo app</h1>", {}
            else:
                now = aws_smoke.now_rfc3339()
                w["ddb"].update_item(TableName=w["table"], Key={"name": {"S": "demo"}},
                                     UpdateExpression="SET wakeRequestedAt = :t",
                                     ExpressionAttributeValues={":t": {"S": now}})
                body, extra = b"<h1>demo is waking up</h1>", {"X-Robots-Tag": "noindex, nofollow"}
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            for k, v in extra.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def run(moto: str, n: int, moves_weights: bool, timeout: float) -> tuple[int, str]:
    w = world(moto, n)
    server = serve(w)
    stop = threading.Event()
    t = threading.Thread(target=controller, args=(w, stop, moves_weights), daemon=True)
    t.start()
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            code = aws_smoke.main([
                "--host", HOST, "--listener-arn", w["listener"], "--table", w["table"],
                "--endpoint-url", moto, "--region", "us-east-1",
                "--address", f"http://127.0.0.1:{server.server_address[1]}/",
                "--poll", "0.2", "--timeout", str(timeout)])
    finally:
        stop.set()
        server.shutdown()
    return code, out.getvalue()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--moto", required=True)
    args = ap.parse_args()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")

    code, out = run(args.moto, 1, moves_weights=True, timeout=20)
    print(out, end="")
    if code != 0 or out.count("PASS") != 8:
        print(f"dry run 1: expected 8 PASS and exit 0, got exit {code}", file=sys.stderr)
        return 1
    code, out = run(args.moto, 2, moves_weights=False, timeout=3)
    print(out, end="")
    lines = [l for l in out.splitlines() if l.startswith(("PASS", "FAIL"))]
    if code != 1 or not lines or not lines[-1].startswith("FAIL  routed"):
        print(f"dry run 2: expected a FAIL at step routed and exit 1, got exit {code}", file=sys.stderr)
        return 1
    print("dry run: all 8 steps pass against a working environment; a rule that never moves fails at 'routed'")
    return 0


if __name__ == "__main__":
    sys.exit(main())
