"""Every IAM policy document the Terraform renders passes parliament (PyPI `parliament`, which
ships AWS's action, resource-type and condition-key database), its community auditors included.

The documents are rendered by tests/infra/policies.py. A finding fails the test unless ALLOWED
below names it narrowly (which document, which issue, what the finding says) with the reason
it is right as written; an ALLOWED entry that no longer matches any finding fails too, so the
list cannot go stale.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from typing import Callable

import pytest

import policies

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # parliament imports pkg_resources, which warns
    import parliament


def is_trust_policy(doc: dict) -> bool:
    """A role's trust policy: every statement names a Principal and allows only sts:AssumeRole*."""
    return all(
        "Principal" in st and all(a.startswith("sts:AssumeRole") for a in st.get("Action", []))
        for st in doc["Statement"]
    )


@dataclass(frozen=True)
class Allowed:
    where: str  # a regex over Rendered.where
    issue: str
    detail: str  # a regex searched in the finding's detail
    reason: str
    applies: Callable[[dict], bool] = lambda doc: True


KEY_POLICY = r"modules/snooze aws_kms_key\.snooze\.policy"

ALLOWED = [
    Allowed(
        r".*", "MALFORMED", r"neither Resource nor NotResource",
        "A role's trust policy (assume_role_policy) has no Resource element: the role it is "
        "attached to is the resource, and IAM rejects a Resource in it.",
        applies=is_trust_policy,
    ),
    Allowed(
        r"modules/github-oidc data\.aws_iam_policy_document\.trust_(ops|release)",
        "UNKNOWN_FEDERATION_SOURCE", r"^arn:aws:iam::\d{12}:oidc-provider/token\.actions\.githubusercontent\.com$",
        "parliament knows only Cognito, Amazon, Facebook, Google and SAML federation; an IAM OIDC "
        "provider ARN (GitHub Actions' token.actions.githubusercontent.com) is a valid Federated principal.",
    ),
    Allowed(
        r"modules/snooze data\.aws_iam_policy_document\.reconciler", "RESOURCE_STAR", r"^\['ecs:ListTasks'\]$",
        "ListTasks' only resource type is container-instance, which Fargate tasks do not have; "
        "the statement is scoped to the managed clusters with the ecs:cluster condition key.",
    ),
    Allowed(
        r"modules/snooze data\.aws_iam_policy_document\.reconciler", "RESOURCE_MISMATCH",
        r"^\[(\{'action': 'elasticloadbalancing:(CreateRule|DeleteRule|ModifyRule)', 'required_format': 'arn:\*:elasticloadbalancing:\*:\*:listener(-rule)?/net/[*/]+'\}(, )?)+\]$",
        "Route mode's shared load balancer is an Application Load Balancer: the statements name its "
        "listener (listener/app/...) and its rules (listener-rule/app/...) only; parliament lists "
        "the Network Load Balancer forms the actions also accept.",
    ),
    Allowed(
        r"modules/snooze data\.aws_iam_policy_document\.reconciler", "UNKNOWN_CONDITION_FOR_ACTION",
        r"^Unknown condition elasticloadbalancing:CreateAction for action elasticloadbalancing:AddTags$",
        "elasticloadbalancing:CreateAction is AWS's condition key for tagging on create (the AWS Load "
        "Balancer Controller's policy uses it the same way); parliament's action database predates it. "
        "Without it the role could tag someone else's rule as its own and then change it.",
    ),
    Allowed(
        KEY_POLICY, "RESOURCE_STAR", r"kms:",
        "A key policy's Resource \"*\" means the key the policy is attached to, nothing else.",
    ),
    Allowed(
        KEY_POLICY, "PERMISSIONS_MANAGEMENT_ACTIONS", r"",
        "The account root administers the key (PutKeyPolicy, grants), as in the default key policy "
        "AWS writes: without it the key could become unmanageable.",
    ),
    Allowed(
        KEY_POLICY, "UNKNOWN_CONDITION_FOR_ACTION", r"kms:EncryptionContext:aws:logs:arn for action kms:DescribeKey",
        "The CloudWatch Logs statement is AWS's documented one for log groups (Describe* under the "
        "same aws:logs:arn encryption-context condition); a DescribeKey request carries no "
        "encryption context, so the condition only ever narrows it.",
    ),
    Allowed(
        KEY_POLICY, "MISMATCHED_TYPE", r"ArnLike requires a value of type Arn but given String",
        "kms:EncryptionContext:aws:logs:arn holds a log group ARN; AWS documents ArnLike for it.",
    ),
    Allowed(
        r"modules/(demo-service data\.aws_iam_policy_document\.execution|github-oidc data\.aws_iam_policy_document\.release)",
        "CREDENTIALS_EXPOSURE", r"ecr:getauthorizationtoken",
        "ecr:GetAuthorizationToken is how ECS pulls (execution role) and the release workflow "
        "pushes (docker login) the demo image; ECR has no other way in, and the token only works "
        "on repositories the role may use.",
    ),
]

