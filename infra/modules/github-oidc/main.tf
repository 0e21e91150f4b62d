# Roles that GitHub Actions assume with OIDC (no static keys), one per workflow that touches AWS
# at run time and can be least-privilege:
#   <name>-release : push the demo image (release.yml, main branch only)
#   <name>-ops     : snoozectl get/wake/sleep (ops.yml, jobs in the `ops_environment` environment)
# The cd workflow's plan and deploy roles are not here: applying this Terraform needs broad
# rights (IAM, Lambda, ECS, ...) that each organisation grants its own way; see
# infra/envs/demo/README.md.

data "aws_partition" "current" {}
data "aws_caller_identity" "current" {}
data "aws_region" "current" {}

locals {
  issuer   = "token.actions.githubusercontent.com"
  provider = var.create_oidc_provider ? aws_iam_openid_connect_provider.github[0].arn : "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:oidc-provider/${local.issuer}"
}

resource "aws_iam_openid_connect_provider" "github" {
  count          = var.create_oidc_provider ? 1 : 0
  url            = "https://${local.issuer}"
  client_id_list = ["sts.amazonaws.com"]
  tags           = var.tags
}

data "aws_iam_policy_document" "trust_release" {
  statement {
    effect  = "Allow"
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [local.provider]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.issuer}:aud"
      values   = ["sts.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.issuer}:sub"
      values   = ["repo:${var.github_repository}:ref:refs/heads/main"]
    }
  }
}

data "aws_iam_policy_document" "trust_ops" {
  statement {
    effect  = "Allow"
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [local.provider]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.issuer}:aud"
      values   = ["sts.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.issuer}:sub"
      values   = ["repo:${var.github_repository}:environment:${var.ops_environment}"]
    }
  }
}

resource "aws_iam_role" "release" {
  name                 = "${var.name}-release"
  assume_role_policy   = data.aws_iam_policy_document.trust_release.json
  max_session_duration = 3600
  tags                 = var.tags
}

data "aws_iam_policy_document" "release" {
  statement {
    sid       = "EcrLogin"
    effect    = "Allow"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"] # GetAuthorizationToken has no resource-level permissions
  }

  statement {
    sid    = "PushDemoImage"
    effect = "Allow"
    actions = [
      "ecr:BatchCheckLayerAvailability",
      "ecr:BatchGetImage",
      "ecr:CompleteLayerUpload",
      "ecr:DescribeImages",
      "ecr:GetDownloadUrlForLayer",
      "ecr:InitiateLayerUpload",
      "ecr:PutImage",
      "ecr:UploadLayerPart",
    ]
    resources = [var.ecr_repository_arn]
  }
}

resource "aws_iam_role_policy" "release" {
  name   = "push-demo-image"
  role   = aws_iam_role.release.id
  policy = data.aws_iam_policy_document.release.json
}

resource "aws_iam_role" "ops" {
  name                 = "${var.name}-ops"
  assume_role_policy   = data.aws_iam_policy_document.trust_ops.json
  max_session_duration = 3600
  tags                 = var.tags
}

# snoozectl get, wake and sleep: read a record, write the wake or sleep fact.
data "aws_iam_policy_document" "ops" {
  statement {
    sid       = "ReadRecords"
    effect    = "Allow"
    actions   = ["dynamodb:GetItem", "dynamodb:Scan"] # snoozectl get NAME / get (all)
    resources = [var.table_arn]
  }

  statement {
    sid       = "WriteWakeAndSleepFacts"
    effect    = "Allow"
    actions   = ["dynamodb:UpdateItem"]
    resources = [var.table_arn]
    condition {
      test     = "ForAllValues:StringEquals"
      variable = "dynamodb:Attributes"
      values   = ["name", "sleepRequestedAt", "wakeForcedAt", "wakeRequestedAt"]
    }
    condition {
      test     = "StringEqualsIfExists"
      variable = "dynamodb:ReturnValues"
      values   = ["NONE", "UPDATED_OLD", "UPDATED_NEW"]
    }
  }

  # The table is encrypted with a customer managed key: DynamoDB uses it with the ops role's
  # rights for every read and write (and the stream), so the role may use the key, but only
  # through DynamoDB (kms:ViaService). One statement per key that encrypts the table (none when
  # it uses an AWS owned key).
  dynamic "statement" {
    for_each = var.table_kms_key_arn == null ? [] : [var.table_kms_key_arn]
    content {
      sid       = "UseTableKeyThroughDynamoDB"
      effect    = "Allow"
      actions   = ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"]
      resources = [statement.value]
      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["dynamodb.${data.aws_region.current.region}.amazonaws.com"]
      }
    }
  }
}

resource "aws_iam_role_policy" "ops" {
  name   = "snoozectl-wake-sleep-status"
  role   = aws_iam_role.ops.id
  policy = data.aws_iam_policy_document.ops.json
}
