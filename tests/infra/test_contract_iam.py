"""Contract: each principal's IAM policy allows exactly the AWS actions its code calls.

Code side: the operations the code declares for each principal (`snooze::aws_calls::OPERATIONS`,
exported to infra/aws-operations.json; the moto tests check the declaration against the calls
the SDK interceptors counted).
Infrastructure side (derived from the Terraform that wires the function): what the Lambda
service does with the function's role — write its logs, read the table's stream for the event
source mapping, send to the on-failure queue / DLQ (and use that queue's KMS key), X-Ray.
"""

from __future__ import annotations

import re

import pytest

import principals as pr
import rust_src
import tf

# Top-level attributes of a record item (DESIGN.md §2, §6: the `desired` facts are top-level so
# IAM's dynamodb:Attributes can name them).
RECORD_ATTRIBUTES = {
    "name", "apiVersion", "kind", "metadata", "spec", "status", "generation", "resourceVersion",
    "wakeRequestedAt", "lastActivityAt", "sleepRequestedAt",
}

# Actions AWS does not scope to a resource ARN: the only ones allowed with "Resource": "*".
NO_RESOURCE_LEVEL = {
    "ec2:DescribeNetworkInterfaces",
    "ecs:DescribeTaskDefinition",
    "ecs:ListTasks",  # scoped with the ecs:cluster condition key instead (checked below)
    "ecr:GetAuthorizationToken",
    "xray:PutTelemetryRecords",
    "xray:PutTraceSegments",
}

P = pr.principals()


def lambda_of(name: str) -> dict | None:
    m = tf.module("modules/snooze")
    return m.resources["aws_lambda_function"].get(name)


def infra_actions(name: str) -> dict[str, str]:
    """Actions the Lambda service performs with the function's role, from the Terraform."""
    fn = lambda_of(name)
    if fn is None:
        return {}
    m = tf.module("modules/snooze")
    why: dict[str, str] = {}
    ref = f"aws_lambda_function.{name}"
    if "logging_config" in fn or any(
        lg.get("name", "").startswith("/aws/lambda/") and name in lg.get("name", "")
        for lg in m.resources.get("aws_cloudwatch_log_group", {}).values()
    ):
        for a in ("logs:CreateLogStream", "logs:PutLogEvents"):
            why[a] = "the function writes to its Terraform-managed log group"
    if "tracing_config" in fn and tf.one(fn["tracing_config"]).get("mode") != "PassThrough":
        for a in ("xray:PutTelemetryRecords", "xray:PutTraceSegments"):
            why[a] = "tracing_config can be Active (var.xray_tracing)"
    queues = set()
    for esm in m.resources.get("aws_lambda_event_source_mapping", {}).values():
        if ref not in esm.get("function_name", ""):
            continue
        if "stream_arn" in esm.get("event_source_arn", ""):
            for a in ("dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams"):
                why[a] = "the event source mapping reads the table's stream with the function's role"
        for dest in esm.get("destination_config", []):
            for of in dest.get("on_failure", []):
                queues |= set(re.findall(r"aws_sqs_queue\.(\w+)\.arn", of.get("destination_arn", "")))
    for dlq in fn.get("dead_letter_config", []):
        queues |= set(re.findall(r"aws_sqs_queue\.(\w+)\.arn", dlq.get("target_arn", "")))
    for q in queues:
        why["sqs:SendMessage"] = f"failed batches/events go to aws_sqs_queue.{q}"
        if m.resource("aws_sqs_queue", q).get("kms_master_key_id"):
            for a in ("kms:Decrypt", "kms:GenerateDataKey"):
                why[a] = f"aws_sqs_queue.{q} is encrypted with a customer managed key"
    return why


def policy(name: str) -> dict:
    p = P[name]
    return tf.module(p.tf_module).policy_document(p.policy)