RENDERED = policies.rendered()


def findings(r: policies.Rendered) -> list:
    policy = parliament.analyze_policy_string(r.text, include_community_auditors=True)
    return list(policy.findings)


def allowance(r: policies.Rendered, f) -> Allowed | None:
    detail = f.detail if isinstance(f.detail, str) else str(f.detail)
    if not detail and isinstance(f.location, dict) and "actions" in f.location:
        detail = str(f.location["actions"])
    for a in ALLOWED:
        if re.fullmatch(a.where, r.where) and f.issue == a.issue and re.search(a.detail, detail) and a.applies(r.document):
            return a
    return None


def test_every_policy_document_is_rendered():
    where = [r.where for r in RENDERED]
    ids = [r.id for r in RENDERED]
    assert len(ids) == len(set(ids)), ids
    for expected in (
        "modules/snooze data.aws_iam_policy_document.wake",
        "modules/snooze data.aws_iam_policy_document.reconciler",
        "modules/snooze aws_kms_key.snooze.policy",
        "modules/demo-service data.aws_iam_policy_document.task",
        "modules/github-oidc data.aws_iam_policy_document.ops",
    ):
        assert expected in where, f"{expected} is not rendered: {where}"
    for r in RENDERED:
        assert r.document["Statement"], r.where
        assert "${" not in r.text, f"{r.where}: an unrendered reference is left:\n{r.text}"


@pytest.mark.parametrize("r", RENDERED, ids=lambda r: r.id)
def test_parliament_finds_nothing_unexplained(r):
    unexplained = [
        f"{f.issue}: {f.detail} at {f.location}" for f in findings(r) if allowance(r, f) is None
    ]
    assert not unexplained, f"{r.where}:\n  " + "\n  ".join(unexplained) + f"\n{r.text}"


def test_both_kms_choices_are_rendered():
    """The snooze module's roles are linted with a customer managed key (key statements on) and
    without one (the default: no kms: action at all, since keys AWS holds need no grant)."""
    variants = {(r.where, r.variant): r.document for r in RENDERED}
    for role in ("wake", "reconciler"):
        where = f"modules/snooze data.aws_iam_policy_document.{role}"
        with_key = variants[(where, "")]
        without = variants[(where, "no customer managed key")]
        kms = lambda doc: {a for st in doc["Statement"] for a in st.get("Action", []) if a.startswith("kms:")}  # noqa: E731
        assert kms(with_key) >= {"kms:Decrypt", "kms:GenerateDataKey"}, with_key
        assert kms(without) == set(), without


def test_every_allowance_is_still_needed():
    used = {allowance(r, f) for r in RENDERED for f in findings(r)}
    stale = [a for a in ALLOWED if a not in used]
    assert not stale, f"ALLOWED entries no finding needs any more: {[(a.where, a.issue) for a in stale]}"


def test_parliament_catches_a_resource_mismatch():
    """The linter is live: the mistake this lint found in the reconciler's policy (ListStreams
    on the stream ARN, which it has no resource-level permission for) is a finding."""
    bad = policies.Rendered(
        "example",
        {
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Action": ["dynamodb:ListStreams"],
                "Resource": [f"{policies.TABLE_ARN}/stream/*"],
            }],
        },
    )
    assert [f.issue for f in findings(bad)] == ["RESOURCE_MISMATCH"]
