"""Contract: each principal's IAM policy allows exactly the AWS actions its code calls.

Code side: the operations the code declares for each principal (`snooze::aws_calls::OPERATIONS`,
exported to infra/aws-operations.json; the moto tests check the declaration against the calls
the SDK interceptors counted).
Infrastructure side (derived from the Terraform that wires the function): what the Lambda
service does with the function's role — write its logs, read the table's stream for the event
source mapping, send to the on-failure queue / DLQ (and use that queue's KMS key), X-Ray — and
what DynamoDB does with any principal's rights: use the customer managed key that encrypts the
table (issue 13 class 12).

Fine-grained access (issue 13 class 14): AWS counts the attributes a request returns among those
`dynamodb:Attributes` restricts, and documents that a role so restricted must have `ReturnValues`
pinned to NONE/UPDATED_OLD/UPDATED_NEW (and `Select` to SPECIFIC_ATTRIBUTES for reads), i.e. may
never ask for the whole item
(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/specifying-conditions.html).
`ReturnValuesOnConditionCheckFailure=ALL_OLD` returns the whole item too, and no condition key
can allow it, so the code of a restricted role never sets it.
"""

from __future__ import annotations

import re

import pytest

import policies
import principals as pr
import rust_src
import tf

# Top-level attributes of a record item (DESIGN.md §2, §6: the `desired` facts are top-level so
# IAM's dynamodb:Attributes can name them).
RECORD_ATTRIBUTES = {
    "name", "apiVersion", "kind", "metadata", "spec", "status", "generation", "resourceVersion",
    "wakeRequestedAt", "lastActivityAt", "sleepRequestedAt", "wakeForcedAt",
}

