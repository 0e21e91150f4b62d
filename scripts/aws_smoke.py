#!/usr/bin/env python3
"""First-deployment smoke test of route mode on a real AWS account (run by `scripts/aws-smoke`).

What moto cannot show (rule propagation, target health, IAM, the load balancer's data path) is
checked here, on the deployed environment, through the stable address itself:

  1. record     the record exists and is in route mode for HOST
  2. asleep     it is asleep (a sleep is requested first when it is not), and the host's
                listener rule (tag snooze:host) forwards to the wake group only
  3. wait page  GET https://HOST/ answers the wait page, and the visit recorded a wake
  4. ready      the record goes Waking -> Ready (each phase printed with its time)
  5. routed     the rule's weights moved to the service's group
  6. app        GET https://HOST/ answers the app, not the wait page
  7. sleep      a sleep request takes the record to Sleeping/Asleep
  8. back       the rule's weights moved back to the wake group

Each step prints `PASS` or `FAIL`, its name, the seconds it took and what it saw; the last line
counts them. Exit code: 0 all passed, 1 a step failed, 2 bad arguments. Credentials and region
come from the usual AWS chain (`AWS_PROFILE`, `AWS_REGION`).

`--endpoint-url` and `--address` point the script at an emulator and a local address instead:
`scripts/test.d/52-aws-smoke-dry-run.sh` runs it that way against moto as a dry run of its own
logic (tests/smoke/dry_run.py plays the reconciler and the load balancer there).
"""

from __future__ import annotations

import argparse
import datetime as dt
import ssl
import sys
import time
import urllib.error
import urllib.request

import boto3

HOST_TAG = "snooze:host"
WAIT_PAGE_MARK = "noindex"  # the wait page's X-Robots-Tag; an app's pages do not send it


