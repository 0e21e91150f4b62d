"""Contract: the demo record Terraform creates (envs/demo `aws_dynamodb_table_item.demo`) is the
record operators would apply from manifests/demo-ecs.yaml, points at the ECS service the
demo-service module creates, and is laid out the way the DynamoDB store reads items.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

import principals as pr
import rust_src
import tf
from rust_src import ROOT

ENV = tf.module("envs/demo")
DEMO = tf.module("modules/demo-service")


def known_values() -> dict[str, str]:
    """What the item's expressions evaluate to in envs/demo (module inputs, else defaults)."""
    inputs = ENV.modules["demo_service"]
    record_name = ENV.locals["record_name"]

    def demo(var: str):
        v = inputs.get(var, DEMO.variables[var].get("default"))
        return record_name if v == "${local.record_name}" else v

    return {
        "${local.record_name}": record_name,
        "${module.demo_service.cluster_name}": demo("cluster_name"),
        "${module.demo_service.service_name}": demo("service_name"),
        "${tostring(module.demo_service.app_port)}": str(demo("app_port")),
    }


def evaluated_item() -> dict:
    raw = tf.jsonencode_arg(ENV.resource("aws_dynamodb_table_item", "demo")["item"])
    values = known_values()

    def ev(v):
        if isinstance(v, dict):
            return {k: ev(x) for k, x in v.items()}
        if isinstance(v, list):
            return [ev(x) for x in v]
        if isinstance(v, str) and v.startswith("${"):
            assert v in values, f"the demo item uses {v}, which this test cannot evaluate"
            return values[v]
        return v

    return ev(raw)


def plain(av: dict):
    """DynamoDB JSON (`{"S": "x"}`, `{"M": {...}}`) to plain values."""
    (t, v), = av.items()
    if t == "S":
        return v
    if t == "N":
        return int(v) if re.fullmatch(r"-?\d+", v) else float(v)
    if t == "BOOL":
        return v
    if t == "M":
        return {k: plain(x) for k, x in v.items()}
    if t == "L":
        return [plain(x) for x in v]
    if t == "NULL":
        return None
    raise AssertionError(f"unexpected attribute type {t}")


def item() -> dict:
    return {k: plain(v) for k, v in evaluated_item().items()}


def test_item_is_the_demo_manifest():
    manifest = yaml.safe_load((ROOT / "manifests/demo-ecs.yaml").read_text())
    it = item()
    assert it["name"] == manifest["metadata"]["name"] == ENV.locals["record_name"]
    assert it["apiVersion"] == manifest["apiVersion"] and it["kind"] == manifest["kind"]
    assert it["spec"] == manifest["spec"], "the Terraform demo record and manifests/demo-ecs.yaml differ"
    assert it["metadata"].get("labels", {}) == manifest["metadata"].get("labels", {})


def test_item_targets_the_demo_service():
    it, values = item(), known_values()
    assert it["spec"]["target"]["ecs"] == {
        "cluster": values["${module.demo_service.cluster_name}"],
        "service": values["${module.demo_service.service_name}"],
    }
    assert it["spec"]["endpoint"]["port"] == int(values["${tostring(module.demo_service.app_port)}"])
    assert ENV.modules["snooze"]["default_service"] == "${local.record_name}"
    assert ENV.modules["demo_service"]["record_name"] == "${local.record_name}", "the agent writes this record"


def schema_files() -> list[Path]:
    return sorted((ROOT / "manifests").rglob("*.json"))


def test_item_validates_against_the_record_schema():
    import jsonschema

    schemas = [p for p in schema_files() if "$schema" in json.loads(p.read_text())]
    if not schemas:
        pytest.fail("no generated record JSON Schema under manifests/ (snoozectl schema writes it)")
    it = item()
    # The stored item keeps the name as the key; the record view has it in metadata.
    record = {"apiVersion": it["apiVersion"], "kind": it["kind"],
              "metadata": {"name": it["name"], **it["metadata"]}, "spec": it["spec"]}
    for path in schemas:
        jsonschema.validate(record, json.loads(path.read_text()))