# Actions AWS does not scope to a resource ARN: the only ones allowed with "Resource": "*".
NO_RESOURCE_LEVEL = {
    "dynamodb:ListStreams",
    "ec2:DescribeNetworkInterfaces",
    "elasticloadbalancing:DescribeRules",
    "elasticloadbalancing:DescribeTags",
    "elasticloadbalancing:DescribeTargetHealth",
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


# What DynamoDB needs of a caller's rights on the table's customer managed key: reads decrypt,
# writes encrypt under a data key, and DynamoDB checks the key (DescribeKey).
TABLE_KEY_ACTIONS = {"kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"}


def table_key() -> str | None:
    """The table's customer managed key (the `kms_key_arn` expression; it may be null at apply,
    `create_kms_key`/`kms_key_arn`), None when the Terraform never gives it one."""
    sse = tf.module("modules/snooze").resource("aws_dynamodb_table", "records").get("server_side_encryption")
    return tf.one(sse).get("kms_key_arn") if sse and tf.one(sse).get("enabled") not in (None, False) else None


def touches_table(name: str) -> bool:
    return any(a.startswith("dynamodb:") for a in pr.code_actions(P[name])[0])


def infra_actions(name: str) -> dict[str, str]:
    """Actions AWS services perform with the principal's rights, from the Terraform: the Lambda
    service with a function's role, DynamoDB with the table's key."""
    why: dict[str, str] = {}
    if touches_table(name) and table_key():
        for a in TABLE_KEY_ACTIONS:
            why[a] = "DynamoDB uses the table's customer managed key with the caller's rights"
    if "elasticloadbalancing:CreateRule" in pr.declared_operations().get(name, {}):
        why["elasticloadbalancing:AddTags"] = "CreateRule with Tags is also authorized as AddTags (tag on create)"
    fn = lambda_of(name)
    if fn is None:
        return why
    m = tf.module("modules/snooze")
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
    known = set(P) | set(pr.DOCUMENTED)
    assert set(declared) == known, f"infra/aws-operations.json has {sorted(declared)}, principals.py {sorted(known)}"
    for name, actions in declared.items():
        assert actions, f"{name}: no operation declared"
        assert all(re.fullmatch(r"(dynamodb|ecs|ec2|elasticloadbalancing|events):[A-Z][A-Za-z]+", a) for a in actions), actions


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


@pytest.mark.parametrize("name", sorted(pr.DOCUMENTED))
def test_documented_policy_allows_exactly_what_the_code_calls(name):
    """A principal without a Terraform role (an operator's own credentials for `snoozectl
    discover`): the policy its docs give allows exactly the operations it declares."""
    doc = pr.documented_policy(name)
    allowed = set()
    for st in doc["Statement"]:
        assert st["Effect"] == "Allow", st
        actions = st["Action"]
        allowed |= {actions} if isinstance(actions, str) else set(actions)
    declared = set(pr.declared_operations()[name])
    assert allowed == declared, (
        f"{name}: {pr.DOCUMENTED[name][0]} and the code disagree\n"
        f"  missing from the documented policy: {sorted(declared - allowed)}\n"
        f"  documented but never called: {sorted(allowed - declared)}"
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


def screaming(variant: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", variant).upper()


def written_attributes(method: str) -> tuple[set[str], set[str]]:
    """Top-level record attributes the DynamoDB store's `method` mentions, and the
    `ReturnValue` variants it asks for (SCREAMING_CASE)."""
    src = pr.dynamodb_store_code()
    body = rust_src.reachable_bodies(src, {method})
    consts = rust_src.string_constants(src)
    strings = set(re.findall(r'"([A-Za-z]+)"', body)) | {consts[c] for c in re.findall(r"\b([A-Z][A-Z0-9_]+)\b", body) if c in consts}
    attrs = strings & RECORD_ATTRIBUTES
    rv = {screaming(v) for v in re.findall(r"ReturnValue::(\w+)", body)}
    return attrs, rv


def returned_values(method: str, src: str | None = None) -> dict[str, set[str]]:
    """What the requests the DynamoDB store's `method` makes (transitively) ask to get back:
    the `ReturnValues`, `ReturnValuesOnConditionCheckFailure` and `Select` variants
    (SCREAMING_CASE); "<not a literal>" when the setter is called with anything but a variant."""
    body = rust_src.reachable_bodies(src if src is not None else pr.dynamodb_store_code(), {method})
    found: dict[str, set[str]] = {}
    for param, enum in (
        ("ReturnValues", "ReturnValue"),
        ("ReturnValuesOnConditionCheckFailure", "ReturnValuesOnConditionCheckFailure"),
        ("Select", "Select"),
    ):
        setter = screaming(param).lower()
        calls = re.findall(rf"\.\s*(?:set_)?{setter}\s*\(\s*([^)]*)\)", body)
        found[param] = {
            screaming(m.group(1)) if (m := re.fullmatch(rf"(?:Some\s*\(\s*)?{enum}::(\w+)\s*\)?", c.strip())) else "<not a literal>"
            for c in calls
        }
    return found


FACT_WRITERS = {"wake": {"record_wake"}, "agent": {"record_activity"}, "ops": {"record_wake", "request_sleep", "force_wake"}}


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


# Values of `ReturnValues` / `Select` that return only attributes the request names (AWS's
# fine-grained access control page); the others return the whole item.
NARROW_RETURN_VALUES = {"NONE", "UPDATED_OLD", "UPDATED_NEW"}
WRITES_WITH_RETURN_VALUES = {"dynamodb:UpdateItem", "dynamodb:PutItem", "dynamodb:DeleteItem"}
READS_WITH_SELECT = {"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:Scan"}


def condition(st: dict, key: str) -> dict | None:
    found = [c for c in st.get("condition", []) if c["variable"] == key]
    assert len(found) <= 1, f"{key} is conditioned twice: {found}"
    return found[0] if found else None


@pytest.mark.parametrize("mod,name", [
    (mod, name)
    for mod in ("modules/snooze", "modules/demo-service", "modules/github-oidc")
    for name in tf.module(mod).data.get("aws_iam_policy_document", {})
], ids=lambda x: x)
def test_attribute_restrictions_pin_what_comes_back(mod, name):
    """A statement that restricts dynamodb:Attributes also pins what a request may ask back, as
    AWS documents: ReturnValues to NONE/UPDATED_OLD/UPDATED_NEW for writes, Select to
    SPECIFIC_ATTRIBUTES for reads (otherwise ALL_OLD/ALL_NEW or ALL_ATTRIBUTES return
    attributes outside the list)."""
    for st in tf.statements(tf.module(mod).policy_document(name)):
        if condition(st, "dynamodb:Attributes") is None:
            continue
        acts = set(st["actions"])
        if acts & WRITES_WITH_RETURN_VALUES:
            rv = condition(st, "dynamodb:ReturnValues")
            assert rv is not None, f"{mod} {name} {st.get('sid')}: dynamodb:Attributes without dynamodb:ReturnValues"
            assert rv["test"] in {"StringEquals", "StringEqualsIfExists"}, rv
            assert set(rv["values"]) <= NARROW_RETURN_VALUES, rv
        if acts & READS_WITH_SELECT:
            sel = condition(st, "dynamodb:Select")
            assert sel is not None, f"{mod} {name} {st.get('sid')}: dynamodb:Attributes on reads without dynamodb:Select"
            assert sel["test"] in {"StringEquals", "StringEqualsIfExists"} and sel["values"] == ["SPECIFIC_ATTRIBUTES"], sel


def attribute_restricted(name: str) -> bool:
    return any(condition(st, "dynamodb:Attributes") for st in tf.statements(policy(name)))


@pytest.mark.parametrize("name", sorted(FACT_WRITERS))
def test_attribute_restricted_roles_never_ask_for_the_whole_item(name):
    """The store writes a restricted role makes never ask for attributes it may not read:
    ReturnValues only NONE/UPDATED_*, no ReturnValuesOnConditionCheckFailure=ALL_OLD (the whole
    item, and no condition key can allow it), Select only SPECIFIC_ATTRIBUTES/COUNT."""
    assert attribute_restricted(name), f"{name}: expected an attribute-restricted UpdateItem"
    called = pr.store_methods_called(P[name].code()) & FACT_WRITERS[name]
    assert called, name
    for method in sorted(called):
        asked = returned_values(method)
        assert asked["ReturnValues"] <= NARROW_RETURN_VALUES, f"Store::{method} asks ReturnValues {asked['ReturnValues']}"
        assert not asked["ReturnValuesOnConditionCheckFailure"] - {"NONE"}, (
            f"Store::{method} asks ReturnValuesOnConditionCheckFailure {asked['ReturnValuesOnConditionCheckFailure']}: "
            f"the whole item, which {name}'s role (dynamodb:Attributes) may not read"
        )
        assert asked["Select"] <= {"SPECIFIC_ATTRIBUTES", "COUNT"}, f"Store::{method} asks Select {asked['Select']}"


def test_returned_values_reads_the_builders():
    """returned_values() sees each way of asking (so the test above can fail)."""
    example = (
        "fn f() { c.update_item().return_values(ReturnValue::AllNew)"
        ".return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)"
        ".return_values(x); }"
    )
    asked = returned_values("f", example)
    assert asked == {
        "ReturnValues": {"ALL_NEW", "<not a literal>"},
        "ReturnValuesOnConditionCheckFailure": {"ALL_OLD"},
        "Select": set(),
    }, asked


def test_agent_touches_only_its_own_record():
    statements = [st for st in tf.statements(policy("agent")) if any(a.startswith("dynamodb:") for a in st["actions"])]
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
            if a.startswith("dynamodb:") and a not in NO_RESOURCE_LEVEL:
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


# --- the table's key (issue 13 class 12) -------------------------------------------------------

# Where each principal's policy lives, and how the key reaches it: the module's own local, or a
# module input that envs/demo wires to the snooze module's output.
KEY_INPUT = {"modules/demo-service": "demo_service", "modules/github-oidc": "github_oidc"}


def encrypted_resources() -> list[tuple[str, str, str, set[str]]]:
    """(resource ARN prefix, its key, the service that uses the key, the key actions it needs)
    for every resource of modules/snooze encrypted with a customer managed key that a
    principal's policy can name, rendered with tests/infra/policies.py's example values."""
    snooze = tf.module("modules/snooze")
    out = []
    key = table_key()
    if key:
        out.append((policies.TABLE_ARN, policies.substitute(key, snooze), "dynamodb", TABLE_KEY_ACTIONS))
    for qname, q in snooze.resources.get("aws_sqs_queue", {}).items():
        if q.get("kms_master_key_id"):
            arn = policies.substitute(f"${{aws_sqs_queue.{qname}.arn}}", snooze)
            # A sender needs the data key (and to decrypt it) through SQS.
            out.append((arn, policies.substitute(q["kms_master_key_id"], snooze), "sqs", {"kms:Decrypt", "kms:GenerateDataKey"}))
    return out


@pytest.mark.parametrize("name", sorted(P))
def test_every_principal_that_touches_an_encrypted_resource_can_use_its_key(name):
    """A principal allowed to act on a resource encrypted with a customer managed key (the
    table and its stream, the failure queue) may use that key through that resource's service
    only (kms:ViaService), with every action the service needs on its behalf: without it every
    GetItem/UpdateItem/Scan (or SendMessage) is AccessDenied in a real account."""
    p = P[name]
    rendered = policies.render_document(tf.module(p.tf_module), p.policy)
    encrypted = encrypted_resources()
    assert any(service == "dynamodb" for _, _, service, _ in encrypted), "the record table is expected to use a CMK"
    touched = 0
    for prefix, key, service, needed in encrypted:
        uses = any(
            st["Effect"] == "Allow" and not a.startswith("kms:") and any(r.startswith(prefix) for r in st.get("Resource", []))
            for st in rendered["Statement"] for a in st.get("Action", [])
        )
        if not uses:
            continue
        touched += 1
        via = [
            st for st in rendered["Statement"]
            if st["Effect"] == "Allow"
            and st.get("Condition", {}).get("StringEquals", {}).get("kms:ViaService") == [f"{service}.{policies.REGION}.amazonaws.com"]
        ]
        allowed = {a for st in via if key in st.get("Resource", []) for a in st["Action"]}
        assert needed <= allowed, (
            f"{name}: acts on {prefix} but may not use its key through {service} for {sorted(needed - allowed)}"
        )
        for st in via:
            assert st.get("Resource") == [key], f"{name}: key statement not scoped to the key: {st}"
    assert touched or not touches_table(name), f"{name}: calls DynamoDB but its rendered policy names no encrypted resource"


def test_the_key_in_the_policies_is_the_tables_key():
    """The rendering above gives every key reference the same example ARN; here the references
    themselves are checked to be the table's key: the snooze module's statements iterate the
    local the table's SSE takes its key from, and envs/demo passes the module's table key output
    (that same local) to the modules holding the other principals' policies."""
    snooze = tf.module("modules/snooze")
    key = table_key()
    m = re.fullmatch(r"\$\{one\(local\.(\w+)\)\}", key or "")
    assert m, f"the table's kms_key_arn is expected to be one(local.<keys>), is {key!r}"
    keys_local = m.group(1)
    for name in ("wake", "reconciler"):
        fors = [tf.one(d["statement"])["for_each"] for d in snooze.policy_document(name).get("dynamic", [])]
        assert f"${{local.{keys_local}}}" in fors, f"{name}: no statement over local.{keys_local}: {fors}"
    assert snooze.outputs["table_kms_key_arn"]["value"] == key
    env = tf.module("envs/demo")
    for mod, call in KEY_INPUT.items():
        assert env.modules[call].get("table_kms_key_arn") == "${module.snooze.table_kms_key_arn}", (mod, env.modules[call])
        variable = tf.module(mod).variables["table_kms_key_arn"]
        assert "default" not in variable, f"{mod}: table_kms_key_arn must be passed (null when the table has no CMK), not defaulted"