def now_rfc3339() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class Smoke:
    def __init__(self, args: argparse.Namespace):
        kw = {"region_name": args.region} if args.region else {}
        if args.endpoint_url:
            kw["endpoint_url"] = args.endpoint_url
        self.args = args
        self.ddb = boto3.client("dynamodb", **kw)
        self.elb = boto3.client("elbv2", **kw)
        self.address = args.address or f"https://{args.host}/"
        self.results: list[bool] = []

    # ---- what the script reads -------------------------------------------------------------

    def record(self) -> dict:
        item = self.ddb.get_item(TableName=self.args.table, Key={"name": {"S": self.args.record}},
                                 ConsistentRead=True).get("Item")
        if item is None:
            raise Failed(f"no record {self.args.record!r} in table {self.args.table!r}")
        return item

    def phase(self) -> str:
        status = self.record().get("status", {}).get("M", {})
        return status.get("phase", {}).get("S", "-")

    def weights(self) -> list[tuple[str, int]]:
        """The host's rule's forward: [(target group ARN, weight)]."""
        rules, marker = [], None
        while True:
            kw = {"ListenerArn": self.args.listener_arn, "PageSize": 400}
            if marker:
                kw["Marker"] = marker
            out = self.elb.describe_rules(**kw)
            rules += [r for r in out["Rules"] if not r.get("IsDefault")]
            marker = out.get("NextMarker")
            if not marker:
                break
        for i in range(0, len(rules), 20):
            chunk = rules[i:i + 20]
            tags = self.elb.describe_tags(ResourceArns=[r["RuleArn"] for r in chunk])["TagDescriptions"]
            for d in tags:
                if any(t["Key"] == HOST_TAG and t["Value"] == self.args.host for t in d.get("Tags", [])):
                    rule = next(r for r in chunk if r["RuleArn"] == d["ResourceArn"])
                    groups = rule["Actions"][0].get("ForwardConfig", {}).get("TargetGroups", [])
                    return [(g["TargetGroupArn"], int(g.get("Weight", 1))) for g in groups]
        raise Failed(f"no listener rule tagged {HOST_TAG}={self.args.host} on {self.args.listener_arn}")

    def get(self) -> tuple[int, dict, str]:
        req = urllib.request.Request(self.address, headers={
            "Host": self.args.host, "Accept": "text/html", "User-Agent": "snooze-aws-smoke (Mozilla/5.0)"})
        ctx = ssl.create_default_context()
        try:
            with urllib.request.urlopen(req, timeout=30, context=ctx) as r:
                return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read(200_000).decode("utf-8", "replace")
        except urllib.error.HTTPError as e:
            return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read(200_000).decode("utf-8", "replace")

    def request_sleep(self) -> None:
        self.ddb.update_item(TableName=self.args.table, Key={"name": {"S": self.args.record}},
                             UpdateExpression="SET sleepRequestedAt = :t",
                             ConditionExpression="attribute_exists(#n)",
                             ExpressionAttributeNames={"#n": "name"},
                             ExpressionAttributeValues={":t": {"S": now_rfc3339()}})

    def until(self, what: str, check, limit: float):
        deadline = time.monotonic() + limit
        last = None
        while True:
            got = check()
            if got:
                return got
            if time.monotonic() > deadline:
                raise Failed(f"timed out after {limit:.0f} s waiting for {what} (last: {last})")
            last = self.phase()
            time.sleep(self.args.poll)

    # ---- the steps -------------------------------------------------------------------------

    def step(self, name: str, f) -> bool:
        t0 = time.monotonic()
        try:
            detail, ok = f() or "", True
        except Failed as e:
            detail, ok = str(e), False
        except Exception as e:  # an AWS or network error is a failed step, not a crash
            detail, ok = f"{type(e).__name__}: {e}", False
        print(f"{'PASS' if ok else 'FAIL'}  {name:<10} {time.monotonic() - t0:6.1f} s  {detail}", flush=True)
        self.results.append(ok)
        return ok

    def run(self) -> int:
        a = self.args
        wake_group = None

        def record():
            spec = self.record().get("spec", {}).get("M", {})
            routing = spec.get("routing", {}).get("M", {})
            mode, host = routing.get("mode", {}).get("S"), routing.get("host", {}).get("S")
            if mode != "route" or host != a.host:
                raise Failed(f"spec.routing is {mode!r} at {host!r}, not route at {a.host!r}")
            return f"{a.record}: route mode at {host}"

        def asleep():
            nonlocal wake_group
            if self.phase() != "Asleep":
                self.request_sleep()
                self.until("Asleep", lambda: self.phase() == "Asleep", a.timeout)
            def one_live_group():
                g = self.weights()
                return g if len([x for x in g if x[1] > 0]) == 1 else None
            w = self.until("the rule at the wake group only", one_live_group, a.timeout)
            live = [g for g, n in w if n > 0]
            wake_group = live[0]
            if len(w) < 2:
                raise Failed(f"the rule forwards to {w}: the service's target group must stay in it (weight 0)")
            return f"phase Asleep; rule weights {w}"

        def wait_page():
            before = self.record().get("wakeRequestedAt", {}).get("S")
            status, headers, body = self.get()
            if status != 200 or WAIT_PAGE_MARK not in headers.get("x-robots-tag", ""):
                raise Failed(f"expected the wait page, got HTTP {status} {headers.get('content-type')}: {body[:120]!r}")
            def woken():
                at = self.record().get("wakeRequestedAt", {}).get("S")
                return at if at != before else None
            after = self.until("the wake request", woken, 30)
            return f"HTTP 200 wait page; wake recorded at {after}"

        def ready():
            seen, t0 = [], time.monotonic()

            def check():
                p = self.phase()
                if not seen or seen[-1][0] != p:
                    seen.append((p, time.monotonic() - t0))
                if p == "Failed":
                    raise Failed(f"phase Failed: {self.record().get('status', {}).get('M', {}).get('message', {}).get('S')}")
                return p == "Ready"
            self.until("Ready", check, a.timeout)
            return " -> ".join(f"{p} at {t:.0f} s" for p, t in seen)

        def routed():
            def at_service():
                g = self.weights()
                to_service = any(n > 0 and x != wake_group for x, n in g)
                return g if to_service and all(n == 0 for x, n in g if x == wake_group) else None
            w = self.until("the weights at the service", at_service, a.timeout)
            return f"rule weights {w}"

        def app():
            def serves():
                status, headers, body = self.get()
                return (status, headers) if WAIT_PAGE_MARK not in headers.get("x-robots-tag", "") else None
            status, headers = self.until("the app at the address (rule propagation)", serves, a.timeout)
            return f"HTTP {status} from the app ({headers.get('content-type')})"

        def sleep():
            self.request_sleep()
            def going():
                p = self.phase()
                return p if p in ("Sleeping", "Asleep") else None
            p = self.until("Sleeping or Asleep", going, a.timeout)
            return f"phase {p}"

        def back():
            def at_wake():
                g = self.weights()
                return g if all((n > 0) == (x == wake_group) for x, n in g) else None
            w = self.until("the weights back at the wake group", at_wake, a.timeout)
            return f"rule weights {w}"

        t0 = time.monotonic()
        for name, f in [("record", record), ("asleep", asleep), ("wait page", wait_page), ("ready", ready),
                        ("routed", routed), ("app", app), ("sleep", sleep), ("back", back)]:
            if not self.step(name, f):
                break
        passed = sum(self.results)
        print(f"{passed} of 8 steps passed in {time.monotonic() - t0:.1f} s", flush=True)
        return 0 if passed == 8 else 1


class Failed(Exception):
    pass


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", required=True, help="the stable address, e.g. demo.example.com")
    ap.add_argument("--listener-arn", required=True, help="the shared load balancer's HTTPS listener (Terraform: module route-alb output listener_arn)")
    ap.add_argument("--record", default="demo", help="the record's name (default demo)")
    ap.add_argument("--table", default="snooze", help="the record table (default snooze)")
    ap.add_argument("--region", help="AWS region (default: the usual chain)")
    ap.add_argument("--timeout", type=float, default=300, help="seconds each step may take (default 300)")
    ap.add_argument("--poll", type=float, default=2, help="seconds between reads (default 2)")
    ap.add_argument("--endpoint-url", help="an AWS emulator (the dry run)")
    ap.add_argument("--address", help="the URL to fetch instead of https://HOST/ (the dry run); Host is still HOST")
    return Smoke(ap.parse_args(argv)).run()


if __name__ == "__main__":
    sys.exit(main())
