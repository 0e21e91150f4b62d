# The snooze controller: record table, wake and reconciler Lambdas, HTTP API, triggers, alarms.
# One customer-managed KMS key encrypts the table, the on-failure queue, the log groups and the
# Lambda environment.

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

  # The customer managed keys that encrypt the record table: every role that reads or writes
  # the table may use them through DynamoDB (lambda.tf, and the `table_kms_key_arn` output for
  # the agent's and the ops workflow's roles). Empty when the table uses an AWS owned key.
  table_kms_key_arns = [aws_kms_key.snooze.arn]
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

resource "aws_kms_key" "snooze" {
  description             = "snooze ${var.name}: record table, on-failure queue, logs, Lambda environment"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = local.kms_key_policy
  tags                    = local.tags
}

resource "aws_kms_alias" "snooze" {
  name          = "alias/${var.name}"
  target_key_id = aws_kms_key.snooze.key_id
}

# --- the record table -----------------------------------------------------------------------

resource "aws_dynamodb_table" "records" {
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

  server_side_encryption {
    enabled     = true
    kms_key_arn = one(local.table_kms_key_arns)
  }

  stream_enabled   = true
  stream_view_type = "NEW_AND_OLD_IMAGES"

  tags = local.tags
}

# --- where failed stream batches go ---------------------------------------------------------

resource "aws_sqs_queue" "reconciler_failures" {
  name                      = "${var.name}-reconciler-failures"
  message_retention_seconds = 1209600 # 14 days, the maximum
  kms_master_key_id         = aws_kms_key.snooze.arn
  tags                      = local.tags
}
