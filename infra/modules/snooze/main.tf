# The snooze controller: record table, wake and reconciler Lambdas, HTTP API, triggers, alarms.
# Encryption at rest by default with keys AWS holds, which cost nothing: an AWS owned key for the
# table, SSE-SQS for the on-failure queue, CloudWatch Logs' own encryption for the log groups and
# the AWS managed key `aws/lambda` for the Lambda environment. A team whose policy requires a
# customer managed key sets `create_kms_key = true` (this module creates one, $1 a month) or
# `kms_key_arn` (its own key); that key then encrypts all four.

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  account   = data.aws_caller_identity.current.account_id
  region    = data.aws_region.current.region
  partition = data.aws_partition.current.partition

  build_dir = coalesce(var.lambda_build_dir, "${path.module}/../../../build")

  # Zip paths written by scripts/package (`build/<function>/bootstrap.zip`).
  wake_zip       = "${local.build_dir}/wake/bootstrap.zip"
  reconciler_zip = "${local.build_dir}/reconciler/bootstrap.zip"

  wake_function_name       = "${var.name}-wake"
  reconciler_function_name = "${var.name}-reconciler"

  cluster_arns = [
    for c in var.managed_clusters : "arn:${local.partition}:ecs:${local.region}:${local.account}:cluster/${c}"
  ]
  service_arns = [
    for c in var.managed_clusters : "arn:${local.partition}:ecs:${local.region}:${local.account}:service/${c}/*"
  ]
  task_arns = [
    for c in var.managed_clusters : "arn:${local.partition}:ecs:${local.region}:${local.account}:task/${c}/*"
  ]

  tags = merge({ "app" = "snooze", "snooze:controller" = var.name }, var.tags)

  # The shared load balancer listener of route mode (ADR 0007), when given: the reconciler may
  # read its rules and change the rules it created.
  route_listener_arns = var.alb_listener_arn == "" ? [] : [var.alb_listener_arn]
  route_rule_arns     = [for l in local.route_listener_arns : "${replace(l, ":listener/", ":listener-rule/")}/*"]

  # The customer managed key of this controller, as a list of zero or one: the key this module
  # creates (`create_kms_key`), else the one given (`kms_key_arn`), else none (AWS owned and AWS
  # managed keys). It encrypts the record table, the on-failure queue, the log groups and the
  # Lambda environment. Every role that reads or writes the table may use it through DynamoDB
  # (lambda.tf, and the `table_kms_key_arn` output for the agent's and the ops workflow's
  # roles); the reconciler through SQS too (its on-failure queue).
  kms_key_arns = var.create_kms_key ? [aws_kms_key.snooze[0].arn] : (var.kms_key_arn == null ? [] : [var.kms_key_arn])
}

# --- encryption ---------------------------------------------------------------------------

# A key policy (not an IAM policy): "Resource": "*" in it means this key. The account keeps
# full administration so the key can never become unmanageable; CloudWatch Logs may use it for
# this account's log groups only.
locals {
  kms_admin_actions = [
    "kms:CancelKeyDeletion",
    "kms:CreateAlias",
    "kms:CreateGrant",
    "kms:Decrypt",
    "kms:DeleteAlias",
    "kms:DescribeKey",
    "kms:DisableKey",
    "kms:DisableKeyRotation",
    "kms:EnableKey",
    "kms:EnableKeyRotation",
    "kms:Encrypt",
    "kms:GenerateDataKey",
    "kms:GetKeyPolicy",
    "kms:GetKeyRotationStatus",
    "kms:ListGrants",
    "kms:ListResourceTags",
    "kms:PutKeyPolicy",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:RetireGrant",
    "kms:RevokeGrant",
    "kms:ScheduleKeyDeletion",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:UpdateAlias",
    "kms:UpdateKeyDescription",
  ]

  kms_key_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountAdministers"
        Effect    = "Allow"
        Principal = { AWS = "arn:${local.partition}:iam::${local.account}:root" }
        Action    = local.kms_admin_actions
        Resource  = "*"
      },
      {
        Sid       = "CloudWatchLogsEncryptsLogGroups"
        Effect    = "Allow"
        Principal = { Service = "logs.${local.region}.amazonaws.com" }
        Action = [
          "kms:Decrypt",
          "kms:DescribeKey",
          "kms:Encrypt",
          "kms:GenerateDataKey",
          "kms:ReEncryptFrom",
          "kms:ReEncryptTo",
        ]
        Resource = "*"
        Condition = {
          ArnLike = {
            "kms:EncryptionContext:aws:logs:arn" = "arn:${local.partition}:logs:${local.region}:${local.account}:log-group:*"
          }
        }
      },
    ]
  })
}

# Only with `create_kms_key = true` ($1 a month, docs/cost.md).
resource "aws_kms_key" "snooze" {
  count = var.create_kms_key ? 1 : 0

  description             = "snooze ${var.name}: record table, on-failure queue, logs, Lambda environment"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = local.kms_key_policy
  tags                    = local.tags
}

resource "aws_kms_alias" "snooze" {
  count         = var.create_kms_key ? 1 : 0
  name          = "alias/${var.name}"
  target_key_id = aws_kms_key.snooze[0].key_id
}

# --- the record table -----------------------------------------------------------------------

resource "aws_dynamodb_table" "records" {
  #checkov:skip=CKV_AWS_119:A customer managed key is a module input (create_kms_key or kms_key_arn); by default the table is encrypted with an AWS owned key, which costs nothing ($1 a month for a key otherwise, docs/cost.md).
  name                        = var.table_name
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "name"
  deletion_protection_enabled = var.deletion_protection

  attribute {
    name = "name"
    type = "S"
  }

  point_in_time_recovery {
    enabled = true
  }

  # Without a customer managed key, `enabled = false` is DynamoDB's AWS owned key (still
  # encrypted at rest; no KMS charge at all, where the AWS managed key aws/dynamodb would bill
  # KMS requests).
  server_side_encryption {
    enabled     = length(local.kms_key_arns) > 0
    kms_key_arn = one(local.kms_key_arns)
  }

  stream_enabled   = true
  stream_view_type = "NEW_AND_OLD_IMAGES"

  tags = local.tags

  lifecycle {
    precondition {
      condition     = !(var.create_kms_key && var.kms_key_arn != null)
      error_message = "Set create_kms_key = true (this module creates the key) or kms_key_arn (your own key), not both."
    }
  }
}

# --- where failed stream batches go ---------------------------------------------------------

resource "aws_sqs_queue" "reconciler_failures" {
  name                      = "${var.name}-reconciler-failures"
  message_retention_seconds = 1209600 # 14 days, the maximum
  tags                      = local.tags

  # The customer managed key when there is one, else SSE-SQS (SQS-owned keys, free). null, not
  # false, beside a key: the provider refuses both arguments set.
  kms_master_key_id       = one(local.kms_key_arns)
  sqs_managed_sse_enabled = length(local.kms_key_arns) > 0 ? null : true
}