def test_every_principal_declares_its_operations():
    """The export names exactly the principals the policies are checked for, each with actions."""
    declared = pr.declared_operations()
    assert set(declared) == set(P), f"infra/aws-operations.json has {sorted(declared)}, principals.py {sorted(P)}"
    for name, actions in declared.items():
        assert actions, f"{name}: no operation declared"
        assert all(re.fullmatch(r"(dynamodb|ecs|ec2):[A-Z][A-Za-z]+", a) for a in actions), actions


@pytest.mark.parametrize("name", sorted(P))
def test_policy_allows_exactly_what_the_code_calls(name):
    code, why_code = pr.code_actions(P[name])
    why_infra = infra_actions(name)
    expected = code | set(why_infra)
    allowed = tf.actions(policy(name))
    missing = sorted(expected - allowed)
    extra = sorted(allowed - expected)
    explain = {a: why_code.get(a) or why_infra.get(a) for a in missing}
    assert not missing and not extra, (
        f"{name}: IAM and code disagree\n  missing from the policy: {explain}\n"
        f"  allowed but never called: {extra}\n  sources: {P[name].sources}"
    )


def test_wake_never_calls_ecs():
    actions, _ = pr.code_actions(P["wake"])
    assert not {a for a in actions if a.startswith(("ecs:", "ec2:"))}, actions


def attribute_condition(statement: dict) -> set[str] | None:
    for c in statement.get("condition", []):
        if c["variable"] == "dynamodb:Attributes":
            assert c["test"] == "ForAllValues:StringEquals", c
            return set(c["values"])
    return None


def return_values_condition(statement: dict) -> set[str] | None:
    for c in statement.get("condition", []):
        if c["variable"] == "dynamodb:ReturnValues":
            return set(c["values"])
    return None


def written_attributes(method: str) -> tuple[set[str], set[str]]:
    """Top-level record attributes the DynamoDB store's `method` mentions, and the
    `ReturnValue` variants it asks for (SCREAMING_CASE)."""
    src = pr.dynamodb_store_code()
    body = rust_src.reachable_bodies(src, {method})
    consts = rust_src.string_constants(src)
    strings = set(re.findall(r'"([A-Za-z]+)"', body)) | {consts[c] for c in re.findall(r"\b([A-Z][A-Z0-9_]+)\b", body) if c in consts}
    attrs = strings & RECORD_ATTRIBUTES
    rv = {re.sub(r"(?<!^)([A-Z])", r"_\1", v).upper() for v in re.findall(r"ReturnValue::(\w+)", body)}
    return attrs, rv


FACT_WRITERS = {"wake": {"record_wake"}, "agent": {"record_activity"}, "ops": {"record_wake", "request_sleep"}}


@pytest.mark.parametrize("name", sorted(FACT_WRITERS))
def test_fact_writers_may_update_only_their_facts(name):
    """UpdateItem is limited (dynamodb:Attributes) to the attributes the Store methods this
    principal calls write, and ReturnValues never returns other attributes."""
    called = pr.store_methods_called(P[name].code()) & {"apply", "delete", "publish_status", *FACT_WRITERS[name]}
    assert called == FACT_WRITERS[name], f"{name} calls the writers {sorted(called)}"
    attrs, return_values = set(), set()
    for method in sorted(called):
        a, rv = written_attributes(method)
        assert a - {"name"}, f"Store::{method} in the DynamoDB store names no record attribute"
        attrs |= a
        return_values |= rv
    updates = [st for st in tf.statements(policy(name)) if "dynamodb:UpdateItem" in st.get("actions", [])]
    assert updates, f"{name}: no statement allows UpdateItem"
    for st in updates:
        allowed = attribute_condition(st)
        assert allowed is not None, f"{name}: UpdateItem without a dynamodb:Attributes condition"
        assert allowed == attrs | {"name"}, (
            f"{name}: dynamodb:Attributes allows {sorted(allowed)}, {sorted(called)} touch {sorted(attrs)} (+ key name)"
        )
        rv = return_values_condition(st)
        assert rv is not None and "ALL_OLD" not in rv and "ALL_NEW" not in rv, f"{name}: ReturnValues must not return other attributes"
        assert return_values <= rv, f"{sorted(called)} ask for ReturnValues {return_values}, the policy allows {rv}"


