"""The IAM policy documents the Terraform under infra/ renders, as IAM JSON, for linting.

No terraform binary or provider runs here, so a document is rendered from what python-hcl2
parsed (tf.py): an `aws_iam_policy_document` data source becomes the JSON the AWS provider
writes (`statement` blocks to `Statement`, `principals` to `Principal`, `condition` blocks to
`Condition`), a `jsonencode({...})` policy is taken as written. References are replaced with
example values from EXAMPLES below (one account, one region); a reference without an example
fails the rendering, so a new one must be given a realistic value here before it can be linted.

Every optional statement is rendered (`dynamic "statement"` blocks with every branch of their
`for_each` on, as FOR_EACH says): the linter sees the largest policy each role can get. The KMS
key is a choice of the snooze module (a customer managed key, or by default none: keys AWS
holds), so `rendered()` also gives each document that depends on it as it is without one
(NO_CMK: those collections empty), variant "no customer managed key".
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import tf

ACCOUNT = "123456789012"
REGION = "us-east-1"
KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
LISTENER_ARN = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:listener/app/snooze/50dc6c495c0c9188/f2f7dc8efc522ab2"
TABLE_ARN = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/snooze"

# Reference -> example value (a string, or a list where the reference is a list).
EXAMPLES: dict[str, Any] = {
    "local.account": ACCOUNT,
    "local.region": REGION,
    "local.partition": "aws",
    "data.aws_caller_identity.current.account_id": ACCOUNT,
    "data.aws_region.current.region": REGION,
    "data.aws_partition.current.partition": "aws",
    "aws_dynamodb_table.records.arn": TABLE_ARN,
    "var.table_arn": TABLE_ARN,
    "aws_kms_key.snooze.arn": KEY_ARN,
    "aws_kms_key.snooze[0].arn": KEY_ARN,
    "var.table_kms_key_arn": KEY_ARN,
    "aws_sqs_queue.reconciler_failures.arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:snooze-reconciler-failures",
    "aws_cloudwatch_log_group.wake.arn": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/snooze-wake",
    "aws_cloudwatch_log_group.reconciler.arn": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/snooze-reconciler",
    "aws_cloudwatch_log_group.task.arn": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/ecs/snooze-demo",
    "aws_ecr_repository.demo.arn": f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/snooze-demo",
    "var.ecr_repository_arn": f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/snooze-demo",
    "local.cluster_arns": [f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/demo-cluster"],
    "local.service_arns": [f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/demo-cluster/*"],
    "local.task_arns": [f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/demo-cluster/*"],
    "local.kms_key_arns": [KEY_ARN],
    "local.issuer": "token.actions.githubusercontent.com",
    "local.provider": f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com",
    "var.record_name": "demo",
    "var.github_repository": "your-org/snooze",
    "var.ops_environment": "demo",
}

# `for_each` of a `dynamic "statement"` -> the collection rendered (every optional statement on).
FOR_EACH: dict[str, list] = {
    "${var.xray_tracing ? [1] : []}": [1],
    "${local.kms_key_arns}": [KEY_ARN],
    "${var.table_kms_key_arn == null ? [] : [var.table_kms_key_arn]}": [KEY_ARN],
    "${local.route_listener_arns}": [LISTENER_ARN],
    "${local.route_rule_arns}": [LISTENER_ARN.replace(":listener/", ":listener-rule/") + "/*"],
    "${local.event_bus_arns}": [f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/default"],
}

# The `for_each` collections that hold the customer managed key: empty without one (the snooze
# module's default, `create_kms_key = false` and `kms_key_arn = null`).
NO_CMK: dict[str, list] = {
    "${local.kms_key_arns}": [],
    "${var.table_kms_key_arn == null ? [] : [var.table_kms_key_arn]}": [],
}

# Resource types whose `policy` argument is not an IAM policy language document.
NOT_IAM = {"aws_ecr_lifecycle_policy"}

REF = re.compile(r"\$\{([^${}]+)\}")


@dataclass
class Rendered:
    where: str  # e.g. "modules/snooze data.aws_iam_policy_document.wake"
    document: dict
    variant: str = ""  # "" (every optional statement) or "no customer managed key"

    @property
    def id(self) -> str:
        return f"{self.where} ({self.variant})" if self.variant else self.where

    @property
    def text(self) -> str:
        return json.dumps(self.document, indent=2)


def _value(ref: str, module: tf.Module, extra: dict[str, Any]) -> Any:
    ref = ref.strip()
    indexed = re.fullmatch(r"(.+)\[(\d+)\]", ref)
    if indexed:  # `local.keys[0]`: an element of a list-valued reference
        return _value(indexed.group(1), module, extra)[int(indexed.group(2))]
    single = re.fullmatch(r"one\((.+)\)", ref)
    if single:  # Terraform's one(): the only element of a list, null for an empty one
        items = _value(single.group(1), module, extra)
        assert isinstance(items, list) and len(items) <= 1, (ref, items)
        return items[0] if items else None
    if ref in extra:
        return extra[ref]
    if ref in EXAMPLES:
        return EXAMPLES[ref]
    if ref.startswith("local.") and ref[6:] in module.locals:
        value = module.locals[ref[6:]]
        if not any(REF.search(s) for s in tf.all_strings(value)):
            return value  # a literal local (e.g. kms_admin_actions)
    raise AssertionError(
        f"{module.path.relative_to(tf.ROOT)}: no example value for ${{{ref}}}: add one to tests/infra/policies.py EXAMPLES"
    )


def substitute(value: Any, module: tf.Module, extra: dict[str, Any] | None = None) -> Any:
    """`value` with every `${ref}` replaced by its example; a list-valued reference that is a
    whole list element is spliced into the list."""
    extra = extra or {}
    if isinstance(value, dict):
        return {substitute(k, module, extra): substitute(v, module, extra) for k, v in value.items()}
    if isinstance(value, list):
        out: list = []
        for v in value:
            m = REF.fullmatch(v) if isinstance(v, str) else None
            if m and isinstance(_value(m.group(1), module, extra), list):
                out += _value(m.group(1), module, extra)
            else:
                out.append(substitute(v, module, extra))
        return out
    if isinstance(value, str):
        m = REF.fullmatch(value)
        if m:
            return _value(m.group(1), module, extra)

        def one(match: re.Match) -> str:
            v = _value(match.group(1), module, extra)
            assert isinstance(v, str), f"${{{match.group(1)}}} inside a string is not a string: {v!r}"
            return v

        return REF.sub(one, value)
    return value


def _statement(st: dict, module: tf.Module, extra: dict[str, Any]) -> dict:
    """One `statement` block as the AWS provider renders it."""
    st = substitute(st, module, extra)
    out: dict[str, Any] = {}
    if "sid" in st:
        out["Sid"] = st["sid"]
    out["Effect"] = st.get("effect", "Allow")
    for hcl_key, json_key in (
        ("actions", "Action"),
        ("not_actions", "NotAction"),
        ("resources", "Resource"),
        ("not_resources", "NotResource"),
    ):
        if hcl_key in st:
            out[json_key] = st[hcl_key]
    for hcl_key, json_key in (("principals", "Principal"), ("not_principals", "NotPrincipal")):
        for p in st.get(hcl_key, []):
            out.setdefault(json_key, {})[p["type"]] = p["identifiers"]
    for c in st.get("condition", []):
        out.setdefault("Condition", {}).setdefault(c["test"], {})[c["variable"]] = c["values"]
    unknown = set(st) - {
        "sid", "effect", "actions", "not_actions", "resources", "not_resources", "principals",
        "not_principals", "condition",
    }
    assert not unknown, f"statement arguments this renderer does not know: {sorted(unknown)}"
    return out


def render_document(module: tf.Module, name: str, for_each: dict[str, list] | None = None) -> dict:
    """`data.aws_iam_policy_document.<name>` of `module` as IAM JSON; `for_each` overrides
    FOR_EACH (e.g. NO_CMK)."""
    collections = {**FOR_EACH, **(for_each or {})}
    doc = module.policy_document(name)
    unknown = set(doc) - {"statement", "dynamic", "version"}
    assert not unknown, f"{name}: policy document arguments this renderer does not know: {sorted(unknown)}"
    statements = [_statement(st, module, {}) for st in doc.get("statement", [])]
    for dyn in doc.get("dynamic", []):
        block = tf.one(dyn["statement"])
        for_each = block["for_each"]
        assert for_each in collections, (
            f"{module.path.relative_to(tf.ROOT)} {name}: dynamic statement over {for_each!r}: "
            "add the collection to render to tests/infra/policies.py FOR_EACH"
        )
        for value in collections[for_each]:
            for content in block.get("content", []):
                statements.append(_statement(content, module, {"statement.value": value}))
    return {"Version": doc.get("version", "2012-10-17"), "Statement": statements}


MODULES = ("modules/snooze", "modules/demo-service", "modules/github-oidc")


def rendered() -> list[Rendered]:
    """Every IAM policy document under infra/: the `aws_iam_policy_document` data sources, and
    every `policy`/`assume_role_policy` argument that is not one of them (`jsonencode({...})`
    or a local holding one)."""
    out = []
    for rel in MODULES:
        module = tf.module(rel)
        for name in sorted(module.data.get("aws_iam_policy_document", {})):
            where = f"{rel} data.aws_iam_policy_document.{name}"
            full = render_document(module, name)
            out.append(Rendered(where, full))
            without = render_document(module, name, NO_CMK)
            if without != full:
                out.append(Rendered(where, without, "no customer managed key"))
        for rtype, named in sorted(module.resources.items()):
            if rtype in NOT_IAM:
                continue
            for rname, res in sorted(named.items()):
                for arg in ("policy", "assume_role_policy"):
                    value = res.get(arg)
                    if value is None or re.fullmatch(r"\$\{data\.aws_iam_policy_document\.\w+\.json\}", value):
                        continue
                    m = re.fullmatch(r"\$\{local\.(\w+)\}", value)
                    if m:
                        value = module.locals[m.group(1)]
                    doc = substitute(tf.jsonencode_arg(value), module)
                    out.append(Rendered(f"{rel} {rtype}.{rname}.{arg}", doc))
    return out