def test_item_layout_is_what_the_dynamodb_store_reads():
    """Top-level attributes of the item are ones the DynamoDB store names (derived from its
    sources: string literals and constants), and the key is `name`."""
    src = pr.dynamodb_store_code()
    consts = rust_src.string_constants(src)
    named = set(re.findall(r'"([A-Za-z][A-Za-z0-9]*)"', src)) | set(consts.values())
    attrs = set(evaluated_item())
    assert "name" in attrs
    missing = sorted(a for a in attrs if a not in named and a not in {"apiVersion", "kind", "metadata", "spec"})
    assert not missing, f"the demo item has attributes the DynamoDB store never names: {missing}"
    # apiVersion/kind/metadata/spec may be written through serde (field names of the record
    # types); then the store must name the other top-level attributes it reads.
    for a in ("generation", "resourceVersion"):
        assert (a in attrs) == (a in named), f"{a}: item has it: {a in attrs}; store names it: {a in named}"


# --- end to end: the real store code reads the item Terraform writes -------------------------

def moto_endpoint() -> str:
    import os

    endpoint = os.environ.get("MOTO_ENDPOINT")
    if not endpoint:
        pytest.fail("MOTO_ENDPOINT is not set: run through scripts/test 50 (it starts moto), "
                    "or `source scripts/lib.sh; start_moto` first")
    return endpoint


def snoozectl() -> Path:
    import os

    exe = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "debug" / "snoozectl"
    if not exe.exists():
        pytest.fail(f"{exe} is missing: `cargo build -p snooze --features aws --bin snoozectl` (stage 50 does)")
    return exe


def dynamodb_call(endpoint: str, target: str, body: dict) -> dict:
    """One DynamoDB JSON-protocol call to the emulator (moto does not check signatures)."""
    import urllib.request

    req = urllib.request.Request(
        endpoint,
        data=json.dumps(body).encode(),
        headers={
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": f"DynamoDB_20120810.{target}",
            "Authorization": "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/dynamodb/aws4_request, "
            "SignedHeaders=host, Signature=0",
        },
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read() or b"{}")


def contains(got, want) -> bool:
    """`got` has everything `want` has (the store fills in defaults, e.g. endpoint.address)."""
    if isinstance(want, dict):
        return isinstance(got, dict) and all(k in got and contains(got[k], v) for k, v in want.items())
    return got == want


def test_the_store_reads_the_terraform_item():
    """`snoozectl init` creates the table the way the store does, the Terraform item is put
    into it as Terraform would, and `snoozectl get demo -o json` must read a valid record
    (not an Invalid/malformed entry) equal to the demo manifest."""
    import os
    import subprocess
    import uuid

    endpoint, exe = moto_endpoint(), snoozectl()
    table = f"tf-contract-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
           "AWS_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}
    base = [str(exe), "--store", f"dynamodb://{table}", "--endpoint-url", endpoint]
    init = subprocess.run([*base, "init"], capture_output=True, text=True, env=env, timeout=120)
    assert init.returncode == 0, init.stderr
    try:
        dynamodb_call(endpoint, "PutItem", {"TableName": table, "Item": evaluated_item()})
        got = subprocess.run([*base, "get", ENV.locals["record_name"], "-o", "json"],
                             capture_output=True, text=True, env=env, timeout=60)
        assert got.returncode == 0, got.stderr
        record = json.loads(got.stdout)
        manifest = yaml.safe_load((ROOT / "manifests/demo-ecs.yaml").read_text())
        assert record.get("metadata", {}).get("name") == manifest["metadata"]["name"], record
        assert (record.get("status") or {}).get("phase") != "Invalid", record
        assert "error" not in record and "malformed" not in json.dumps(record).lower(), record
        assert contains(record["spec"], manifest["spec"]), (record["spec"], manifest["spec"])
        assert record["metadata"].get("labels") == manifest["metadata"]["labels"]
    finally:
        dynamodb_call(endpoint, "DeleteTable", {"TableName": table})


def test_table_matches_what_the_store_creates():
    """modules/snooze creates the table as `DynamoStore::create_table` does (key, billing, stream)."""
    src = rust_src.reachable_bodies(pr.dynamodb_store_code(), {"create_table"})
    assert re.search(r'attribute_name\(\s*"name"\s*\)', src) and "ScalarAttributeType::S" in src
    assert "BillingMode::PayPerRequest" in src and "StreamViewType::NewAndOldImages" in src
    t = tf.module("modules/snooze").resource("aws_dynamodb_table", "records")
    assert (t["hash_key"], t["billing_mode"], t["stream_view_type"]) == ("name", "PAY_PER_REQUEST", "NEW_AND_OLD_IMAGES")