def test_agent_touches_only_its_own_record():
    statements = list(tf.statements(policy("agent")))
    assert statements
    for st in statements:
        lk = [c for c in st.get("condition", []) if c["variable"] == "dynamodb:LeadingKeys"]
        assert lk and lk[0]["test"] == "ForAllValues:StringEquals" and lk[0]["values"] == ["${var.record_name}"], st
        assert st["resources"] == ["${var.table_arn}"]


ALL_POLICY_DOCS = [
    (mod, name)
    for mod in ("modules/snooze", "modules/demo-service", "modules/github-oidc")
    for name in tf.module(mod).data.get("aws_iam_policy_document", {})
]


@pytest.mark.parametrize("mod,name", ALL_POLICY_DOCS, ids=lambda x: x)
def test_resources_are_scoped(mod, name):
    doc = tf.module(mod).policy_document(name)
    for st in tf.statements(doc):
        acts = set(st["actions"])
        if acts == {"sts:AssumeRole"} or acts == {"sts:AssumeRoleWithWebIdentity"}:
            assert "principals" in st and st.get("condition"), f"{mod} {name}: trust policy without a condition"
            continue
        res = st.get("resources")
        st = {**st, "resources": [res] if isinstance(res, str) else res}
        if st["resources"] == ["*"]:
            assert acts <= NO_RESOURCE_LEVEL, f"{mod} {name}: {sorted(acts - NO_RESOURCE_LEVEL)} allowed on every resource"
            if "ecs:ListTasks" in acts:
                conds = {c["variable"]: c for c in st.get("condition", [])}
                assert "ecs:cluster" in conds and "cluster_arns" in str(conds["ecs:cluster"]["values"]), st
        for a in acts:
            if a.startswith("dynamodb:"):
                assert all("aws_dynamodb_table.records.arn" in r or "var.table_arn" in r for r in st["resources"]), st
            if a in {"ecs:DescribeServices", "ecs:UpdateService"}:
                assert st["resources"] == ["${local.service_arns}"], st
            if a == "ecs:DescribeTasks":
                assert st["resources"] == ["${local.task_arns}"], st


def test_cluster_scoping_follows_managed_clusters():
    locals_ = tf.module("modules/snooze").locals
    for key, kind in (("cluster_arns", ":cluster/"), ("service_arns", ":service/"), ("task_arns", ":task/")):
        expr = locals_[key]
        assert "var.managed_clusters" in expr and kind in expr, (key, expr)


ACTION_KEYS = {"actions", "not_actions", "Action", "NotAction"}


def action_values(value, path="") -> list[tuple[str, str]]:
    """(where, action) for every value under an action key, inside `jsonencode(...)` too."""
    found = []
    if isinstance(value, dict):
        for k, v in value.items():
            if k in ACTION_KEYS:
                for a in v if isinstance(v, list) else [v]:
                    found.append((f"{path}.{k}", a))
            else:
                found += action_values(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found += action_values(v, f"{path}[{i}]")
    elif isinstance(value, str) and value.startswith("${jsonencode("):
        found += action_values(tf.jsonencode_arg(value), path)
    return found


def test_no_wildcard_actions_anywhere():
    """No `*` in any action of any policy under infra/ (IAM, key policy), nor a NotAction."""
    checked = 0
    for path in tf.tf_files():
        for where, action in action_values(tf.clean(tf.parse_file(path))):
            checked += 1
            assert "*" not in action, f"{path.relative_to(tf.ROOT)} {where}: wildcard action {action!r}"
            assert "NotAction" not in where and "not_actions" not in where, f"{path}: {where}"
    kms = tf.module("modules/snooze").locals["kms_admin_actions"]
    assert all("*" not in a for a in kms), kms
    assert checked > 20, f"only {checked} actions found: the walk misses the policies"
